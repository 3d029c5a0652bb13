"""Host-side proof for an int8 model, as `fit`, `compress` and `check` report it: float vs int8 accuracy,
LiteRT vs TFLM outputs, measured arena. The runtimes are run once, by `validate`; this is its summary."""

from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.check.validate import validate_model
from tinyml_kit.core.tflite_info import read_model, require_int8
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.train.data import Dataset

_REPORT_KEYS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "confusion_matrix")


def evaluate(model: bytes, val: Dataset | None, keras_model=None, name: str = "model.tflite",
             seed: int = 0, onnx: bool = False) -> dict:
    """Run `model` on LiteRT (reference kernels) and TFLM over `val`, and `keras_model` (and, with `onnx`, its
    ONNX export) beside them. Without data only the kernels' agreement and the arena can be checked: random
    inputs are used, with a warning, and no accuracy is reported. The full validation is under `validation`."""
    info = read_model(model, name)
    require_int8(info, name)
    v = validate_model(model, info, val, keras_model, name, random_inputs=True, onnx=onnx, seed=seed)
    arena = TflmModel(model).arena()
    result = {
        "model": name,
        "flash_bytes": tflm_flash_bytes(model),
        "tflite_bytes": len(model),
        "arena_bytes": arena.total_bytes,
        "arena_alloc_bytes": arena.alloc_bytes,
        "ops": info.ops,
        "litert_equals_tflm": v["litert_equals_tflm"],
        "litert_tflm_max_abs_diff": v["litert_tflm_max_abs_diff"],
        "images": v["images"],
        "data": v["data"],
        "float_accuracy": None,
        "int8_accuracy": None,
        "agreement": None,
    }
    if val is not None:
        runtimes = v["runtimes"]
        result["int8_accuracy"] = runtimes["litert"]["accuracy"]
        result["int8"] = {k: runtimes["litert"][k] for k in _REPORT_KEYS}
        result["class_names"] = v["class_names"]
        if "keras" in runtimes:
            result["float_accuracy"] = runtimes["keras"]["accuracy"]
            result["float"] = {k: runtimes["keras"][k] for k in _REPORT_KEYS}
            result["agreement"] = next(p["agreement"] for p in v["pairs"] if (p["a"], p["b"]) == ("litert", "keras"))
    result["validation"] = v
    return result
