"""Compression stages after training: prune (structured or magnitude), then int8 by PTQ or QAT, optionally
distilling from a teacher at every training step. Each stage logs and returns its own numbers.

Used by `fit` (on the model it just trained) and by `compress` (on a run directory's model).
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.train.data import Dataset, Split

Log = Callable[[str], None]
PRUNE_METHODS = ("none", "magnitude", "structured")
QUANT_METHODS = ("ptq", "qat")
# Fine-tuning a trained model (after pruning, for QAT, for distilling an existing run): a third of training's
# starting rate. For QAT on the benchmark PhiNet (bench/compression.py, 8 epochs), int8 accuracy was 64.8 / 64.4 /
# 66.8 % at 1e-4 / 3e-4 / 1e-3: lower rates left the fake-quantized model too close to where PTQ puts it.
FINETUNE_LEARNING_RATE = 1e-3


@dataclass
class CompressOptions:
    prune: str = "none"
    sparsity: float = 0.5             # structured: fraction of channels removed; magnitude: of weights zeroed
    criterion: str = "bn"             # structured only: batch-norm |gamma| or filter L1 norm
    quant: str = "ptq"
    teacher: str | None = None        # a run directory, a .keras file, or "auto"
    temperature: float = 4.0
    alpha_kd: float = 0.5
    finetune_epochs: int = 10

    def validate(self) -> None:
        if self.prune not in PRUNE_METHODS:
            raise UserError(f"unknown --prune '{self.prune}': choose one of {', '.join(PRUNE_METHODS)}")
        if self.quant not in QUANT_METHODS:
            raise UserError(f"unknown --quant '{self.quant}': choose one of {', '.join(QUANT_METHODS)}")
        if self.prune != "none" and not 0 < self.sparsity < 1:
            raise UserError(f"--sparsity {self.sparsity} is not a fraction in (0, 1): e.g. 0.5")
        if self.teacher not in (None, "auto") and not Path(self.teacher).exists():
            raise UserError(f"teacher '{self.teacher}' not found: pass a run directory, a .keras file or 'auto'")
        if self.finetune_epochs < 1:
            raise UserError(f"--finetune-epochs must be at least 1 (got {self.finetune_epochs})")

    @property
    def trains(self) -> bool:
        return self.prune != "none" or self.quant == "qat"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Compressed:
    model: object                     # the float Keras model the int8 one comes from (after pruning, before QAT)
    flatbuffer: bytes
    stages: list[dict] = field(default_factory=list)


def float_accuracy(model, val: Dataset) -> float:
    return float(np.mean(model.predict(val.x.astype(np.float32), batch_size=256, verbose=0).argmax(1) == val.y))


def stage_numbers(name: str, model, val: Dataset, **extra) -> dict:
    from tinyml_kit.build.costs import model_costs

    costs = model_costs(model)
    return {"stage": name, "params": costs.params, "macs": costs.macs,
            "float_accuracy": round(float_accuracy(model, val), 4), **extra}


def resolve_teacher(options: CompressOptions, student, parts: Split, epochs: int, batch_size: int, seed: int,
                    log: Log) -> tuple[object | None, dict | None]:
    """The teacher model and what to report about it; "auto" trains a PhiNet 10-20x the student's size."""
    if not options.teacher:
        return None, None
    from tinyml_kit.build.costs import model_costs
    from tinyml_kit.train.distill import auto_teacher_knobs, load_teacher

    shape, classes = parts.train.input_shape, len(parts.train.class_names)
    student_params = model_costs(student).params
    if options.teacher == "auto":
        from tinyml_kit._tf import keras
        from tinyml_kit.build import build
        from tinyml_kit.train.trainer import train

        knobs = auto_teacher_knobs(student_params, shape, classes)
        keras().utils.set_random_seed(seed)
        teacher = build("phinet", shape, classes, **knobs)
        log(f"training teacher PhiNet({', '.join(f'{k}={v:g}' for k, v in knobs.items())}): "
            f"{model_costs(teacher).params:,} params, {epochs} epochs ...")
        train(teacher, parts, epochs=epochs, batch_size=batch_size, seed=seed, log=log)
        source = {"source": "auto", "arch": "phinet", "knobs": knobs}
    else:
        teacher = load_teacher(options.teacher, shape, classes)
        source = {"source": str(options.teacher)}
    info = stage_numbers("teacher", teacher, parts.val, **source)
    info["size_ratio"] = round(info["params"] / max(1, student_params), 2)
    log(f"teacher: {info['params']:,} params ({info['size_ratio']:g}x the student), validation accuracy "
        f"{info['float_accuracy']:.4f}")
    if info["size_ratio"] < 1:
        log("WARNING: the teacher is smaller than the student; distillation is unlikely to help")
    return teacher, info


def compress(model, parts: Split, calibration: np.ndarray, options: CompressOptions, teacher=None,
             batch_size: int = 32, seed: int = 0, log: Log = print, distil_first: bool = False) -> Compressed:
    """Prune and quantize a trained float `model` (not modified); returns the int8 flatbuffer and stage numbers.
    `distil_first` fine-tunes a copy against `teacher` before anything else: for a model trained without it
    (`fit` trains with the teacher from the start, and pruning and QAT fine-tune with it anyway)."""
    from tinyml_kit.compress.quantize import quantize_int8
    from tinyml_kit.train.trainer import train

    options.validate()
    kd = {"teacher": teacher, "temperature": options.temperature, "alpha_kd": options.alpha_kd}
    tune = {"epochs": options.finetune_epochs, "batch_size": batch_size, "seed": seed, "log": log, **kd}
    stages = [stage_numbers("trained", model, parts.val)]
    if distil_first and teacher is not None:
        from tinyml_kit._tf import keras

        student = keras().models.clone_model(model)
        student.set_weights(model.get_weights())
        log(f"distilling from the teacher, {options.finetune_epochs} epochs ...")
        train(student, parts, learning_rate=FINETUNE_LEARNING_RATE, **tune)
        model = student
        stages.append(stage_numbers("distill", model, parts.val, temperature=options.temperature,
                                    alpha_kd=options.alpha_kd))
    if options.prune == "structured":
        from tinyml_kit.compress.prune_channels import prune_channels

        result = prune_channels(model, options.sparsity, options.criterion)
        model = result.model
        log(f"structured pruning: {result.channels_before:,} -> {result.channels_after:,} channels "
            f"({100 * result.removed_fraction:.0f} % removed, {options.criterion} criterion); fine-tuning "
            f"{options.finetune_epochs} epochs ...")
        before_tune = float_accuracy(model, parts.val)
        train(model, parts, learning_rate=FINETUNE_LEARNING_RATE, **tune)
        summary = {k: v for k, v in result.summary().items() if k != "groups"}
        stages.append(stage_numbers("structured_prune", model, parts.val, accuracy_before_finetune=round(
            before_tune, 4), **summary))
    elif options.prune == "magnitude":
        from tinyml_kit.compress.prune_weights import magnitude_pruned, pruning_callbacks, strip, weight_sparsity

        log(f"magnitude pruning to {100 * options.sparsity:.0f} % zero weights; fine-tuning "
            f"{options.finetune_epochs} epochs ...")
        wrapped = magnitude_pruned(model, options.sparsity, -(-len(parts.train.x) // batch_size))
        train(wrapped, parts, learning_rate=FINETUNE_LEARNING_RATE, callbacks=tuple(pruning_callbacks()), **tune)
        model = strip(wrapped)
        stages.append(stage_numbers("magnitude_prune", model, parts.val, method="magnitude",
                                    target_sparsity=options.sparsity,
                                    weight_sparsity=round(weight_sparsity(model), 4)))
    for s in stages[1:]:
        log(f"  after {s['stage']}: {s['params']:,} params, {s['macs']:,} MACs, float accuracy "
            f"{s['float_accuracy']:.4f}")
    if options.quant == "qat":
        from tinyml_kit.compress.qat import pin_input_range, quantize_aware

        qat = quantize_aware(model)
        log(f"quantization-aware training, {options.finetune_epochs} epochs ...")
        trained = train(qat, parts, learning_rate=FINETUNE_LEARNING_RATE, **tune)
        pin_input_range(qat)
        flatbuffer = quantize_int8(qat, calibration)
        stages.append({"stage": "qat", "fake_quant_accuracy": round(trained.val_accuracy, 4),
                       "epochs_run": trained.epochs_run})
    else:
        flatbuffer = quantize_int8(model, calibration)
    int8 = {"stage": "int8", "method": options.quant, "flash_bytes": len(flatbuffer)}
    if options.prune == "magnitude":
        from tinyml_kit.compress.prune_weights import gzip_bytes
        from tinyml_kit.core.tflite_info import int8_weight_sparsity

        int8["int8_weight_sparsity"] = round(int8_weight_sparsity(flatbuffer), 4)
        int8["gzip_bytes"] = gzip_bytes(flatbuffer)
        int8["note"] = ("zeroed weights still take one byte each in the .tflite and in flash; gzip_bytes bounds what "
                        "a firmware storing weights compressed could save")
    stages.append(int8)
    return Compressed(model, flatbuffer, stages)
