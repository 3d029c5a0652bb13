"""A run directory: report.json, model.keras (float), model.tflite (int8) and the C sources, read and written
whole. `fit` writes one, `compress` reads one and writes another, `check` and `export` read them."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.errors import UserError
from tinyml_kit.train.data import Split

Log = Callable[[str], None]


def read_report(run_dir: Path) -> dict:
    report_path = Path(run_dir) / "report.json"
    if not report_path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no report.json): pass a run directory or a .tflite")
    try:
        return json.loads(report_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{report_path} is not valid JSON: re-run fit, or check the .tflite directly") from None


def run_split(report: dict, input_shape: tuple[int, int, int], log: Log = print) -> Split:
    """The run's own train / validation split, re-made from its data source, fraction and seed."""
    from tinyml_kit.train.data import load_dataset, split

    d = report["data"]
    dataset = load_dataset(d["source"], tuple(input_shape))
    if dataset.fingerprint() != d.get("fingerprint"):
        log(f"WARNING: {d['source']} changed since the run was trained: its validation split differs")
    return split(dataset, val_fraction=d["val_fraction"], seed=d["seed"])


def load_keras_model(path: Path):
    from tinyml_kit._tf import keras
    from tinyml_kit.build import layers  # noqa: F401  (registers custom layers for deserialization)

    return keras().models.load_model(path)


def write_run(tmp: Path, model, flatbuffer: bytes, class_names: list[str], checked: dict, report: dict) -> None:
    """Write every file of a run into the staging directory `tmp`."""
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.c_sources import write_c_sources

    model.save(tmp / "model.keras")
    (tmp / "model.tflite").write_bytes(flatbuffer)
    write_c_sources(flatbuffer, read_model(flatbuffer), tmp, class_names, checked["arena_bytes"],
                    checked["arena_alloc_bytes"], source="model.tflite")
    (tmp / "report.json").write_text(json.dumps(report, indent=2))


@dataclass
class Target:
    """What `check`, `validate` and `report` work on: an int8 model, its data and, for a run, its float model."""
    flatbuffer: bytes
    info: object                 # tflite_info.ModelInfo
    name: str
    val: object | None           # data.Dataset, or None when no data was given for a bare .tflite
    keras_model: object | None = None


def load_target(target: str | Path, data: str | None = None, log: Log = print, strict_shape: bool = False) -> Target:
    """A run directory (validated on its own split unless `data` is given) or a bare .tflite (on `data`, if any).
    `strict_shape` refuses an .npz whose images are not the model's input size instead of resizing them."""
    from tinyml_kit.core.tflite_info import read_model_file, require_int8
    from tinyml_kit.train.data import load_dataset

    target = Path(target)
    if target.is_dir():
        report = read_report(target)
        flatbuffer, info = read_model_file(target / "model.tflite")
        name = str(target / "model.tflite")
    elif not target.exists():
        raise UserError(f"{target} not found: pass a run directory or a .tflite file")
    else:
        report, (flatbuffer, info), name = None, read_model_file(target), str(target)
    require_int8(info, name)
    shape = tuple(info.inputs[0].shape[1:])
    if data is not None:
        strict = strict_shape and str(data).lower().endswith(".npz")
        val = load_dataset(data, None if strict else shape)     # an .npz keeps its own size when not resized
        if strict and tuple(val.input_shape) != shape:
            raise UserError(f"{data} holds {'x'.join(map(str, val.input_shape))} images but the model takes "
                            f"{'x'.join(map(str, shape))}: pass data of the model's input size")
        if report is not None and val.class_names != report["data"]["classes"]:
            raise UserError(f"{data} has classes {val.class_names} but the run was trained on "
                            f"{report['data']['classes']}: pass data with the same classes")
    else:
        val = run_split(report, shape, log).val if report is not None else None
    if val is not None and len(val.class_names) > info.outputs[0].shape[-1]:
        raise UserError(f"data has {len(val.class_names)} classes but the model outputs "
                        f"{info.outputs[0].shape[-1]}: pass the data the model was trained for")
    keras_model = None
    if target.is_dir() and (target / "model.keras").is_file():
        keras_model = load_keras_model(target / "model.keras")
    return Target(flatbuffer, info, name, val, keras_model)
