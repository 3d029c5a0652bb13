"""Choose the model to train: the first candidate whose measured int8 flatbuffer (as TFLM firmware links it) and
TFLM arena fit.

For the families the solver ranks (`auto`: all of them together; or one alone) the candidates are its
ranking by predicted accuracy (conversion-free estimates), for other architectures their grid, largest first.
Every claim of fitting comes from converting and measuring.
"""

import logging
from dataclasses import dataclass

from tinyml_kit.nets.costs import activation_peak_bytes, model_costs
from tinyml_kit.core import progress
from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Search, pins_json
from tinyml_kit.core.spec import describe
from tinyml_kit.core.units import format_bytes
from tinyml_kit.solve.engines import TFLM, Engine, get_engine

logger = logging.getLogger(__name__)


MAX_ATTEMPTS = 8


@dataclass
class Candidate:
    family: str
    knobs: dict
    params: int
    macs: int
    est_flash: int
    est_arena: int                         # with headroom, as compared with the budget
    est_arena_use: int = 0                 # what TFLM should report
    predicted_accuracy: float | None = None
    predicted_interval: list[float] | None = None    # the law's ~95 % prediction interval
    est_instructions: int | None = None    # on the board's core, where it is emulated (ranked families only)
    estimates_own: bool = True             # False: the estimates are another model's (a styled PhiNet's SE twin)


def may_fit(c: Candidate, budget: Budget, flash_ratio: float, arena_ratio: float, time_ratio: float = 1.0) -> bool:
    """Whether a candidate's estimates, rescaled by what the last measurement showed, fit the budget."""
    instructions = c.est_instructions * time_ratio if c.est_instructions is not None else None
    return budget.verdict(c.est_flash * flash_ratio, c.est_arena * arena_ratio, c.macs, instructions).ok


def candidates(search: Search, input_shape: tuple[int, int, int], classes: int, board: Board, budget: Budget,
               engine: Engine = TFLM, law=None, runner_ups: int = MAX_ATTEMPTS - 1) -> tuple[list[Candidate], dict]:
    """Configurations to verify, best first, and what the pins cost (`solve.search.explanation`; empty without
    pins). Ranked families: the solver's choice and runner-ups within the pins (highest predicted accuracy,
    conversion-free estimates), ranked by `law` (the user's ScalingLaw, or a list; None: the shipped ones of the
    searched families). Other architectures:
    their grid narrowed by the pins, largest first, rough estimates. A fully pinned configuration: itself, with
    its estimates where the solver has them. `runner_ups`: how many after the solver's choice."""
    pinned = {"pinned": pins_json(search.pins), "chosen": {}, "pin_effects": [],
              "fully_pinned": search.fully_pinned}
    if search.fully_pinned:
        return [_pinned(search, input_shape, classes, board, budget, engine, law)], pinned
    if search.ranked:
        from tinyml_kit.solve.pin_effects import effect_lines
        from tinyml_kit.solve.search import explanation, ranked_search, solve_search
        from tinyml_kit.solve.summary import other_families

        ranked = ranked_search(search.families, search.pins, search.asked)
        sol, effects = solve_search(board, ranked, budget, input_shape, classes, engine, law, runner_ups)
        for line in other_families(sol) + effect_lines(sol, effects):
            logger.info(line)
        return [_from_choice(c) for c in [sol.best, *sol.runner_ups]], explanation(sol, effects, ranked.implied)
    return unranked_grid(search, input_shape, classes, engine), pinned


def _from_choice(c) -> Candidate:
    return Candidate(c.family, c.knobs(), c.estimate.params, c.estimate.macs, c.estimate.flash_bytes_est,
                     c.arena_alloc_bytes_est, c.estimate.arena_bytes_est, c.predicted_accuracy, c.interval_bounds(),
                     c.estimate.latency.instructions)


# The conversion-free estimates are within 0.7 % of the measured flash and exact in arena (bench/estimator_accuracy,
# bench/engine_estimates): a pinned model estimated this far past a limit is refused without being built.
ESTIMATE_MARGIN = 1.05


def _pinned(search: Search, input_shape, classes: int, board: Board, budget: Budget, engine: Engine, law
            ) -> Candidate:
    """The fully pinned configuration, with the solver's estimates and prediction when it has them (not for
    families without a law, nor for PhiNet's other attentions and activations). Refused from its estimates, as
    `solve` refuses it, when they miss a limit by more than ESTIMATE_MARGIN (a styled PhiNet: when its
    squeeze-excite twin is larger than any board), before anything is built."""
    if not lookup(search.family).ranked:
        return Candidate(search.family, search.knobs(), 0, 0, 0, 0)
    from tinyml_kit.solve.search import pinned_choice, ranked_search, solve_search

    twin = Search(search.families, search.pins, asked=search.asked)   # without the style: the laws' PhiNet
    c = pinned_choice(board, twin, budget, input_shape, classes, engine, law)
    if search.style:
        from tinyml_kit.solve.families import require_buildable

        require_buildable(c.estimate, *search.pins)
        return Candidate(search.family, search.knobs(), 0, 0, 0, 0, estimates_own=False)
    e = c.estimate
    if not budget.verdict(int(e.flash_bytes_est / ESTIMATE_MARGIN), int(c.arena_alloc_bytes_est / ESTIMATE_MARGIN),
                          e.macs, int((e.latency.instructions or 0) / ESTIMATE_MARGIN) or None).ok:
        solve_search(board, ranked_search(search.families, search.pins, search.asked), budget, input_shape, classes,
                     engine, law, 0)   # refuses it with the solver's words: by how much, and the nearest that fit
    return _from_choice(c)


def unranked_grid(search: Search, input_shape, classes: int, engine: Engine) -> list[Candidate]:
    """An unranked family's grid, each knob's axis narrowed (or replaced) by its pin; rough estimates."""
    from itertools import product

    from tinyml_kit.nets import build

    grid = lookup(search.family).grid
    names = list(grid[0])
    axes = [search.pins[k].axis(tuple(sorted({g[k] for g in grid}))) if k in search.pins
            else tuple(sorted({g[k] for g in grid})) for k in names]
    found = []
    for values in product(*axes):
        knobs = dict(zip(names, values))
        model = build(search.family, input_shape, classes, **knobs)
        c = model_costs(model)
        rough = engine.rough(c.params, c.channels, c.op_count, activation_peak_bytes(model))
        found.append(Candidate(search.family, knobs, c.params, c.macs, rough.flash_bytes, rough.arena_alloc,
                               rough.arena_use))
    return sorted(found, key=lambda c: (-c.params, c.macs))


STYLED_RUNNER_UPS = 60   # estimates of SE PhiNets: a CBAM one measured ~20 % slower, so look further down


def styled(pool: list[Candidate], style: dict) -> list[Candidate]:
    """PhiNet candidates with another attention or activation (`fit --attention cbam`): their sizes are measured
    as built, and no accuracy is predicted, the laws having been fitted on squeeze-excite and hard-swish."""
    from dataclasses import replace

    return [replace(c, knobs={**c.knobs, **style}, predicted_accuracy=None, predicted_interval=None,
                    estimates_own=False) for c in pool]


@dataclass
class Measurement:
    family: str
    knobs: dict
    params: int
    macs: int
    flash_bytes: int
    arena_bytes: int
    arena_alloc_bytes: int
    fits: bool
    instructions: int | None = None   # predicted from the converted graph, on the board's core if emulated


def measure(arch: str, knobs: dict, input_shape, classes: int, calibration, budget: Budget,
            engine: Engine | str = TFLM, board: Board | None = None) -> Measurement:
    """Convert an untrained model to int8 and measure it (`measure_model`). Sizes depend on the weights only
    through constants the converter de-duplicates, so batch-norm statistics are randomised to look trained
    (measured: within 200 B of the trained model's file on the default fit)."""
    from tinyml_kit.nets import build

    model = build(arch, input_shape, classes, **knobs)
    look_trained(model)
    return measure_model(model, arch, knobs, calibration, budget, engine, board)


def measure_model(model, arch: str, knobs: dict, calibration, budget: Budget, engine: Engine | str = TFLM,
                  board: Board | None = None) -> Measurement:
    """Measure `model`'s int8 flatbuffer as the engine runs it (TFLM: the compact flatbuffer and its measured
    arena; the C engine: its generated model and static arena), and predict its instructions on `board`'s core
    from the converted graph. `model` is not changed."""
    from tinyml_kit.check.engines import measured_footprint
    from tinyml_kit.compress.quantize import quantize_int8

    costs, engine = model_costs(model), get_engine(engine)
    flatbuffer = quantize_int8(model, calibration)
    instructions = (model_latency(flatbuffer, costs.macs, board, engine).instructions if board is not None
                    else None)
    fp = measured_footprint(flatbuffer, engine)
    fits = budget.verdict(fp.flash_bytes, fp.arena_alloc_bytes, costs.macs, instructions).ok
    return Measurement(arch, knobs, costs.params, costs.macs, fp.flash_bytes, fp.arena_bytes, fp.arena_alloc_bytes,
                       fits, instructions)


def model_latency(flatbuffer: bytes, macs: int, board: Board, engine: Engine | str = TFLM):
    """The latency estimate of a converted model on `board`'s core, from its graph (the engine's instruction
    model, `solve.instructions`)."""
    from tinyml_kit.core.tflite_info import read_graph

    return get_engine(engine).latency(read_graph(flatbuffer), macs, board.core, board.clock_mhz)


def look_trained(model, seed: int = 0) -> None:
    """Give batch-norm layers trained-looking statistics and biases non-zero values. Untrained ones fold to
    all-zero biases, which the converter stores once and shares under other names, so an untrained model
    measures ~3 % smaller than the trained one."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
        elif getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape))


@dataclass
class Chosen:
    """The configuration to train: its measurement, every measurement made on the way, and its estimates."""
    measured: Measurement
    attempts: list[Measurement]
    estimate: Candidate

    @property
    def knobs(self) -> dict:
        return self.measured.knobs

    @property
    def family(self) -> str:
        return self.estimate.family


def choose_model(model, family: str, knobs: dict, calibration, budget: Budget, board: Board,
                 engine: Engine = TFLM) -> Chosen:
    """A given model (`fit --init-from`), measured as it is: it is trained if it fits, refused by how much if not."""
    with progress.task("converting to int8 and measuring"):
        m = measure_model(model, family, knobs, calibration, budget, engine, board)
    if not m.fits:
        raise UserError(f"the --init-from model does not fit {board.id}: it measures flash {m.flash_bytes:,} B "
                        f"(budget {budget.flash_bytes:,}), arena {m.arena_alloc_bytes:,} B (budget "
                        f"{budget.arena_bytes:,}), {_work(m)} (budget {budget.time_limit()}): start from a smaller "
                        f"model or raise the limits", "init_from", "max_flash", "max_ram", "max_macs", "max_latency_ms")
    return Chosen(m, [m], Candidate(family, knobs, m.params, m.macs, 0, 0, est_instructions=m.instructions))


def _work(m: Measurement) -> str:
    return f"{m.macs:,} MACs" + (f", ~{m.instructions:,} instructions" if m.instructions is not None else "")


def _choose_pinned(search: Search, c: Candidate, input_shape, classes: int, calibration, budget: Budget,
                   board: Board, engine: Engine, law) -> Chosen:
    """The fully pinned configuration, measured; refused with each pinned knob's nearest fitting value."""
    from tinyml_kit.pipeline.pinned import refuse_pinned

    with progress.task("converting to int8 and measuring the pinned configuration"):
        m = measure(search.family, c.knobs, input_shape, classes, calibration, budget, engine, board)
    if not m.fits:
        raise refuse_pinned(search, m, c, budget, board, input_shape, classes, engine, law, calibration)
    return Chosen(m, [m], c)


def choose(search: Search, pool: list[Candidate], input_shape, classes: int, calibration, budget: Budget,
           board: Board, engine: Engine = TFLM, law=None) -> Chosen:
    """The first candidate whose measured size fits. Estimates are rescaled by what each measurement
    shows, so a miss steps down to a candidate that should fit rather than to the next one in line. `pool`:
    the candidates (`candidates`; `fit` makes them before loading data, to refuse an impossible budget). A fully
    pinned configuration is measured alone, and refused with each pinned knob's nearest fitting value."""
    if search.fully_pinned:
        return _choose_pinned(search, pool[0], input_shape, classes, calibration, budget, board, engine, law)
    flash_ratio = arena_ratio = time_ratio = 1.0
    attempts: list[Measurement] = []
    tried = set()
    for _ in range(MAX_ATTEMPTS):
        fitting = [c for c in pool if may_fit(c, budget, flash_ratio, arena_ratio, time_ratio)
                   and (c.family, str(c.knobs)) not in tried]
        if not fitting:
            break
        c = fitting[0]
        tried.add((c.family, str(c.knobs)))
        interval = (f", interval {c.predicted_interval[0]:.1f}–{c.predicted_interval[1]:.1f}"
                    if c.predicted_interval else "")
        predicted = (f", predicted accuracy {c.predicted_accuracy:.1f} % (on the scaling law's data{interval})"
                     if c.predicted_accuracy else "")
        logger.info(f"verifying {describe(c.family, c.knobs)}: {c.params:,} params, {c.macs:,} MACs, est. flash "
                    f"{c.est_flash:,} B, arena {c.est_arena:,} B{predicted} ...")
        with progress.task(f"converting to int8 and measuring {engine.words.measuring}"):
            m = measure(c.family, c.knobs, input_shape, classes, calibration, budget, engine, board)
        attempts.append(m)
        instructions = f", ~{m.instructions:,} instructions" if m.instructions is not None else ""
        logger.info(f"  measured flash {m.flash_bytes:,} B (budget {budget.flash_bytes:,}), arena "
                    f"{m.arena_alloc_bytes:,} B {engine.words.arena_tag} (budget "
                    f"{budget.arena_bytes:,}), MACs {m.macs:,}{instructions} (budget {budget.time_limit()}): "
                    f"{'fits' if m.fits else 'does not fit'}")
        if m.fits:
            return Chosen(m, attempts, c)
        if c.est_flash:  # rescale by the latest (closest in size) measurement
            flash_ratio = m.flash_bytes / c.est_flash
            arena_ratio = m.arena_alloc_bytes / c.est_arena
        if c.est_instructions and m.instructions:
            time_ratio = m.instructions / c.est_instructions
    smallest = min(pool, key=lambda c: (c.params, c.macs))
    m = next((a for a in attempts if (a.family, a.knobs) == (smallest.family, smallest.knobs)), None)
    if m is None:
        logger.info(f"verifying the smallest, {describe(smallest.family, smallest.knobs)} ...")
        m = measure(smallest.family, smallest.knobs, input_shape, classes, calibration, budget, engine, board)
        attempts.append(m)
        if m.fits:
            return Chosen(m, attempts, smallest)
    raise UserError(
        f"no {lookup(search.family).title if search.family else 'network'} configuration fits flash "
        f"{format_bytes(budget.flash_bytes)} / arena "
        f"{format_bytes(budget.arena_bytes)} / {budget.time_limit()}: the smallest, "
        f"{describe(smallest.family, m.knobs)}, measures flash {m.flash_bytes:,} B, arena {m.arena_alloc_bytes:,} B, "
        f"{_work(m)}: raise the limits, use a smaller input or pick a larger board", "max_flash", "max_ram", "max_macs",
        "max_latency_ms", "input_shape", "board_id")
