"""`export`: a run's int8 model (or a bare .tflite) as C sources, an Arduino library or an STM32 project, and a
run's float model as ONNX. The arena size comes from a TFLM measurement of the model itself; an op TFLM cannot
run is refused by name before anything is written."""

import logging
import os
from pathlib import Path

import numpy as np

from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.core.artifacts import prepare_output, staged_output
from tinyml_kit.core.budget import model_ram_bytes
from tinyml_kit.core.cores import KernelFamily, kernel_family
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.labels import check_labels
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.text import require_identifier
from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.export.destination import export_folder, require_not_another_run
from tinyml_kit.export.firmware import (
    PACKAGING,
    ModelSource,
    Sample,
    library_name,
    write_arduino_library,
    write_stm32_project,
    zip_folder,
)
from tinyml_kit.export.toolchain import CMSIS_NN_DIR_ENV, TFLM_DIR_ENV, find_cmsis_nn_dir, find_tflm_dir
from tinyml_kit.pipeline.engine_choice import run_engine
from tinyml_kit.pipeline.runs import resolve_model
from tinyml_kit.solve.engines import Engine, get_engine

logger = logging.getLogger(__name__)
EXPORT_TARGETS = ("c", "arduino", "stm32")


def export_model(model: str | Path, out: Path, target: str = "c", labels: list[str] | None = None,
                 name: str = "model", board_id: str | None = None, tflm_dir: str | Path | None = None,
                 engine: str | None = None, cmsis_nn_dir: str | Path | None = None) -> list[Path]:
    """Export for `target`: `c` writes the model data and the model API, `arduino` a library folder and its
    .zip, `stm32` a Makefile project. A bad name or label is refused before any work. Returns the paths written.
    `engine` "c" writes the model compiled to C on CMSIS-NN instead of the flatbuffer and TFLM's API; by default
    the engine the run was fitted for."""
    if target not in EXPORT_TARGETS:
        raise UserError(f"export target '{target}' is unknown: choose one of {', '.join(EXPORT_TARGETS)}", "target")
    if engine is not None:
        get_engine(engine)
    require_identifier(name)
    m = resolve_model(model)
    record = m.record if m.record is not None else _record_beside(Path(model))
    engine = get_engine(engine or record.engine) if record else run_engine(engine, m)
    cmsis_nn = _cmsis_nn(engine, target, cmsis_nn_dir, tflm_dir)
    classes = m.info.outputs[0].sample_size
    if labels is None:
        labels = record.data.classes if record else [f"class{i}" for i in range(classes)]
    check_labels(labels, classes)
    board = _export_board(target, board_id, record)
    if target == "c":
        with export_folder(out, m.name, m.flatbuffer) as tmp:
            written = _model_source(m, labels, name, engine, board, record).write_api(tmp)
        return [Path(out).absolute() / p.name for p in written]
    require_not_another_run(out, m.name)
    folder = library_name(name) + ("_stm32" if target == "stm32" else "")
    items = [folder, f"{folder}.zip"] if target == "arduino" else [folder]
    for item in items:
        prepare_output(Path(out) / item)
    src = _model_source(m, labels, name, engine, board, record)
    _write_project(target, src, _sample(m.flatbuffer, m.info, record, labels), Path(out), folder, board, tflm_dir,
                   cmsis_nn)
    return [Path(out).absolute() / item for item in items]


def _model_source(m, labels: list[str], name: str, engine: Engine, board, record: RunRecord | None):
    """What the targets are generated from, sized by the engine that will run it (`_SOURCES`) on the board's core
    (none: a core without Helium)."""
    return engine.part(_SOURCES)(m, labels, name, engine, kernel_family(board.core if board else None),
                                 model_ram_bytes(board, record.budget if record else None) if board else 0)


def _tflm_source(m, labels: list[str], name: str, engine: Engine, family: KernelFamily, ram_bytes: int):
    """The flatbuffer, with TFLM's measured arena."""
    arena = measure_arena(m.flatbuffer)
    logger.info(f"{m.name}: {len(m.flatbuffer):,} bytes, arena {arena.total_bytes:,} B measured on TFLM, "
                f"{arena.alloc_bytes:,} B with headroom")
    return ModelSource(m.flatbuffer, m.info, labels, arena.total_bytes, arena.alloc_bytes, name=name, source=m.name,
                       engine=engine)


def _c_source(m, labels: list[str], name: str, engine: Engine, family: KernelFamily, ram_bytes: int):
    """The model compiled to C for `family`'s CMSIS-NN kernels and a board of `ram_bytes` of RAM (0: unknown),
    with its static plan (the compilation refuses what it cannot run, by name)."""
    program = compile_model(m.flatbuffer, m.name, family, ram_bytes)
    logger.info(f"{m.name}: compiled to C on CMSIS-NN ({family.title} kernels), {program.constant_bytes:,} B of "
                f"constants, static arena {program.arena_bytes:,} B")
    return ModelSource(m.flatbuffer, m.info, labels, program.arena_bytes, program.arena_bytes, name=name,
                       source=m.name, engine=engine, family=family, ram_bytes=ram_bytes, _program=program)


_SOURCES = {"tflm": _tflm_source, "c": _c_source}   # each engine's way from a .tflite to what `export` writes


def _record_beside(tflite: Path) -> RunRecord | None:
    """A .tflite inside a run directory keeps its run's labels and board."""
    return RunRecord.read(tflite.parent) if (tflite.parent / "report.json").is_file() else None


def _cmsis_nn(engine: Engine, target: str, cmsis_nn_dir, tflm_dir) -> Path | None:
    """CMSIS-NN for a C-engine project: the Arduino library carries it, so it must be found; the STM32 Makefile
    names it when it is found (else `make CMSIS_NN_DIR=...`)."""
    if not engine.part(PACKAGING).carries_cmsis_nn or target == "c":
        return None
    given = cmsis_nn_dir or tflm_dir or os.environ.get(CMSIS_NN_DIR_ENV) or os.environ.get(TFLM_DIR_ENV)
    return find_cmsis_nn_dir(cmsis_nn_dir, tflm_dir) if target == "arduino" or given else None


def _write_project(target: str, src, sample, out: Path, folder: str, board, tflm_dir, cmsis_nn) -> None:
    with staged_output(out, allow_existing=True) as tmp:
        if target == "arduino":
            write_arduino_library(src, sample, tmp / folder, board, cmsis_nn)
            zip_folder(tmp / folder, tmp / f"{folder}.zip")
        else:
            tflm_given = src.packaging.links_tflm and (tflm_dir or os.environ.get(TFLM_DIR_ENV))
            tree = find_tflm_dir(tflm_dir).tree if tflm_given else None
            write_stm32_project(src, sample, tmp / folder, board, tree, cmsis_nn)


def _export_board(target: str, board_id: str | None, record: RunRecord | None):
    from tinyml_kit.core.boards import get_board

    board_id = board_id or (record.board.id if record else None)
    if board_id is None:
        if target == "stm32":
            raise UserError("an STM32 project needs the board's core flags: name the board (see `tinyml-kit "
                            "boards`)", "board_id")
        return None
    board = get_board(board_id)
    if target == "stm32":
        _ = board.gcc_cpu_flags   # refuses a board arm-none-eabi-gcc cannot build for
    return board


def _sample(model: bytes, info, record: RunRecord | None, labels: list[str], search: int = 64):
    """A validation image of the run the int8 model gets right (the first of `search` if none; a mid-grey image
    without a run), with the host's int8 prediction for it."""
    from tinyml_kit.pipeline.runs import run_split

    shape = tuple(info.inputs[0].shape[1:])
    if record is not None:
        val = run_split(record, shape).val
        images, truth, origin = val.x[:search], val.y[:search], "validation"
    else:
        images, truth, origin = np.full((1, *shape), 128, np.uint8), None, "synthetic (mid-grey)"
    pixels = np.clip(np.round(images), 0, 255).astype(np.uint8)
    predicted = LiteRtModel(model).predict(info.inputs[0].quantize(pixels.astype(np.float32))).argmax(1)
    right = np.flatnonzero(predicted == truth) if truth is not None else []
    i = int(right[0]) if len(right) else 0
    true_label = labels[int(truth[i])] if truth is not None else "unknown"
    return Sample(pixels[i], true_label, labels[int(predicted[i])], origin)
