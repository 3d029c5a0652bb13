"""Choose the model to train: the first candidate (`pipeline.candidates`) whose measured int8 model, as its engine
runs it (`pipeline.measure`), fits.

Every claim of fitting comes from converting and measuring.
"""

import logging
from dataclasses import dataclass

from tinyml_kit.core import progress
from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Search
from tinyml_kit.core.spec import describe
from tinyml_kit.core.units import format_bytes
from tinyml_kit.core.verification import Measurement
from tinyml_kit.pipeline.candidates import MAX_ATTEMPTS, Candidate, may_fit
from tinyml_kit.pipeline.measure import measure, measure_model
from tinyml_kit.solve.engines import DEFAULT, Engine

logger = logging.getLogger(__name__)



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
                 engine: Engine = DEFAULT) -> Chosen:
    """A given model (`fit --init-from`), measured as it is: it is trained if it fits, refused by how much if not."""
    with progress.task("converting to int8 and measuring"):
        m = measure_model(model, family, knobs, calibration, budget, engine, board)
    if not m.fits:
        raise UserError(f"the {param('init_from')} model does not fit {board.id}: it measures flash "
                        f"{m.flash_bytes:,} B (budget {budget.flash_bytes:,}), arena {m.arena_alloc_bytes:,} B (budget "
                        f"{budget.arena_bytes:,}), {_work(m)} (budget {budget.time_limit()}): start from a smaller "
                        f"model or raise the limits", "init_from", "max_flash", "max_ram", "max_macs", "max_latency_ms")
    return Chosen(m, [m], Candidate(family, knobs, m.params, m.macs, 0, 0, est_cycles=m.cycles))


def _work(m: Measurement) -> str:
    return f"{m.macs:,} MACs" + (f", ~{m.cycles:,} cycles" if m.cycles is not None else "")


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
           board: Board, engine: Engine = DEFAULT, law=None) -> Chosen:
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
        cycles = f", ~{m.cycles:,} cycles" if m.cycles is not None else ""
        logger.info(f"  measured flash {m.flash_bytes:,} B (budget {budget.flash_bytes:,}), arena "
                    f"{m.arena_alloc_bytes:,} B {engine.words.arena_tag} (budget "
                    f"{budget.arena_bytes:,}), MACs {m.macs:,}{cycles} (budget {budget.time_limit()}): "
                    f"{'fits' if m.fits else 'does not fit'}")
        if m.fits:
            return Chosen(m, attempts, c)
        if c.est_flash:  # rescale by the latest (closest in size) measurement
            flash_ratio = m.flash_bytes / c.est_flash
            arena_ratio = m.arena_alloc_bytes / c.est_arena
        if c.est_cycles and m.cycles:
            time_ratio = m.cycles / c.est_cycles
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
