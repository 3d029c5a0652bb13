"""`deploy`: a model the user brings (`pipeline.foreign`) instead of one `fit` chooses and trains, then what `fit`
does after training: int8 (post-training, calibrated on the data's training split; an int8 .tflite as it is), the
engine's ops checked by name, flash, arena and time measured against the board, the checks on the validation
split (LiteRT, TFLM, the C engine built for this machine), the run directory with its report and the engine's
sources, and optionally `verify` under QEMU. The run directory is a run like `fit`'s: `compress`, `verify`,
`analyze`, `report` and `export` take it."""

import logging
import time
from pathlib import Path

from tinyml_kit.check.analyze import analyze_model
from tinyml_kit.check.engines import checks
from tinyml_kit.check.verify import preflight
from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.stages import Compressed
from tinyml_kit.core.artifacts import prepare_output
from tinyml_kit.core.boards import DEFAULT_BOARD, Board, get_board
from tinyml_kit.core.budget import Budget, make_budget
from tinyml_kit.core.cores import core_for_board, kernel_family
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.record_sections import CompressionRecord, Timings
from tinyml_kit.core.run_record import RunRecord, TrainingRecord
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.pipeline import foreign as foreign_model
from tinyml_kit.pipeline.advise import add_advice, log_advice
from tinyml_kit.pipeline.engine_choice import choose_engine
from tinyml_kit.pipeline.fit import data_record, default_run_dir, load_data, versions
from tinyml_kit.pipeline.foreign import Foreign
from tinyml_kit.pipeline.runs import timed
from tinyml_kit.solve.engines import DEFAULT, Engine, get_engine, require_ops, run_on
from tinyml_kit.train.data import peek_dataset, planned_input
from tinyml_kit.train.trainer import BATCH_SIZE

logger = logging.getLogger(__name__)


def deploy(model: str | Path, board_id: str = DEFAULT_BOARD, data: str = "digits",
           input_shape: tuple[int, int, int] | None = None, out: str | Path | None = None,
           engine: Engine | str | None = None, verify: bool = False, pixels: str | None = None, seed: int = 0,
           limits: tuple = (None, None, None, None), tflm_dir: str | Path | None = None,
           cmsis_nn_dir: str | Path | None = None) -> RunRecord:
    """Deploy the user's `model` (.keras, .h5, a Keras SavedModel directory, an int8 or float .tflite, an .onnx or a
    .pt2 torch.export program) on `board_id` with `data` (its training split calibrates, its validation split
    checks); returns the run's record, also written to `<out>/report.json`. `input_shape`: for a model that leaves a
    size open, or to check the one it has; `pixels`: "0-255" or "0-1" for a model whose pixel range cannot be read
    from it (`pipeline.foreign`). `limits`: (max flash, max RAM, max MACs, max latency ms) tightening the board's
    budget. Bad input is refused in one line before anything is written; a model that does not fit is written and
    judged, as `fit` does, with each budget's miss and the `compress` settings measured to make it fit
    (`pipeline.advise`)."""
    from tinyml_kit.pipeline import outcome
    from tinyml_kit.pipeline.runs import write_run

    started, timings = time.perf_counter(), Timings()
    board, budget, out = _prepare(model, board_id, limits, out, engine, seed, (verify, tflm_dir, cmsis_nn_dir))
    user = foreign_model.open_model(model, pixels)
    shape = _require_input(user, input_shape, data)
    user.sized(shape)
    logger.info(f"model {user.name} ({user.kind}): input {'x'.join(map(str, shape))}, {user.classes} classes; "
                f"pixels 0..255 ({user.pixels})")
    with timed(timings, "data_s"):
        dataset, parts, calibration = load_data(data, shape, seed)
        conversion = user.checked_conversion(parts.val.x)   # an .onnx or .pt2 against its own runtime
    with timed(timings, "quantize_s"):
        flatbuffer = user.int8(calibration)
    foreign_model.require_integer_ops(flatbuffer, user.name, user.layers)
    engine = _engine(user, flatbuffer, engine, cmsis_nn_dir)   # by name, before the checks, report and export
    reference = _float_reference(user)
    c = Compressed(user.keras_model, flatbuffer, _stages(user, flatbuffer), reference)
    with timed(timings, "check_s"):
        checked = outcome.evaluate_compressed(c, parts, engine, cmsis_nn_dir, kernel_family(board.core))
    record = _record(user, board, budget, engine, flatbuffer, checked, data_record(dataset, parts, data, seed),
                     seed, timings)
    record.conversion = conversion
    add_advice(record, user.keras_model, flatbuffer, calibration, out)
    record = write_run(out, record, reference, flatbuffer, parts, checked.validation, started)
    logger.info(outcome.fit_summary(record))
    log_advice(record.advice)
    logger.info(f"run directory: {out}")
    if verify:
        outcome.verify_and_report(record, tflm_dir, reference, flatbuffer, parts, checked.validation,
                                  cmsis_nn_dir)
    return record


def _prepare(model, board_id: str, limits: tuple, out, engine, seed: int, verifying: tuple
             ) -> tuple[Board, Budget, Path]:
    """What can be refused before TensorFlow loads: the model's path and format, the board, the limits, the
    engine's name, the output directory and, for `verify`, the toolchain."""
    verify, tflm_dir, cmsis_nn_dir = verifying
    foreign_model.model_kind(model)
    board = get_board(board_id)
    budget = make_budget(board, *limits)
    if engine is not None:
        get_engine(engine)
    if not 0 <= seed < 2**32:
        raise UserError(f"seed {seed} is not in 0 .. 2**32 - 1", "seed")
    out = prepare_output(Path(out) if out else default_run_dir("deploy"))
    if verify:
        core_for_board(board)
        preflight(tflm_dir, engine, cmsis_nn_dir)
    logger.info(f"board {board.id} ({board.name}, {board.core} @ {board.clock_mhz:g} MHz): model flash budget "
                f"{budget.flash_bytes:,} B, arena budget {budget.arena_bytes:,} B, time {budget.time_limit()}")
    return board, budget, out


def _require_input(user: Foreign, input_shape, data: str) -> tuple[int, int, int]:
    """The model's input, with `--input` filling the sizes it leaves open (and refused where it says another), and
    the data checked against it before it is read: the same channels, the same classes. The data is resized to
    the model's height and width as `fit` resizes it."""
    own = tuple(user.input_shape)
    if input_shape is not None:
        input_shape = tuple(input_shape)
        if any(m is not None and m != i for m, i in zip(own, input_shape, strict=True)):
            raise UserError(f"{user.name} takes {_shape_text(own)} images, not {_shape_text(input_shape)}: drop "
                            f"{param('input_shape')} or pass the model's", "input_shape")
        own = input_shape
    if None in own:
        raise UserError(f"{user.name} takes {_shape_text(own)} images: pass {param('input_shape', 'H,W,C')} to fix "
                        f"the open sizes", "input_shape")
    shape, classes = planned_input(data, own)
    native = peek_dataset(data)[0]
    if native is not None and native[2] != shape[2]:
        raise UserError(f"{data} has {native[2]}-channel images but {user.name} takes {shape[2]} channels: pass "
                        f"data with {shape[2]} channels (an .npz or an image folder)", "data")
    if classes and classes != user.classes:
        raise UserError(f"{data} has {classes} classes but {user.name} outputs {user.classes}: pass the data the "
                        f"model was trained for", "data")
    return shape


def _engine(user: Foreign, flatbuffer: bytes, asked, cmsis_nn_dir) -> Engine:
    """The engine, chosen as `fit` chooses it (the C engine, or TFLM with a line saying why), and every op it or
    the checker does not run refused by name with the layer it came from."""
    ops = read_model(flatbuffer).ops

    def where(engines) -> str:   # the model, and where the ops `engines` lack come from
        missing = [op for op in ops if any(op in e.missing_ops(ops) for e in engines)]
        return f"{user.name} ({foreign_model.op_layers(flatbuffer, missing, user.layers)})" if missing else user.name

    engine = choose_engine(asked, ops, where([DEFAULT]), True, cmsis_nn_dir)
    require_ops(ops, engine, where(run_on(engine)), "", "model")
    host = checks(engine).host
    if host is not None:   # the engine's own host check runs next: its tools are refused now
        host.require(cmsis_nn_dir)
    return engine


def _float_reference(user: Foreign) -> object:
    """What the int8 model is checked against: the Keras model; for a model that came as a float graph without
    one (.pt2, a float .tflite, a SavedModel's signature) its float .tflite, fed the same pixels 0..255; None for
    an int8 .tflite taken as it is."""
    if user.keras_model is not None:
        return user.keras_model
    return None if user.is_int8 else user.flatbuffer


def _stages(user: Foreign, flatbuffer: bytes) -> list[dict]:
    """The compression record's one stage: how the int8 model was made."""
    method = "as given (int8 .tflite)" if user.is_int8 else "ptq"
    return [{"stage": "int8", "method": method, "flash_bytes": tflm_flash_bytes(flatbuffer),
             "tflite_bytes": len(flatbuffer)}]


def _record(user: Foreign, board: Board, budget: Budget, engine: Engine, flatbuffer: bytes, checked, data,
            seed: int, timings: Timings) -> RunRecord:
    from tinyml_kit.pipeline.measure import model_latency

    totals = analyze_model(flatbuffer, user.name)
    latency = model_latency(flatbuffer, totals.macs, board, engine)
    return RunRecord(
        board=board, budget=budget, arch=Path(user.name).stem, choice={}, params=totals.params, macs=totals.macs,
        flash_bytes=checked.footprint.flash_bytes, arena_bytes=checked.footprint.arena_bytes,
        arena_alloc_bytes=checked.footprint.arena_alloc_bytes, latency_ms_est=round(latency.ms, 2),
        instructions_est=latency.instructions, cycles_est=latency.cycles, data=data,
        training=TrainingRecord(0, 0, 0, BATCH_SIZE, seed), check=checked,
        compression=CompressionRecord(CompressOptions(), None, _stages(user, flatbuffer)), versions=versions(),
        timings=timings, engine=engine.name, deployed_from=str(Path(user.name).absolute()))


def _shape_text(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)
