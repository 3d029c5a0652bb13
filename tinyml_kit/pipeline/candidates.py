"""The configurations `fit` may train, before anything is converted: for the families the solver ranks (`auto`:
all of them together; or one alone) its ranking by predicted accuracy on conversion-free estimates; for other
architectures their grid, largest first, with rough estimates; a fully pinned configuration alone, refused from its
estimates when they miss a limit by far.
"""

import logging
from dataclasses import dataclass, replace
from itertools import product

from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Search, pins_json
from tinyml_kit.core.record_sections import SearchRecord
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import activation_peak_bytes, model_costs
from tinyml_kit.solve.engines import DEFAULT, Engine

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8   # configurations `fit` converts and measures before it gives up


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
    est_cycles: int | None = None          # on the board, where its core is emulated (ranked families only)
    estimates_own: bool = True             # False: the estimates are another model's (a styled PhiNet's SE twin)


def may_fit(c: Candidate, budget: Budget, flash_ratio: float, arena_ratio: float, time_ratio: float = 1.0) -> bool:
    """Whether a candidate's estimates, rescaled by what the last measurement showed, fit the budget."""
    cycles = c.est_cycles * time_ratio if c.est_cycles is not None else None
    return budget.verdict(c.est_flash * flash_ratio, c.est_arena * arena_ratio, c.macs, cycles).ok


def candidates(search: Search, input_shape: tuple[int, int, int], classes: int, board: Board, budget: Budget,
               engine: Engine = DEFAULT, law=None,
               runner_ups: int = MAX_ATTEMPTS - 1) -> tuple[list[Candidate], SearchRecord]:
    """Configurations to verify, best first, and what the pins cost (`solve.search.explanation`; empty without
    pins). Ranked families: the solver's choice and runner-ups within the pins (highest predicted accuracy,
    conversion-free estimates), ranked by `law` (the user's ScalingLaw, or a list; None: the shipped ones of the
    searched families). Other architectures:
    their grid narrowed by the pins, largest first, rough estimates. A fully pinned configuration: itself, with
    its estimates where the solver has them. `runner_ups`: how many after the solver's choice."""
    pinned = SearchRecord(pins_json(search.pins), fully_pinned=search.fully_pinned)
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
                     c.estimate.latency.cycles)


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
                          e.macs, int((e.latency.cycles or 0) / ESTIMATE_MARGIN) or None).ok:
        solve_search(board, ranked_search(search.families, search.pins, search.asked), budget, input_shape, classes,
                     engine, law, 0)   # refuses it with the solver's words: by how much, and the nearest that fit
    return _from_choice(c)


def unranked_grid(search: Search, input_shape, classes: int, engine: Engine) -> list[Candidate]:
    """An unranked family's grid, each knob's axis narrowed (or replaced) by its pin; rough estimates."""
    grid = lookup(search.family).grid
    names = list(grid[0])
    axes = [search.pins[k].axis(tuple(sorted({g[k] for g in grid}))) if k in search.pins
            else tuple(sorted({g[k] for g in grid})) for k in names]
    found = []
    for values in product(*axes):
        knobs = dict(zip(names, values, strict=False))
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
    return [replace(c, knobs={**c.knobs, **style}, predicted_accuracy=None, predicted_interval=None,
                    estimates_own=False) for c in pool]
