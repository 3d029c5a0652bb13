"""The Python API behind `inspect`, `check` and `export` (`fit` lives in `fit`, `boards` in `boards`)."""

import json
from collections.abc import Callable
from pathlib import Path

from .errors import UserError

Log = Callable[[str], None]


def inspect_arch(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs) -> dict:
    """Parameters, MACs (with a per-kind breakdown) and the TFLite ops of a freshly built model."""
    from .builders import build
    from .costs import model_costs

    model = build(arch, input_shape, classes, **knobs)
    costs = model_costs(model)
    result = {"arch": arch, "name": model.name, "input_shape": list(input_shape), "classes": classes,
              **costs.to_dict()}
    if arch == "phinet":
        result.update(_phinet_estimates(input_shape, classes, **knobs))
    return result


def _phinet_estimates(input_shape, classes: int, **knobs) -> dict:
    """Conversion-free .tflite size and TFLM arena (see `estimate`), for the builder's defaults where unset."""
    import inspect as pyinspect

    from .builders.phinet import phinet
    from .estimate import estimate_phinet
    from .tflm import arena_with_headroom

    defaults = {k: p.default for k, p in pyinspect.signature(phinet).parameters.items()}
    values = {k: defaults[k] if knobs.get(k) is None else knobs[k]
              for k in ("alpha", "beta", "t0", "depth", "divisor")}
    e = estimate_phinet(input_shape=input_shape, classes=classes, **values)
    return {"flash_bytes_est": e.flash_bytes_est, "arena_bytes_est": e.arena_bytes_est,
            "arena_alloc_bytes_est": arena_with_headroom(e.arena_bytes_est)}


def inspect_tflite(path: str | Path) -> dict:
    """File size, TFLM-measured arena, ops and I/O of an int8 .tflite."""
    from .tflite_info import read_model_file, require_int8
    from .tflm import measure_arena

    data, info = read_model_file(path)
    require_int8(info, str(path))
    arena = measure_arena(data)
    return {"model": str(path), "flash_bytes": info.size_bytes, "arena_bytes": arena.total_bytes,
            "arena_alloc_bytes": arena.alloc_bytes, "ops": info.ops, "op_count": info.op_count,
            "inputs": [vars(t) for t in info.inputs], "outputs": [vars(t) for t in info.outputs]}


def _run_report(run_dir: Path) -> dict:
    report_path = run_dir / "report.json"
    if not report_path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no report.json): pass a run directory or a .tflite")
    try:
        return json.loads(report_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{report_path} is not valid JSON: re-run fit, or check the .tflite directly") from None


def check_target(target: str | Path, data: str | None = None, log: Log = print) -> dict:
    """Evaluate a run directory (on its own validation split unless `data` is given) or a .tflite."""
    from .check import evaluate
    from .data import load_dataset, split
    from .tflite_info import read_model_file, require_int8

    target = Path(target)
    keras_model = None
    if target.is_dir():
        report = _run_report(target)
        flatbuffer, info = read_model_file(target / "model.tflite")
        require_int8(info, str(target / "model.tflite"))
        shape = tuple(info.inputs[0].shape[1:])
        if data is None:
            d = report["data"]
            dataset = load_dataset(d["source"], shape)
            if dataset.fingerprint() != d.get("fingerprint"):
                log(f"WARNING: {d['source']} changed since the run was trained: its validation split differs")
            val = split(dataset, val_fraction=d["val_fraction"], seed=d["seed"]).val
        else:
            val = load_dataset(data, shape)
            if val.class_names != report["data"]["classes"]:
                raise UserError(f"{data} has classes {val.class_names} but the run was trained on "
                                f"{report['data']['classes']}: pass data with the same classes")
        keras_path = target / "model.keras"
        if keras_path.is_file():
            keras_model = load_keras_model(keras_path)
        name = str(target / "model.tflite")
    else:
        if not target.exists():
            raise UserError(f"{target} not found: pass a run directory or a .tflite file")
        flatbuffer, info = read_model_file(target)
        require_int8(info, str(target))
        val = load_dataset(data, tuple(info.inputs[0].shape[1:])) if data else None
        name = str(target)
    if val is not None and len(val.class_names) > info.outputs[0].shape[-1]:
        raise UserError(f"data has {len(val.class_names)} classes but the model outputs "
                        f"{info.outputs[0].shape[-1]}: pass the data the model was trained for")
    return evaluate(flatbuffer, val, keras_model=keras_model, name=name, log=log)


def load_keras_model(path: Path):
    from ._tf import keras
    from .builders import layers  # noqa: F401  (registers custom layers for deserialization)

    return keras().models.load_model(path)


def export_model(model: str | Path, out: Path, labels: list[str] | None = None, name: str = "model",
                 log: Log = print) -> list[Path]:
    """C sources for `model` into `out`; the arena size comes from a TFLM measurement of this model."""
    from .export import write_c_sources
    from .staging import staged_output
    from .tflite_info import read_model_file, require_int8
    from .tflm import measure_arena

    model = Path(model)
    data, info = read_model_file(model)
    require_int8(info, str(model))
    if labels is None:
        report = model.parent / "report.json"
        classes = info.outputs[0].shape[-1]
        labels = _run_report(model.parent)["data"]["classes"] if report.is_file() else \
            [f"class{i}" for i in range(classes)]
    arena = measure_arena(data)
    log(f"{model}: {len(data):,} bytes, arena {arena.total_bytes:,} B measured on TFLM, "
        f"{arena.alloc_bytes:,} B with headroom")
    with staged_output(out, allow_existing=True) as tmp:
        written = write_c_sources(data, info, tmp, labels, arena.total_bytes, arena.alloc_bytes, name=name,
                                  source=str(model))
    return [Path(out).absolute() / p.name for p in written]
