"""A fully pinned model that measures too large: by how much it misses each limit, and the nearest value of each
pinned knob at which something fits with the other pins kept.

The nearest values come from estimates (the solver's, or the rough ones of a family without a law), corrected
by how far the pinned model's own measurement was from its estimate, so one line tells the user what to change.
"""

from dataclasses import replace

from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.pins import Search
from tinyml_kit.core.spec import describe
from tinyml_kit.core.units import format_bytes
from tinyml_kit.core.verdict import Verdict
from tinyml_kit.pipeline.candidates import may_fit, unranked_grid
from tinyml_kit.pipeline.measure import measure
from tinyml_kit.solve.engines import Engine
from tinyml_kit.solve.nearest import nearest_text

MEASURED_TRIES = 3   # conversions spent finding a fitting value of an unranked family's pinned knob


def refuse_pinned(search: Search, m, estimate, budget: Budget, board: Board, input_shape, classes: int, engine: Engine,
                  law, calibration) -> UserError:
    """`m`: the pinned model's measurement (`measure.Measurement`); `estimate`: its candidate, with estimates when
    the solver has them; `calibration`: images to convert the nearest values of a family without a law."""
    if search.ranked and not search.style:
        hint = nearest_text(_nearest_ranked(search, m, estimate, budget, board, input_shape, classes, engine, law),
                            " (estimated)")
    elif not search.ranked:
        hint = nearest_text(_nearest_on_grid(search, m, budget, board, input_shape, classes, engine, calibration),
                            " (by estimates, each checked by converting)")
    else:
        hint = (f"; the nearest values are not estimated for {', '.join(f'{k} {v}' for k, v in search.style.items())}"
                f": change a pin or raise the limits")
    return UserError(f"{describe(search.family, m.knobs)} does not fit {board.id}: it measures "
                     f"{', '.join(measured_misses(m, budget))}{hint}", *search.pins, *search.style, "max_flash",
                     "max_ram", "max_macs", "max_latency_ms", "board_id")


def measured_misses(m, budget: Budget) -> list[str]:
    """`flash 412,000 B > 400,000 B (+11.7 KiB)` for each limit the measurement misses, as `Budget.verdict`
    (the one judge of fitting) finds them."""
    return verdict_misses(budget.verdict(m.flash_bytes, m.arena_alloc_bytes, m.macs, m.cycles), budget)


def verdict_misses(verdict: Verdict, budget: Budget) -> list[str]:
    """Each limit `verdict` misses, with the figure, the limit and by how much."""
    words = {"flash": lambda c: f"flash {c.used:,} B > {c.limit:,} B (+{format_bytes(c.used - c.limit)})",
             "arena": lambda c: f"arena {c.used:,} B > {c.limit:,} B (+{format_bytes(c.used - c.limit)})",
             "macs": lambda c: f"{c.used:,} MACs > {c.limit:,}",
             "latency": lambda c: f"~{c.used:,} cycles > {c.limit:,} ({budget.latency_ms:g} ms)"}
    return [words[name](verdict[name]) for name in verdict.misses]


def _corrected(budget: Budget, m, est_flash: int, est_arena: int, est_cycles: int | None) -> Budget:
    """The budget as the estimates see it: tightened by each ratio the measurement showed estimates fall short."""
    def scale(limit, estimated, measured):
        if limit is None or not estimated or not measured or measured <= estimated:
            return limit
        return int(limit * estimated / measured)

    return replace(budget, flash_bytes=scale(budget.flash_bytes, est_flash, m.flash_bytes),
                   arena_bytes=scale(budget.arena_bytes, est_arena, m.arena_alloc_bytes),
                   cycles=scale(budget.cycles, est_cycles, m.cycles))


def _nearest_ranked(search: Search, m, estimate, budget: Budget, board: Board, input_shape, classes: int,
                    engine: Engine, law) -> dict[str, str]:
    from tinyml_kit.solve.nearest import nearest_fitting
    from tinyml_kit.solve.search import ranked_search, search_laws

    ranked = ranked_search(search.families, search.pins, search.asked)
    corrected = _corrected(budget, m, estimate.est_flash, estimate.est_arena, estimate.est_cycles)
    return nearest_fitting(search.pins, corrected, board, input_shape, classes, search_laws(ranked, law), engine)


def _nearest_on_grid(search: Search, m, budget: Budget, board: Board, input_shape, classes: int, engine: Engine,
                     calibration) -> dict[str, str]:
    """A family without a law: for each pinned knob, its grid values ordered by distance from the pin, those the
    rough estimates of `candidates.candidates` (rescaled by the pinned model's measurement) let through measured in
    turn, up to MEASURED_TRIES; the first that measures within the budget is the nearest."""

    own = unranked_grid(search, input_shape, classes, engine)[0]   # the pinned model, roughly estimated
    flash_ratio, arena_ratio = m.flash_bytes / own.est_flash, m.arena_alloc_bytes / own.est_arena
    found = {}
    for knob, pin in search.pins.items():
        free = Search(search.families, {k: p for k, p in search.pins.items() if k != knob})
        may = sorted((c for c in unranked_grid(free, input_shape, classes, engine)
                      if not pin.allows(c.knobs[knob]) and may_fit(c, budget, flash_ratio, arena_ratio)),
                     key=lambda c: pin.distance(c.knobs[knob]))
        found[knob] = next((f"{c.knobs[knob]:g}" for c in may[:MEASURED_TRIES]
                            if measure(search.family, c.knobs, input_shape, classes, calibration, budget, engine,
                                       board).fits), "none")
    return found
