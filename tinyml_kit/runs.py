"""A run directory: report.json, model.keras (float), model.tflite (int8) and the C sources, read and written
whole. `fit` writes one, `compress` reads one and writes another, `check` and `export` read them."""

import json
from collections.abc import Callable
from pathlib import Path

from .data import Split
from .errors import UserError

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
    from .data import load_dataset, split

    d = report["data"]
    dataset = load_dataset(d["source"], tuple(input_shape))
    if dataset.fingerprint() != d.get("fingerprint"):
        log(f"WARNING: {d['source']} changed since the run was trained: its validation split differs")
    return split(dataset, val_fraction=d["val_fraction"], seed=d["seed"])


def load_keras_model(path: Path):
    from ._tf import keras
    from .builders import layers  # noqa: F401  (registers custom layers for deserialization)

    return keras().models.load_model(path)


def write_run(tmp: Path, model, flatbuffer: bytes, class_names: list[str], checked: dict, report: dict) -> None:
    """Write every file of a run into the staging directory `tmp`."""
    from .export import write_c_sources
    from .tflite_info import read_model

    model.save(tmp / "model.keras")
    (tmp / "model.tflite").write_bytes(flatbuffer)
    write_c_sources(flatbuffer, read_model(flatbuffer), tmp, class_names, checked["arena_bytes"],
                    checked["arena_alloc_bytes"], source="model.tflite")
    (tmp / "report.json").write_text(json.dumps(report, indent=2))
