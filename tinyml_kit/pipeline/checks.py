"""`check`, `validate`, `analyze` and `verify` on what the user points at: a run directory (its model, its own
validation split, its board) or a bare int8 .tflite. The work itself is in `check/`; this resolves the target."""

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinyml_kit.check.analysis import Analysis
from tinyml_kit.check.analyze import analyze_model, attach_profile
from tinyml_kit.check.engines import checks, host_check
from tinyml_kit.check.evaluate import evaluate
from tinyml_kit.check.validate import random_pixels, validate_model
from tinyml_kit.check.verify import preflight, verify_model
from tinyml_kit.core.artifacts import write_json_atomic
from tinyml_kit.core.budget import model_ram_bytes
from tinyml_kit.core.cores import kernel_family, require_core
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import Evaluation, Validation
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.pipeline.engine_choice import run_engine
from tinyml_kit.pipeline.runs import load_target, resolve_model, run_model, run_split, verified
from tinyml_kit.solve.engines import get_engine

logger = logging.getLogger(__name__)


def check_target(target: str | Path, data: str | None = None, engine: str | None = None,
                 cmsis_nn_dir: str | Path | None = None) -> Evaluation:
    """Float vs int8 accuracy, LiteRT vs TFLM and the measured arena of a run (on its own validation split
    unless `data` is given) or a .tflite; with the C engine (by default a run's own), also its generated model
    built for this machine and run on the same images beside LiteRT."""
    t = load_target(target, data)
    engine = run_engine(engine, t.model, host_check=True, cmsis_nn_dir=cmsis_nn_dir)
    if checks(engine).host:   # a missing compiler or CMSIS-NN is refused before the slow part
        checks(engine).host.require(cmsis_nn_dir)
    result = evaluate(t.model.flatbuffer, t.val, reference=t.reference, name=t.model.name)
    pixels = t.val.x.astype(np.float32) if t.val is not None else random_pixels(t.model.info)   # evaluate's own
    images = t.model.info.inputs[0].quantize(pixels)
    record = t.model.record
    family = kernel_family(record.board.core if record else None)
    return replace(result, host=host_check(t.model.flatbuffer, images, engine, cmsis_nn_dir, t.model.name, family))


def validate_target(target: str | Path, data: str | None = None, random_inputs: bool = False, onnx: bool = True,
                    seed: int = 0) -> Validation:
    """The same inputs through Keras, ONNX Runtime, LiteRT and TFLM (see `check.validate`)."""
    t = load_target(target, data, strict_shape=True)
    return validate_model(t.model.flatbuffer, t.model.info, t.val, t.reference, t.model.name, random_inputs,
                          onnx, seed)


def analyze_target(target: str | Path, board_id: str | None = None, engine: str | None = None) -> Analysis:
    """Per-layer memory plan and totals of a run's model (against its board unless another is given) or a
    .tflite (against `board_id`, if any). With the C engine (by default a run's own) also its static plan, and
    the board verdict is the C engine's."""
    m = resolve_model(target)
    board_id = board_id or (m.record.board.id if m.record else None)
    engine = run_engine(engine, m)
    result = analyze_model(m.flatbuffer, m.name, board_id, engine.name)
    if m.record is not None:   # a run directory: its `verify --profile` results, if any
        attach_profile(result, verified(m.run_dir), engine.name)
    analysis = checks(engine).analysis
    if analysis:   # the engine's own plan, and the board verdict by its flash and arena
        from tinyml_kit.core.boards import get_board

        plan = analysis(m.flatbuffer, m.name, get_board(board_id) if board_id is not None else None)
        result.c_engine, result.board_fit = plan.c_engine, plan.board_fit
    return result


def verify_run(run_dir: str | Path, kernels: str | None = None, images: int = 20, tflm_dir: str | Path | None = None,
               arena_bytes: int | None = None, val=None, engine: str | None = None,
               cmsis_nn_dir: str | Path | None = None, core: str | None = None, profile: bool = False
               ) -> VerifyResult:
    """`verify` on a run directory: its model, its validation images, its board (and by default the board's core);
    saves `verify_<kernels>.json` (`verify_c.json` for the C engine; `verify_<core>_...` on another core than the
    board's; `..._profile.json` with `profile`, whose ELF carries the profiler). `val`: the run's validation split
    when the caller holds it (`fit --verify`), instead of re-making it."""
    from tinyml_kit.core.boards import get_board

    if images < 1:
        raise UserError(f"{images} images: verify at least 1", "images")
    m = run_model(run_dir)
    record, run_dir = m.record, m.run_dir
    engine = get_engine(engine or record.engine)
    board = get_board(record.board.id)
    require_core(core, board)   # an emulated core, or one line before building
    preflight(tflm_dir, engine, cmsis_nn_dir)
    if val is None:
        val = run_split(record, tuple(m.info.inputs[0].shape[1:])).val
    chosen = val.x[:images].astype(np.float32)
    src = ModelSource(m.flatbuffer, m.info, record.data.classes, record.arena_bytes, record.arena_alloc_bytes,
                      engine=engine, ram_bytes=model_ram_bytes(board, record.budget if record else None))
    result = verify_model(src, m.info.inputs[0].quantize(chosen), board, kernels=kernels, tflm_dir=tflm_dir,
                          arena_bytes=arena_bytes, engine=engine, cmsis_nn_dir=cmsis_nn_dir, core=core,
                          profile=profile)
    result.run_dir = str(run_dir.absolute())
    if len(chosen) < images:
        logger.info(f"the validation split has {len(chosen)} images: verified all of them")
    name = result.kernels if engine.runs_flatbuffer else engine.name   # TFLM's files are named by kernels
    if result.core_title != board.core:
        name = f"{result.core}_{name}"
    if profile:   # its ELF carries the profiler: kept beside the plain run's figures, not over them
        name += "_profile"
    write_json_atomic(run_dir / f"verify_{name}.json", result.to_dict())
    return result
