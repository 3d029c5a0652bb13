"""The same validation inputs through every runtime the model lives in: its float reference (the Keras model, with
its ONNX export on ONNX Runtime, or, for a model that came as a float graph, the float .tflite on LiteRT), and LiteRT
and TFLM (int8, reference kernels). Per runtime: accuracy, macro precision / recall / F1 and the
confusion matrix; per pair of runtimes: STM32Cube.AI's validation metrics on the (dequantized) outputs.

Without real data there is nothing to measure accuracy on: random inputs are used only when asked for, and
every output then says so.
"""

import logging

import numpy as np

from tinyml_kit.check.metrics import classification_report
from tinyml_kit.check.op_difference import op_difference
from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import Validation
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.export.onnx_export import OnnxModel, keras_to_onnx

logger = logging.getLogger(__name__)

RANDOM_IMAGES = 32
# The float side of a validation, one at most: a Keras model, or a float .tflite (a model deployed from a float
# graph: .pt2, .tflite, a SavedModel's signature) run on LiteRT's float reference kernels.
FLOAT_REFERENCES = ("keras", "float_tflite")
# (a, b): a's outputs compared with b's, b taken as the reference
PAIRS = (("tflm", "litert"), ("tflm", "keras"), ("litert", "keras"), ("onnx", "keras"), ("tflm", "float_tflite"),
         ("litert", "float_tflite"))
# how each runtime is named to the user
TITLES = {"keras": "Keras", "onnx": "ONNX Runtime", "litert": "LiteRT", "tflm": "TFLM",
          "float_tflite": "float .tflite (LiteRT)"}


def float_runtime(v: Validation) -> str | None:
    """The runtime that ran the float reference in `v` (None: there was none)."""
    return next((r for r in FLOAT_REFERENCES if r in v.runtimes), None)


def output_metrics(out: np.ndarray, ref: np.ndarray) -> dict:
    """STM32Cube.AI's metrics of `out` against `ref` (both N x classes, float): rmse, mae, l2r (relative L2 of
    the difference, over all outputs), cos (cosine similarity, mean over samples), top-1 agreement."""
    out, ref = out.astype(np.float64), ref.astype(np.float64)
    diff = out - ref
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    cos = np.where(norms > 0, np.sum(out * ref, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    ref_norm = np.linalg.norm(ref)
    return {
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "mae": float(np.mean(np.abs(diff))),
        "l2r": float(np.linalg.norm(diff) / ref_norm) if ref_norm > 0 else 0.0,
        "cos": float(np.mean(cos)),
        "agreement": float(np.mean(out.argmax(1) == ref.argmax(1))),
        "max_abs_diff": float(np.max(np.abs(diff))) if diff.size else 0.0,
    }


def validate_model(flatbuffer: bytes, info, val, reference=None, name: str = "model.tflite",
                   random_inputs: bool = False, onnx: bool = True, seed: int = 0) -> Validation:
    """Run every runtime on the same inputs and compare them; without `val`, random pixels if asked for.
    `reference`: what the int8 model approximates, a Keras model or a float .tflite (its bytes), fed the same
    pixels 0..255 as floats; None: only the int8 runtimes."""
    pixels, labels, class_names = _inputs(info, val, random_inputs, seed, name)
    outputs, raw, skipped, x_q = _run_all(flatbuffer, info, pixels, reference, onnx, name, labels is None)
    runtimes, pairs = _compare(outputs, set(raw), labels, max(len(class_names), info.outputs[0].shape[-1]))
    int8_diff = np.abs(raw["litert"].astype(np.int32) - raw["tflm"].astype(np.int32))
    onnx_pair = next((p for p in pairs if p["a"] == "onnx"), None)
    return Validation(
        model=name, data=None if val is None else val.source, random_inputs=labels is None, images=int(len(pixels)),
        class_names=class_names, runtimes=runtimes, skipped=skipped, pairs=pairs,
        litert_equals_tflm=bool(int8_diff.max() == 0), litert_tflm_max_abs_diff=int(int8_diff.max()),
        onnx_max_abs_diff=onnx_pair["max_abs_diff"] if onnx_pair else None,
        onnx_agreement=onnx_pair["agreement"] if onnx_pair else None,
        litert_tflm_op=op_difference(flatbuffer, x_q) if int8_diff.any() else None)


def _inputs(info, val, random_inputs: bool, seed: int, name: str):
    """(pixels as float, labels or None, class names): the validation data, or random pixels when allowed."""
    outp = info.outputs[0]
    if val is not None:
        return val.x.astype(np.float32), val.y, val.class_names
    if not random_inputs:
        raise UserError(f"no validation data for {name}: give images (digits, an image folder or an .npz), or "
                        f"ask for random inputs to compare the runtimes on random pixels (no accuracy)",
                        "data", "random_inputs")
    logger.warning(f"RANDOM INPUTS, NO ACCURACY IS MEASURED: {RANDOM_IMAGES} random images without labels; the "
                   f"runtimes are only compared with each other")
    return random_pixels(info, seed), None, [f"class{i}" for i in range(outp.shape[-1])]


def random_pixels(info, seed: int = 0) -> np.ndarray:
    """The random images a model without data is compared on (every runtime gets the same ones)."""
    return np.random.default_rng(seed).integers(0, 256, (RANDOM_IMAGES, *info.inputs[0].shape[1:])).astype(
        np.float32)


def _run_all(flatbuffer: bytes, info, pixels, reference, onnx: bool, name: str, random: bool):
    """Each runtime's outputs (int8 ones dequantized), the raw int8 outputs, the runtimes skipped and why, and the
    int8 inputs."""
    inp, outp = info.inputs[0], info.outputs[0]
    if (inp.scale, inp.zero_point) != (1.0, -128):
        logger.warning(f"input quantization is scale {inp.scale}, zero point {inp.zero_point}: feeding pixels "
                       f"0..255 assumes the model rescales them itself, as tinyml-kit models do")
    keras_model = None if reference is None or isinstance(reference, bytes) else reference
    floats = ([] if reference is None else [TITLES["keras" if keras_model is not None else "float_tflite"]]) + (
        [TITLES["onnx"]] if keras_model is not None and onnx else [])
    logger.info(f"validating {name} on {len(pixels)} {'random' if random else 'validation'} images: "
                + ", ".join(["LiteRT", "TFLM", *floats]))
    x_q = inp.quantize(pixels)
    raw = {"litert": LiteRtModel(flatbuffer).predict(x_q), "tflm": TflmModel(flatbuffer).predict(x_q)}
    outputs = {k: (v.astype(np.float32) - outp.zero_point) * outp.scale for k, v in raw.items()}
    skipped = {}
    if reference is None:
        skipped["keras"] = skipped["onnx"] = "no float model (pass a run directory)"
    elif keras_model is None:
        outputs["float_tflite"] = LiteRtModel(reference).predict(pixels)
        skipped["onnx"] = "no Keras model to export (the float reference is a .tflite)"
    else:
        outputs["keras"] = keras_model.predict(pixels, batch_size=256, verbose=0)
        if onnx:
            outputs["onnx"] = OnnxModel(keras_to_onnx(keras_model)).predict(pixels)
        else:
            skipped["onnx"] = "not asked for"
    return outputs, raw, skipped, x_q


def _compare(outputs: dict, int8: set[str], labels, n_classes: int) -> tuple[dict, list[dict]]:
    """Per runtime its classification report (with labels); per pair of runtimes the output metrics."""
    runtimes = {}
    for runtime, out in outputs.items():
        entry = {"kind": "int8" if runtime in int8 else "float32"}
        if labels is not None:
            entry.update(classification_report(labels, out.argmax(1), n_classes))
        runtimes[runtime] = entry
    pairs = []
    for a, b in PAIRS:
        if a in outputs and b in outputs:
            row = {"a": a, "b": b, "cross": runtimes[a]["kind"] != runtimes[b]["kind"],
                   **output_metrics(outputs[a], outputs[b])}
            if labels is not None:
                row["accuracy_a"], row["accuracy_b"] = runtimes[a]["accuracy"], runtimes[b]["accuracy"]
            pairs.append(row)
    return runtimes, pairs
