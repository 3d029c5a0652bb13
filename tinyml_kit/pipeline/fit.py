"""`fit`: budget, data, choice (`pipeline.choose`), training, compression, checks, report, run directory, and
optionally `verify` on an emulated Cortex-M4F. Every claim of fitting comes from converting and measuring."""

import logging
import platform
import time
from dataclasses import replace
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

from tinyml_kit import __version__
from tinyml_kit.check.engines import checks
from tinyml_kit.check.verify import preflight
from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.quantize import calibration_images
from tinyml_kit.compress.stages import compress
from tinyml_kit.core.artifacts import prepare_output
from tinyml_kit.core.boards import DEFAULT_BOARD, Board, get_board
from tinyml_kit.core.budget import Budget, make_budget, model_ram_bytes
from tinyml_kit.core.cores import core_for_board, kernel_family
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.evaluation import Evaluation
from tinyml_kit.core.family import RANKED_NAMES
from tinyml_kit.core.pins import Search, chosen_knobs, make_search
from tinyml_kit.core.record_sections import CompressionRecord, SearchRecord, Timings
from tinyml_kit.core.run_record import DataRecord, RunRecord, TrainingRecord
from tinyml_kit.core.spec import AUTO, describe
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.pipeline.advise import add_advice, log_advice
from tinyml_kit.pipeline.engine_choice import choose_engine, style_ops
from tinyml_kit.pipeline.preflight import require_candidate_runs, require_runnable
from tinyml_kit.pipeline.runs import timed
from tinyml_kit.pipeline.training import train_model
from tinyml_kit.solve.engines import Engine, require_style
from tinyml_kit.solve.scaling_law import ScalingLaw
from tinyml_kit.train.data import VAL_FRACTION, load_dataset, planned_input, split
from tinyml_kit.train.options import TrainOptions
from tinyml_kit.train.stages import require_stages
from tinyml_kit.train.trainer import BATCH_SIZE, EPOCHS
from tinyml_kit.train.transfer import load_source, transferred

logger = logging.getLogger(__name__)


def fit(board_id: str = DEFAULT_BOARD, data: str = "digits", arch: str = AUTO, epochs: int = EPOCHS,
        max_flash: int | None = None, max_ram: int | None = None, max_macs: int | None = None,
        max_latency_ms: float | None = None, out: str | Path | None = None, seed: int = 0,
        input_shape: tuple[int, int, int] | None = None, pins: dict | None = None, batch_size: int = BATCH_SIZE,
        compression: CompressOptions | None = None, verify: bool = False,
        tflm_dir: str | Path | None = None, engine: Engine | str | None = None, cmsis_nn_dir: str | Path | None = None,
        law: str | Path | None = None, training: TrainOptions | None = None) -> RunRecord:
    """The whole pipeline; returns the run's record, also written to `<out>/report.json`. `compression` adds
    pruning, QAT and distillation (see `compress`); the default is post-training int8 alone. `verify` builds
    and runs the exported model on an emulated Cortex-M4F afterwards (the toolchain is checked first).
    `engine`: the model is chosen, measured and verified as it runs there; None: the C engine, or TFLM for a style
    whose ops the C engine does not run or a machine where its check cannot be built (`engine_choice`). `arch`
    "auto": the solver ranks every family with an accuracy law together (or a list of them, "phinet,resnet").
    `pins`: knobs the user knows, each a value, a list or a "low:high" range (`core.pins`); the solver searches
    the others, and a fully pinned model is measured as it is. PhiNet's `attention` and `activation` are pinned
    the same way. `law`: the law to rank by (a `sweep` directory). `training`: schedule, rate, class weights, a
    start from another model (then trained as it is, not chosen)."""
    from tinyml_kit.pipeline import outcome
    from tinyml_kit.pipeline.runs import write_run

    started, timings = time.perf_counter(), Timings()
    compression, training = compression or CompressOptions(), training or TrainOptions()
    limits = (max_flash, max_ram, max_macs, max_latency_ms)
    board, budget, out, user_law, search, engine = _prepare(board_id, arch, epochs, seed, limits, compression, out,
                                                            (verify, tflm_dir, engine, cmsis_nn_dir), law, pins,
                                                            training)
    source, input_shape = _source(training, search, input_shape, compression, engine)
    with timed(timings, "choose_s"):
        planned, pool, early = _candidates_before_data(search, data, input_shape, board, budget, engine,
                                                       user_law, source, compression.quant)
    with timed(timings, "data_s"):
        dataset, parts, calibration = load_data(data, input_shape, seed)
    if planned != (dataset.input_shape, len(dataset.class_names)):
        pool = early = None   # the data held something its header did not say: rank again on what was loaded
    with timed(timings, "choose_s"):
        chosen, start_model, explained = _choose(search, parts, calibration, budget, board, pool, engine,
                                                 user_law, source, seed, early)
    logger.info(f"chose {describe(chosen.family, chosen.knobs)}: {chosen.measured.params:,} params, "
                f"{chosen.measured.macs:,} MACs")
    with timed(timings, "train_s"):
        t = train_model(chosen.family, chosen.knobs, parts, epochs, batch_size, seed, compression, training,
                        start_model)
    with timed(timings, "compress_s" if compression.trains else "quantize_s"):
        c = compress(t.model, parts, calibration, compression, teacher=t.teacher, batch_size=batch_size, seed=seed,
                     class_weight=t.recipe["class_weights"])
    with timed(timings, "check_s"):
        checked = outcome.evaluate_compressed(c, parts, engine, cmsis_nn_dir, kernel_family(board.core))
    trained = TrainingRecord(epochs, t.result.epochs_run, t.result.best_epoch, batch_size, seed, t.result.history,
                             t.recipe)
    record = _record(board, budget, chosen.family, chosen, c, checked, data_record(dataset, parts, data, seed),
                     trained, CompressionRecord(compression, t.teacher_info, c.stages), timings,
                     engine, explained, search)
    add_advice(record, c.model, c.flatbuffer, calibration, out)
    record = write_run(out, record, c.model, c.flatbuffer, parts, checked.validation, started)
    logger.info(outcome.fit_summary(record))
    log_advice(record.advice)
    logger.info(f"run directory: {out} (report.html: budgets, memory plan, metrics, Grad-CAM, probes)")
    if verify:
        outcome.verify_and_report(record, tflm_dir, c.model, c.flatbuffer, parts, checked.validation, cmsis_nn_dir)
    return record


def load_data(data: str, input_shape, seed: int):
    """The dataset, its split and the calibration images."""
    dataset = load_dataset(data, input_shape)
    parts = split(dataset, seed=seed)
    logger.info(f"data {dataset.source}: {len(parts.train.x)} train / {len(parts.val.x)} validation images, "
                f"{len(dataset.class_names)} classes, input {'x'.join(map(str, dataset.input_shape))}")
    return dataset, parts, calibration_images(parts.train.x, seed=seed)


def _prepare(board_id: str, arch: str, epochs: int, seed: int, limits: tuple, compression: CompressOptions,
             out: str | Path | None, verifying: tuple, law=None, pins: dict | None = None,
             training: TrainOptions | None = None) -> tuple[Board, Budget, Path, object, Search, Engine]:
    """Everything that can be refused, refused before any data is read or any model trained; returns the board,
    the budget, the run directory, the user's accuracy law (None: the shipped laws of the searched families), the
    search (families, pins, style) and the engine."""
    verify, tflm_dir, asked, cmsis_nn_dir = verifying
    board = get_board(board_id)
    search = make_search(arch, pins)
    engine = choose_engine(asked, style_ops(search.style), "the PhiNet style asked for", True, cmsis_nn_dir)
    if epochs < 1:
        raise UserError(f"{epochs} training epochs: give at least 1", "epochs")
    if not 0 <= seed < 2**32:
        raise UserError(f"seed {seed} is not in 0 .. 2**32 - 1", "seed")
    budget = make_budget(board, *limits)
    compression.validate()
    training = training or TrainOptions()
    training.validate()
    require_style(search.style, engine)   # by the style's own ops; the built candidate's are checked next
    user_law = _user_law(search, law, training)
    out = prepare_output(Path(out) if out else default_run_dir())
    if checks(engine).host:   # the engine's own host check runs after training: its tools are refused now
        checks(engine).host.require(cmsis_nn_dir)
    if verify:   # a missing toolchain is reported before training, not after
        core_for_board(board)   # an emulated core, or one line before training
        preflight(tflm_dir, engine, cmsis_nn_dir)
    logger.info(f"board {board.id} ({board.name}, {board.core} @ {board.clock_mhz:g} MHz): model flash budget "
                f"{budget.flash_bytes:,} B, arena budget {budget.arena_bytes:,} B, time {budget.time_limit()}")
    logger.info(f"plan: train {epochs} epoch{'s' if epochs != 1 else ''} ({training.plan()}), then "
                f"{compression.plan()}")
    return board, budget, out, user_law, search, engine


def _user_law(search: Search, law, training: TrainOptions):
    """The user's `--law` (a ScalingLaw), checked against the searched families, or None: the shipped laws of the
    searched families (none for a family without one)."""
    if training.init_from and law is not None:
        raise UserError(f"{param('init_from')} trains the architecture of the model it starts from; {param('law')} "
                        "ranks architectures: drop one of them", "law", "init_from")
    if law is not None and not search.ranked:
        raise UserError(f"{param('law')} ranks {', '.join(RANKED_NAMES)} configurations; {search.family} is measured "
                        f"over its grid: drop {param('law')} or choose {param('arch', AUTO)}", "law")
    if law is None:
        return None
    from tinyml_kit.solve.search import ranked_search, search_laws

    user_law = ScalingLaw.load(law)
    search_laws(ranked_search(search.families, search.pins, search.asked), user_law)   # of a searched family
    return user_law


def _candidates_before_data(search: Search, data: str, input_shape, board: Board, budget: Budget,
                            engine: Engine, law, source=None, quant: str = "ptq"):
    """The candidates for the input the data will be resized to, and what the pins cost, ranked before any image
    is read: a budget no configuration fits is refused in a fraction of a second, not after loading (and
    resizing) the dataset. A fully pinned model is measured here too (`early`), on random pixels: sizes and
    instructions do not depend on the calibration images. The first candidate is built first: an op its engine
    lacks, or a layer QAT cannot quantize, is refused by name (`pipeline.preflight`)."""
    shape, classes = planned_input(data, input_shape)
    if source is not None:
        return (shape, classes), None, None
    pool = _pool(search, shape, classes, board, budget, engine, law)
    if classes:   # none: a folder without images, refused by name when it is read
        first = pool[0][0]
        require_candidate_runs(first.family, first.knobs, shape, classes, engine, quant, *search.style)
    if not search.fully_pinned:
        return (shape, classes), pool, None

    from tinyml_kit.pipeline.choose import choose

    pixels = calibration_images(np.random.default_rng(0).integers(0, 256, (16, *shape), dtype=np.uint8))
    return (shape, classes), pool, choose(search, pool[0], shape, classes, pixels, budget, board, engine, law)


def _pool(search: Search, shape, classes: int, board: Board, budget: Budget, engine: Engine, law):
    """(candidates, explanation); a styled PhiNet's candidates are its squeeze-excite twins, measured as built."""
    from tinyml_kit.pipeline.candidates import STYLED_RUNNER_UPS, candidates, styled

    if not search.style or search.fully_pinned:
        pool, explained = candidates(search, shape, classes, board, budget, engine, law)
    else:
        pool, explained = candidates(search, shape, classes, board, budget, engine, law, STYLED_RUNNER_UPS)
        pool = styled(pool, search.style)
    return pool, replace(explained, pinned={**explained.pinned, **search.style})


def _source(training: TrainOptions, search: Search, input_shape, compression: CompressOptions, engine: Engine):
    """The model `--init-from` names and the input (its own unless given), refused before any data is read if the
    architecture or input asked for is another, or it has fewer stages than `--freeze-stages`."""
    if not training.init_from:
        return None, input_shape
    if search.style:
        raise UserError(f"{param('init_from')} trains its model's own blocks: drop "
                        f"{' '.join(map(param, search.style))}", *search.style, "init_from")

    source = load_source(training.init_from)
    require_stages(source.model, training.freeze_stages)
    require_runnable(source.model, engine, compression.quant, "the model to start from", "init_from")
    if input_shape is not None:
        source.require_input(tuple(input_shape))
    named = search.family or ",".join(search.families)
    if search.pins or (named != AUTO and named != (source.family or named)):
        drop = param("arch", named) if not search.pins else "the knob options"
        raise UserError(f"{param('init_from', training.init_from)} is a {source.family or source.model.name}: its "
                        f"architecture is the one trained, so drop {drop} (or start from another model)",
                        *search.pins, "arch", "init_from")
    return source, input_shape or source.input_shape


def _choose(search: Search, parts, calibration, budget: Budget, board: Board, pool, engine: Engine, law, source,
            seed: int, early=None):
    """The configuration to train, the model to start from when `--init-from` gave one (measured as it is), and
    what the pins cost. `early`: the fully pinned model's measurement, made before the data was read."""
    from tinyml_kit.pipeline.choose import choose, choose_model

    shape, classes = parts.train.input_shape, len(parts.train.class_names)
    if early is not None:
        return early, None, pool[1]
    if source is None:
        pool, explained = pool or _pool(search, shape, classes, board, budget, engine, law)
        return choose(search, pool, shape, classes, calibration, budget, board, engine, law), None, explained
    from tinyml_kit._tf import keras

    keras().utils.set_random_seed(seed)   # a re-initialised head follows the seed
    model = transferred(source, shape, classes)
    family, knobs = source.family or model.name, source.knobs or {}
    return choose_model(model, family, knobs, calibration, budget, board, engine), model, SearchRecord()


def _record(board: Board, budget: Budget, arch: str, chosen, c, checked: Evaluation, data: DataRecord,
            training: TrainingRecord, compression: CompressionRecord, timings: Timings, engine: Engine,
            explained: SearchRecord,
            search: Search) -> RunRecord:
    from tinyml_kit.pipeline.measure import model_latency

    final = model_costs(c.model)
    latency = model_latency(c.flatbuffer, final.macs, board, engine, model_ram_bytes(board, budget))
    estimate = chosen.estimate
    return RunRecord(
        board=board, budget=budget, arch=arch, choice=chosen.knobs, params=final.params, macs=final.macs,
        flash_bytes=checked.footprint.flash_bytes, arena_bytes=checked.footprint.arena_bytes,
        arena_alloc_bytes=checked.footprint.arena_alloc_bytes,
        latency_ms_est=round(latency.ms, 2), instructions_est=latency.instructions, cycles_est=latency.cycles,
        data=data, training=training,
        check=checked, predicted_accuracy=estimate.predicted_accuracy,
        predicted_accuracy_interval=estimate.predicted_interval,
        flash_bytes_est=(estimate.est_flash or None) if estimate.estimates_own else None,
        arena_bytes_est=(estimate.est_arena_use or None) if estimate.estimates_own else None,
        verification=list(chosen.attempts),
        compression=compression, versions=versions(), timings=timings, engine=engine.name,
        search=replace(explained, chosen=chosen_knobs(chosen.knobs, search.pins, search.style)))


def data_record(dataset, parts, source: str, seed: int) -> DataRecord:
    return DataRecord(source=source if source == "digits" else str(Path(source).resolve()),
                      input_shape=list(dataset.input_shape), classes=dataset.class_names,
                      train_images=len(parts.train.x), val_images=len(parts.val.x), val_fraction=VAL_FRACTION,
                      seed=seed, fingerprint=dataset.fingerprint())


def versions() -> dict:
    found = {"tinyml_kit": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "tf_keras", "ai-edge-litert", "tflite-micro", "numpy"):
        try:
            found[pkg] = version(pkg)
        except Exception:
            found[pkg] = None
    return found


def default_run_dir(command: str = "fit") -> Path:
    return Path("runs") / datetime.now().strftime(f"{command}-%Y%m%d-%H%M%S")
