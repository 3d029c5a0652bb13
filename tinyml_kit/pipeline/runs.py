"""A run directory: report.json (the `RunRecord`), model.keras (float), model.tflite (int8), the C sources and
report.html, read and written whole. `fit` writes one, `compress` reads one and writes another, `report` rewrites
its page; every command that takes "a run directory or a .tflite" resolves it here."""

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.artifacts import staged_output
from tinyml_kit.core.cores import kernel_family
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import Validation
from tinyml_kit.core.record_sections import Timings
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.tflite_info import ModelInfo, read_model, read_model_file, require_int8
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.nets import load_keras_model
from tinyml_kit.pipeline.report import REPORT_FILE, write_report
from tinyml_kit.solve.engines import get_engine
from tinyml_kit.train.data import Dataset, Split, load_dataset, split

logger = logging.getLogger(__name__)

FLOAT_TFLITE_FILE = "model_float.tflite"   # the float side of a run deployed from a float graph without Keras


def run_split(record: RunRecord, input_shape: tuple[int, int, int] | None = None) -> Split:
    """The run's own train / validation split, re-made from its data source, fraction and seed."""
    d = record.data
    dataset = load_dataset(d.source, tuple(input_shape or d.input_shape))
    if dataset.fingerprint() != d.fingerprint:
        logger.warning(f"{d.source} changed since the run was trained: its validation split differs")
    return split(dataset, val_fraction=d.val_fraction, seed=d.seed)


@contextmanager
def timed(timings: Timings, step: str) -> Iterator[None]:
    """Add the block's wall time, in seconds, to the run's time of `step` (e.g. "train_s")."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings.add(step, time.perf_counter() - start)


def write_run(out: Path, record: RunRecord, model, flatbuffer: bytes, parts: Split, validation: Validation,
              started: float) -> RunRecord:
    """Write every file of a run, report.html included, into `out`, all or nothing; returns the record as
    written (with its directory, the report's numbers and the total time). `model`: the float side, a Keras model
    (model.keras) or a float .tflite's bytes (model_float.tflite), or None. The model's sources are its engine's
    (TFLM's model data, or the C engine's generated model)."""
    with staged_output(out) as tmp:
        record.run_dir = str(out)
        with timed(record.timings, "report_s"):
            record.report = write_report(tmp, record, model, flatbuffer, parts, validation)
        record.timings.total_s = round(time.perf_counter() - started, 2)
        if isinstance(model, bytes):   # a run deployed from a float graph without a Keras model
            (tmp / FLOAT_TFLITE_FILE).write_bytes(model)
        elif model is not None:   # None: a run deployed from an int8 .tflite, which has no float model
            model.save(tmp / "model.keras")
        (tmp / "model.tflite").write_bytes(flatbuffer)
        ModelSource(flatbuffer, read_model(flatbuffer), record.data.classes, record.arena_bytes,
                    record.arena_alloc_bytes, engine=get_engine(record.engine),
                    family=kernel_family(record.board.core)).write_model(tmp)
        record.write(tmp)
    return record


@dataclass
class ModelFile:
    """An int8 model as a command found it: in a run directory (with its record) or as a bare .tflite."""
    flatbuffer: bytes
    info: ModelInfo
    name: str
    record: RunRecord | None
    run_dir: Path | None


def run_model(run_dir: str | Path, or_tflite: bool = False) -> ModelFile:
    """A run directory's int8 model with its record. `or_tflite`: the command also takes a bare .tflite, and
    the error for a directory that is not a run says so."""
    run_dir = Path(run_dir)
    record = RunRecord.read(run_dir, or_tflite)
    flatbuffer, info = read_model_file(run_dir / "model.tflite")
    require_int8(info, str(run_dir / "model.tflite"))
    return ModelFile(flatbuffer, info, str(run_dir / "model.tflite"), record, run_dir)


def resolve_model(target: str | Path) -> ModelFile:
    """A run directory's model.tflite (and its record), or a bare int8 .tflite."""
    target = Path(target)
    if target.is_dir():
        return run_model(target, or_tflite=True)
    if not target.exists():
        raise UserError(f"{target} not found: pass a run directory or a .tflite file")
    flatbuffer, info = read_model_file(target)
    require_int8(info, str(target))
    return ModelFile(flatbuffer, info, str(target), None, None)


@dataclass
class Target:
    """What `check` and `validate` work on: an int8 model, its data and, for a run, its float side."""
    model: ModelFile
    val: Dataset | None          # None when no data was given for a bare .tflite
    reference: object | None = None   # `run_reference`'s


def load_target(target: str | Path, data: str | None = None, strict_shape: bool = False) -> Target:
    """A run directory (validated on its own split unless `data` is given) or a bare .tflite (on `data`, if any).
    `strict_shape` refuses an .npz whose images are not the model's input size instead of resizing them."""
    m = resolve_model(target)
    shape = tuple(m.info.inputs[0].shape[1:])
    if data is not None:
        val = _load_data(data, shape, strict_shape, m.record)
    else:
        val = run_split(m.record, shape).val if m.record is not None else None
    outputs = m.info.outputs[0].shape[-1]
    if val is not None and len(val.class_names) > outputs:
        raise UserError(f"data has {len(val.class_names)} classes but the model outputs {outputs}: pass the "
                        f"data the model was trained for", "data")
    return Target(m, val, run_reference(m.run_dir) if m.run_dir else None)


def run_reference(run_dir: Path) -> object | None:
    """What a run's int8 model is checked against: its float Keras model, or for a run deployed from a float graph
    without one its float .tflite (bytes, run on LiteRT); None for a run deployed from an int8 .tflite."""
    keras_path, float_path = run_dir / "model.keras", run_dir / FLOAT_TFLITE_FILE
    if keras_path.is_file():
        return load_keras_model(keras_path)
    return float_path.read_bytes() if float_path.is_file() else None


def _load_data(data: str, shape: tuple, strict_shape: bool, record: RunRecord | None) -> Dataset:
    strict = strict_shape and str(data).lower().endswith(".npz")
    val = load_dataset(data, None if strict else shape)     # an .npz keeps its own size when not resized
    if strict and tuple(val.input_shape) != shape:
        raise UserError(f"{data} holds {'x'.join(map(str, val.input_shape))} images but the model takes "
                        f"{'x'.join(map(str, shape))}: pass data of the model's input size", "data")
    if record is not None and val.class_names != record.data.classes:
        raise UserError(f"{data} has classes {val.class_names} but the run was trained on {record.data.classes}: "
                        f"pass data with the same classes", "data")
    return val


def require_float_model(run_dir: Path, why: str) -> Path:
    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise UserError(f"{run_dir} has no model.keras: {why}; re-run fit, or deploy the float model")
    return path


def report_run(run_dir: str | Path) -> Path:
    """`report RUN_DIR`: (re)write RUN_DIR/report.html, with the verify and baseline results saved beside it
    (`verify_*.json`, `baseline_*.json`); written beside and renamed, so a failure leaves the old page in place."""
    m = run_model(run_dir)
    run_dir, record = m.run_dir, m.record
    model = run_reference(run_dir)   # no Keras model in a run deployed from a .tflite: its page has no Grad-CAM
    parts = run_split(record, tuple(m.info.inputs[0].shape[1:]))
    verify = verified(run_dir)
    baselines = [json.loads(p.read_text()) for p in sorted(run_dir.glob("baseline_*.json"))]
    write_report(run_dir, record, model, m.flatbuffer, parts, verify=verify, baselines=baselines)
    return (run_dir / REPORT_FILE).absolute()


def verified(run_dir: Path) -> list[VerifyResult]:
    """The `verify` results saved in a run directory (`verify_*.json`), by file name."""
    return [VerifyResult.from_dict(json.loads(p.read_text())) for p in sorted(run_dir.glob("verify_*.json"))]
