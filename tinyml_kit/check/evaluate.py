"""Host-side proof for an int8 model, as `fit`, `compress` and `check` report it: float vs int8 accuracy,
LiteRT vs TFLM outputs, measured arena. The runtimes are run once, by `validate`; this is its summary."""

from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.check.validate import float_runtime, validate_model
from tinyml_kit.core.evaluation import Evaluation, Footprint, Metrics
from tinyml_kit.core.tflite_info import read_model, require_int8
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.train.data import Dataset


def evaluate(model: bytes, val: Dataset | None, reference=None, name: str = "model.tflite",
             seed: int = 0, onnx: bool = False) -> Evaluation:
    """Run `model` on LiteRT (reference kernels) and TFLM over `val`, and what it approximates beside them:
    `reference`, a Keras model (and, with `onnx`, its ONNX export) or a float .tflite's bytes run on LiteRT.
    Without data only the kernels' agreement and the arena can be checked: random inputs are used, with a
    warning, and no accuracy is reported. The full validation is under `validation`."""
    info = read_model(model, name)
    require_int8(info, name)
    v = validate_model(model, info, val, reference, name, random_inputs=True, onnx=onnx, seed=seed)
    arena = TflmModel(model).arena()
    side = float_runtime(v)
    int8, float_ = _metrics(v.runtimes.get("litert")), _metrics(v.runtimes.get(side or ""))
    agreement = next(p["agreement"] for p in v.pairs if (p["a"], p["b"]) == ("litert", side)) if float_ else None
    return Evaluation(
        model=name, tflm=Footprint(tflm_flash_bytes(model), arena.total_bytes, arena.alloc_bytes),
        tflite_bytes=len(model), ops=info.ops, validation=v,
        float_accuracy=float_.accuracy if float_ else None, int8_accuracy=int8.accuracy if int8 else None,
        agreement=agreement, int8_metrics=int8, float_metrics=float_,
        class_names=v.class_names if val is not None else None)


def _metrics(runtime: dict | None) -> Metrics | None:
    """A runtime's scores from the validation (None: not run, or no labels to score it by)."""
    return Metrics.from_dict(runtime) if runtime and "accuracy" in runtime else None
