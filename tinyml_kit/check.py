"""Host-side proof for an int8 model: float vs int8 accuracy, LiteRT vs TFLM outputs, measured arena."""

from collections.abc import Callable

import numpy as np

from .data import Dataset
from .litert import LiteRtModel
from .metrics import classification_report
from .tflite_info import read_model, require_int8
from .tflm import TflmModel


def evaluate(model: bytes, val: Dataset | None, keras_model=None, name: str = "model.tflite",
             log: Callable[[str], None] = print, random_images: int = 8, seed: int = 0) -> dict:
    """Run `model` on LiteRT (reference kernels) and TFLM over `val`.

    Without data only the kernels' agreement and the arena can be checked: random inputs are used, with a
    warning, and no accuracy is reported.
    """
    info = read_model(model, name)
    require_int8(info, name)
    inp = info.inputs[0]
    if val is None:
        log(f"WARNING: no --data given: comparing LiteRT and TFLM on {random_images} RANDOM inputs; "
            f"no accuracy is measured")
        rng = np.random.default_rng(seed)
        x_q = rng.integers(-128, 128, size=(random_images, *inp.shape[1:]), dtype=np.int8)
    else:
        if (inp.scale, inp.zero_point) != (1.0, -128):
            log(f"WARNING: input quantization is scale {inp.scale}, zero point {inp.zero_point}: feeding raw pixels "
                f"0..255 assumes the model rescales them itself, as tinyml-kit models do")
        x_q = inp.quantize(val.x.astype(np.float32))
    log(f"running {len(x_q)} images on LiteRT (reference kernels) and TFLM ...")
    litert_out = LiteRtModel(model).predict(x_q)
    tflm = TflmModel(model)
    tflm_out = tflm.predict(x_q)
    arena = tflm.arena()
    diff = np.abs(litert_out.astype(np.int32) - tflm_out.astype(np.int32))
    result = {
        "model": name,
        "flash_bytes": len(model),
        "arena_bytes": arena.total_bytes,
        "arena_alloc_bytes": arena.alloc_bytes,
        "ops": info.ops,
        "litert_equals_tflm": bool(diff.max() == 0),
        "litert_tflm_max_abs_diff": int(diff.max()),
        "images": int(len(x_q)),
        "data": None if val is None else val.source,
        "float_accuracy": None,
        "int8_accuracy": None,
        "agreement": None,
    }
    if val is None:
        return result
    n_classes = max(len(val.class_names), litert_out.shape[1])
    int8_pred = litert_out.argmax(1)
    int8_report = classification_report(val.y, int8_pred, n_classes)
    result["int8_accuracy"] = int8_report["accuracy"]
    result["int8"] = int8_report
    result["class_names"] = val.class_names
    if keras_model is not None:
        float_pred = keras_model.predict(val.x.astype(np.float32), batch_size=256, verbose=0).argmax(1)
        float_report = classification_report(val.y, float_pred, n_classes)
        result["float_accuracy"] = float_report["accuracy"]
        result["float"] = float_report
        result["agreement"] = float(np.mean(float_pred == int8_pred))
    return result
