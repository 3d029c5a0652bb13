"""A configuration as the solver judges it (`Choice`: its estimates against the budget, its predicted accuracy),
and the typed answer when none fits (`NothingFits`), which the solver raises and the layers above explain
(`solve.search` adds the nearest fitting value of each pinned knob, a search that solves again)."""

from dataclasses import dataclass, field

from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Pin
from tinyml_kit.core.verdict import Verdict
from tinyml_kit.solve.engines import Engine
from tinyml_kit.solve.estimate import Estimate
from tinyml_kit.solve.grid import AnyDepth
from tinyml_kit.solve.latency_estimate import LatencyEstimate

OUT_OF_RANGE_FIX = "widen the pins"   # how `refusal.closest` ends when no configuration is in the laws' range
LIMIT_OPTIONS = ("max_flash", "max_ram", "max_macs", "max_latency_ms", "input_shape", "board_id")


@dataclass
class Choice:
    estimate: Estimate
    predicted_accuracy: float        # percent, int8 validation accuracy on the sweep's task
    arena_alloc_bytes_est: int       # the arena to allocate: estimate plus headroom, compared with the budget
    latency_ms_est: float
    utilization: dict[str, float]    # estimate / limit per constraint the budget has
    latency: LatencyEstimate         # the estimate's latency on the board the choice is judged for
    extrapolated: bool = False       # parameters outside the range the scaling law was fitted on
    interval: float | None = None    # ± points of the law's ~95 % prediction interval at this depth
    basis: str = ""                  # how a depth the sweep did not train is predicted ("" on a swept curve)
    verdict: Verdict = field(default_factory=lambda: Verdict({}), repr=False)   # the estimates against the budget

    def knobs(self) -> dict:
        return self.estimate.knobs()

    @property
    def family(self) -> str:
        return self.estimate.family

    def interval_bounds(self) -> list[float] | None:
        if self.interval is None:
            return None
        return [round(self.predicted_accuracy - self.interval, 2), round(self.predicted_accuracy + self.interval, 2)]

    def to_dict(self) -> dict:
        interval = self.interval_bounds()
        return {**self.estimate.to_dict(), "predicted_accuracy": round(self.predicted_accuracy, 2),
                "predicted_accuracy_interval": interval, "accuracy_extrapolated": self.extrapolated,
                "prediction_basis": self.basis or None,
                "arena_alloc_bytes_est": self.arena_alloc_bytes_est, "latency_ms_est": round(self.latency_ms_est, 2),
                "latency_basis": self.latency.basis,
                "utilization": {k: round(v, 4) for k, v in self.utilization.items()}}



def make_choice(e: Estimate, law: AnyDepth, budget: Budget, board: Board) -> Choice:
    """A configuration's estimates judged against the budget (the engine's headroom rule applied) and its accuracy
    predicted by its family's law, with how far that prediction reaches beyond the sweep."""
    if e.latency is None:
        raise ValueError(f"{e.family} was estimated without a board: a choice is judged on one")
    alloc = e.engine.arena_alloc(e.arena_bytes_est)   # the engine's headroom rule
    verdict = budget.verdict(e.flash_bytes_est, alloc, e.macs, e.latency.cycles)
    used = {k: c.used / c.limit for k, c in verdict.checks.items()}
    off = lookup(e.family).off_sweep(e.config, e.structure)
    if not law.in_domain(e.params, e.depth):
        off.append(f"{e.params:,} params, beyond 1.35x the sizes swept")
    basis = "; ".join(filter(None, [law.basis(e.depth), *off]))
    return Choice(e, law.predict(e.params, e.depth), alloc, e.latency.ms, used, e.latency,
                  law.extrapolated(e.params, e.depth) or bool(off), law.interval(e.depth), basis, verdict)


class NothingFits(UserError):
    """No configuration fits: `closest` is the one-line account of the configuration that comes closest and what
    it misses; the rest is what a caller needs to search for the pins' nearest fitting values."""

    def __init__(self, closest: str, pins: dict[str, Pin], budget: Budget, board: Board, input_shape, classes: int,
                 laws: list, engine: Engine):
        self.in_range = not closest.endswith(OUT_OF_RANGE_FIX)   # some configuration was estimated
        super().__init__(closest + (": raise the limits, use a smaller input or pick a larger board"
                                    if self.in_range else ""), *pins, *LIMIT_OPTIONS)
        self.closest, self.pins, self.budget, self.board = closest, pins, budget, board
        self.input_shape, self.classes, self.laws, self.engine = input_shape, classes, laws, engine
