"""Compression stages after training: prune (structured or magnitude), then int8 by PTQ or QAT, optionally
distilling from a teacher at every training step. Each stage logs and returns its own numbers, and the
history of its fine-tuning epochs.

Used by `fit` (on the model it just trained) and by `compress` (on a run directory's model).
"""

import logging
from dataclasses import dataclass, field

import numpy as np

from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.prune_channels import prune_channels
from tinyml_kit.compress.prune_weights import gzip_bytes, magnitude_pruned, pruning_callbacks, strip, weight_sparsity
from tinyml_kit.compress.qat import pin_input_range, quantize_aware, require_quantizable
from tinyml_kit.compress.quantize import quantize_int8
from tinyml_kit.core.tflite_info import int8_weight_sparsity
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.nets import copy_model
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.train.data import Dataset, Split
from tinyml_kit.train.trainer import train

logger = logging.getLogger(__name__)

# Fine-tuning a trained model (after pruning, for QAT, for distilling an existing run): a third of training's
# starting rate. For QAT on the benchmark PhiNet (bench/compression.py, 8 epochs), int8 accuracy was 64.8 / 64.4 /
# 66.8 % at 1e-4 / 3e-4 / 1e-3: lower rates left the fake-quantized model too close to where PTQ puts it.
FINETUNE_LEARNING_RATE = 1e-3


# What the int8 model is compared with, as the report names it (`Evaluation.float_model`): the float Keras model,
# the fake-quantized one after QAT, or the float .tflite of a model deployed from a float graph (.pt2, .tflite, a
# SavedModel's signature), run on LiteRT.
FLOAT, FAKE_QUANT, FLOAT_TFLITE = "float", "fake-quant (QAT)", "float .tflite"


@dataclass
class Compressed:
    model: object                     # the float Keras model the int8 one comes from (after pruning, before QAT)
    flatbuffer: bytes
    stages: list[dict] = field(default_factory=list)
    reference: object = None          # what the int8 model approximates: `model`, the QAT model after QAT, or the
                                      # float .tflite's bytes; None: nothing (an int8 .tflite deployed as it is)

    @property
    def reference_kind(self) -> str | None:
        if self.reference is None:
            return None
        if isinstance(self.reference, bytes):
            return FLOAT_TFLITE
        return FLOAT if self.reference is self.model else FAKE_QUANT


def reference_words(kind: str | None) -> str:
    """The words a one-line summary names a reference kind by (`float` for a record from before it was kept)."""
    return "fake-quant" if kind == FAKE_QUANT else kind or FLOAT


def float_accuracy(model, val: Dataset) -> float:
    return float(np.mean(model.predict(val.x.astype(np.float32), batch_size=256, verbose=0).argmax(1) == val.y))


def stage_numbers(name: str, model, val: Dataset, **extra) -> dict:
    costs = model_costs(model)
    return {"stage": name, "params": costs.params, "macs": costs.macs,
            "float_accuracy": round(float_accuracy(model, val), 4), **extra}


def compress(model, parts: Split, calibration: np.ndarray, options: CompressOptions, teacher=None,
             batch_size: int = 32, seed: int = 0, distil_first: bool = False,
             class_weight: dict | None = None) -> Compressed:
    """Prune and quantize a trained float `model` (not modified); returns the int8 flatbuffer and stage numbers.
    `distil_first` fine-tunes a copy against `teacher` before anything else: for a model trained without it
    (`fit` trains with the teacher from the start, and pruning and QAT fine-tune with it anyway). `class_weight`:
    training's, so fine-tuning weighs classes as training did."""
    options.validate()
    if options.quant == "qat":
        require_quantizable(model)
    tune = {"epochs": options.finetune_epochs, "batch_size": batch_size, "seed": seed, "teacher": teacher,
            "temperature": options.temperature, "alpha_kd": options.alpha_kd,
            "learning_rate": FINETUNE_LEARNING_RATE, "class_weight": class_weight, "hint": options.distill}
    stages = [stage_numbers("trained", model, parts.val)]
    if distil_first and teacher is not None:
        model = _distil(model, parts, options, tune, stages)
    if options.prune == "structured":
        model = _prune_structured(model, parts, options, tune, stages)
    elif options.prune == "magnitude":
        model = _prune_magnitude(model, parts, options, tune, stages, batch_size)
    for s in stages[1:]:
        logger.info(f"  after {s['stage']}: {s['params']:,} params, {s['macs']:,} MACs, float accuracy "
                    f"{s['float_accuracy']:.4f}")
    reference = _quantization_aware(model, parts, options, tune, stages) if options.quant == "qat" else model
    return Compressed(model, _int8(reference, calibration, options, stages), stages, reference)


def _distil(model, parts: Split, options: CompressOptions, tune: dict, stages: list[dict]):
    student = copy_model(model)
    logger.info(f"distilling from the teacher, {options.finetune_epochs} epochs ...")
    trained = train(student, parts, **tune)
    stages.append(stage_numbers("distill", student, parts.val, temperature=options.temperature,
                                alpha_kd=options.alpha_kd, history=trained.history))
    return student


def _prune_structured(model, parts: Split, options: CompressOptions, tune: dict, stages: list[dict]):
    result = prune_channels(model, options.sparsity, options.criterion)
    logger.info(f"structured pruning: {result.channels_before:,} -> {result.channels_after:,} channels "
                f"({100 * result.removed_fraction:.0f} % removed, {options.criterion} criterion); fine-tuning "
                f"{options.finetune_epochs} epochs ...")
    before_tune = float_accuracy(result.model, parts.val)
    trained = train(result.model, parts, **tune)
    summary = {k: v for k, v in result.summary().items() if k != "groups"}
    stages.append(stage_numbers("structured_prune", result.model, parts.val, accuracy_before_finetune=round(
        before_tune, 4), **summary, history=trained.history))
    return result.model


def _prune_magnitude(model, parts: Split, options: CompressOptions, tune: dict, stages: list[dict],
                     batch_size: int):
    logger.info(f"magnitude pruning to {100 * options.sparsity:.0f} % zero weights; fine-tuning "
                f"{options.finetune_epochs} epochs ...")
    wrapped = magnitude_pruned(model, options.sparsity, -(-len(parts.train.x) // batch_size))
    trained = train(wrapped, parts, callbacks=tuple(pruning_callbacks()), **tune)
    model = strip(wrapped)
    stages.append(stage_numbers("magnitude_prune", model, parts.val, method="magnitude",
                                target_sparsity=options.sparsity, weight_sparsity=round(weight_sparsity(model), 4),
                                history=trained.history))
    return model


def _quantization_aware(model, parts: Split, options: CompressOptions, tune: dict, stages: list[dict]):
    """The fake-quantized model after QAT; the int8 model is converted from it, so it is what the int8 model
    is compared with."""
    qat = quantize_aware(model)
    logger.info(f"quantization-aware training, {options.finetune_epochs} epochs ...")
    trained = train(qat, parts, **tune)
    pin_input_range(qat)
    stages.append({"stage": "qat", "fake_quant_accuracy": round(trained.val_accuracy, 4),
                   "epochs_run": trained.epochs_run, "history": trained.history})
    return qat


def _int8(model, calibration: np.ndarray, options: CompressOptions, stages: list[dict]) -> bytes:
    flatbuffer = quantize_int8(model, calibration)
    int8 = {"stage": "int8", "method": options.quant, "flash_bytes": tflm_flash_bytes(flatbuffer),
            "tflite_bytes": len(flatbuffer)}
    if options.prune == "magnitude":
        int8["int8_weight_sparsity"] = round(int8_weight_sparsity(flatbuffer), 4)
        int8["gzip_bytes"] = gzip_bytes(flatbuffer)
        int8["note"] = ("zeroed weights still take one byte each in the .tflite and in flash; gzip_bytes bounds what "
                        "a firmware storing weights compressed could save")
    stages.append(int8)
    return flatbuffer
