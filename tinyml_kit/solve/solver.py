"""The most accurate network a board can hold, whatever its family: each family's accuracy law, conversion-free
costs, the board's limits.

For every configuration on each family's grid (its searched knobs, `core.family`) the plan gives parameters, MACs and a
lower bound on the activations in microseconds; configurations that cannot fit are dropped on those alone. The rest, all
families together, are taken in order of predicted accuracy and given the full flash and arena estimates (a few ms each)
until enough fit, and until each family's best fitting configuration is known, so the answer says what every other
family would have given. No TensorFlow: the whole command answers in well under a second.
"""

import time
from dataclasses import dataclass, field
from functools import lru_cache

from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget, make_budget, model_ram_bytes
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import RANKED_NAMES, Knobs, lookup, title
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.pins import Pin, chosen_knobs
from tinyml_kit.core.verdict import fits
from tinyml_kit.solve.choice import Choice, NothingFits, make_choice
from tinyml_kit.solve.costs import PlanCosts
from tinyml_kit.solve.engines import DEFAULT, Engine, get_engine
from tinyml_kit.solve.estimate import Estimate, estimate_from_graph
from tinyml_kit.solve.families import estimator
from tinyml_kit.solve.grid import AnyDepth, configurations, require_searchable
from tinyml_kit.solve.latency_estimate import LatencyEstimate
from tinyml_kit.solve.refusal import closest
from tinyml_kit.solve.scaling_law import ScalingLaw, load_laws
from tinyml_kit.solve.time_screen import over_time, series_key

CONSTRAINTS = ("flash", "arena", "macs", "latency")   # latency: predicted cycles, on the emulated cores
FRONTIER_STEP = 0.5   # accuracy points between frontier rows


@dataclass
class Solution:
    board: Board
    budget: Budget
    input_shape: tuple[int, int, int]
    classes: int
    best: Choice
    runner_ups: list[Choice]
    binding: str                     # the limit the choice is closest to, or "none"
    rejected_by: dict[str, int] = field(default_factory=dict)   # more accurate configurations, by violated limit
    families: dict[str, Choice | None] = field(default_factory=dict)   # each ranked family's best fitting choice
    evaluated: int = 0
    seconds: float = 0.0
    engine: Engine = DEFAULT
    pins: dict[str, Pin] = field(default_factory=dict)   # what the user fixed; the rest was searched
    laws: list = field(default_factory=list, repr=False)  # what it was ranked by (ScalingLaw), to solve again

    def chosen(self) -> dict:
        """The best configuration's knobs the solver chose: the free ones, and its pick within a list or range."""
        return chosen_knobs(self.best.knobs(), self.pins)

    def to_dict(self) -> dict:
        return {"board": self.board.id, "engine": self.engine.name, "input_shape": list(self.input_shape),
                "classes": self.classes,
                **self.best.to_dict(), "binding_constraint": self.binding,
                "limits": self.budget.to_dict(),
                "runner_ups": [c.to_dict() for c in self.runner_ups], "rejected_by": self.rejected_by,
                "families": {f: c.to_dict() if c else None for f, c in self.families.items()},
                "configurations_estimated": self.evaluated, "seconds": round(self.seconds, 3)}


@dataclass
class _Screened:
    family: str
    knobs: Knobs
    params: int
    macs: int
    flash_floor: int
    arena_floor: int
    accuracy: float
    structure: tuple = ()      # PhiNet's pinned plan knobs, as (name, value) pairs

    def graph(self, input_shape, classes: int) -> tuple[Graph, PlanCosts]:
        return estimator(self.family).graph(self.knobs, dict(self.structure), input_shape, classes)

    def estimate(self, input_shape, classes: int, engine: Engine, board: Board | None = None,
                 graph: tuple[Graph, PlanCosts] | None = None, latency: LatencyEstimate | None = None) -> Estimate:
        """In full; `graph` and `latency` when the caller has them already."""
        g, costs = graph or self.graph(input_shape, classes)
        return estimate_from_graph(g, costs, engine, self.knobs, self.family, board, latency, dict(self.structure))


@lru_cache(maxsize=1 << 16)   # what each pin costs is a few more solves over mostly the same configurations
def _costs(family: str, knobs: Knobs, structure: tuple, input_shape, classes: int) -> PlanCosts:
    return estimator(family).costs(knobs, dict(structure), input_shape, classes)


def _screen(laws, input_shape, classes: int, engine: Engine = DEFAULT, pins: dict[str, Pin] | None = None
            ) -> list[_Screened]:
    """`laws`: the laws to screen by (an iterable of ScalingLaw). Configurations far outside the sizes a law
    was fitted on are dropped, unless the pins leave a family nothing else (then they count as extrapolated)."""
    rows = []
    for law in laws:
        inside: list[_Screened] = []
        outside: list[_Screened] = []
        for knobs, structure in configurations(law.family, law.depths, pins):
            c, depth = _costs(law.family, knobs, structure, tuple(input_shape), classes), knobs.depth
            row = _Screened(law.family, knobs, c.params, c.macs, *engine.floors(c), law.predict(c.params, depth),
                            structure)
            (inside if law.in_domain(c.params, depth) else outside).append(row)
        rows += inside or (outside if pins else [])
    return rows


def _rejected_early(s: _Screened, budget: Budget) -> str | None:
    """The limit a configuration misses on its floors alone (MACs first), or None."""
    missed = budget.verdict(s.flash_floor, s.arena_floor, s.macs).misses
    return next((k for k in ("macs", "flash", "arena") if k in missed), None)


def _possible(screened: list[_Screened], budget: Budget, input_shape, classes: int, board: Board, engine: Engine
              ) -> tuple[list[_Screened], list[tuple[float, str]]]:
    """The configurations whose floors and time bound fit, most accurate first, and (predicted accuracy,
    violated limit) of each one dropped."""
    reasons: list[tuple[float, str]] = []
    possible = []
    for s in screened:
        why = _rejected_early(s, budget)
        if why:
            reasons.append((s.accuracy, why))
        else:
            possible.append(s)
    if budget.cycles is not None:
        slow = over_time(possible, input_shape, classes, board, engine, budget.cycles)
        reasons += [(s.accuracy, "latency") for i, s in enumerate(possible) if i in slow]
        possible = [s for i, s in enumerate(possible) if i not in slow]
    possible.sort(key=lambda s: (-s.accuracy, s.macs))
    return possible, reasons


def _laws(law: ScalingLaw | list[ScalingLaw] | None, pins: dict[str, Pin] | None = None) -> dict[str, AnyDepth]:
    """The laws to rank by, keyed by family: the shipped one of every family, or the user's; with pins, the
    families that have every pinned knob."""
    laws = load_laws() if law is None else law if isinstance(law, list) else [law]
    pins = pins or {}
    for x in laws:
        if x.family not in RANKED_NAMES:
            raise UserError(f"a law of {title(x.family)} cannot be ranked: the solver ranks "
                            f"{', '.join(title(f) for f in RANKED_NAMES)}; sweep one of those ({param('arch')})", "law")
    kept = {x.family: AnyDepth(x) for x in laws if all(lookup(x.family).has(k) for k in pins)}
    if not kept:
        raise UserError(f"no family ranked here has all of {' '.join(map(param, pins))}: "
                        f"rank another family ({param('arch')}) or drop the pin", *pins, "arch")
    return kept


def solve(board: Board, max_flash: int | None = None, max_ram: int | None = None, max_macs: int | None = None,
          max_latency_ms: float | None = None, input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10,
          law: ScalingLaw | list[ScalingLaw] | None = None, runner_ups: int = 4, budget: Budget | None = None,
          engine: Engine | str = DEFAULT, pins: dict[str, Pin] | None = None) -> Solution:
    """`budget` replaces the board's budget and the max_* limits when given (fit passes the one it made).
    `engine` "c" costs each configuration as the C engine compiles it instead of as a .tflite on TFLM. `law`: one
    family's law or several (default: every shipped family's); only families with a law are ranked. `pins`: the
    knobs the user fixed or bounded (`core.pins`); the free ones are searched, and families without a pinned knob
    dropped. Nothing fitting raises `NothingFits`, naming the closest configuration (`solve.search` adds each
    pinned knob's nearest fitting value)."""
    start = time.perf_counter()
    pins, engine = pins or {}, get_engine(engine)
    by_family = _laws(law, pins)
    require_searchable({f: x.depths for f, x in by_family.items()}, pins)
    budget = budget or make_budget(board, max_flash, max_ram, max_macs, max_latency_ms)
    screened = _screen(by_family.values(), input_shape, classes, engine, pins)
    possible, reasons = _possible(screened, budget, input_shape, classes, board, engine)
    found: list[Choice] = []
    families: dict[str, Choice | None] = {f: None for f in by_family}
    evaluated = 0
    too_slow: dict[tuple, float] = {}   # per series, the narrowest width found over the time budget
    for s in possible:
        if len(found) > runner_ups and families[s.family] is not None:
            continue     # enough runner-ups, and this family's best fitting configuration is known
        series = series_key(s)
        if s.knobs.alpha >= too_slow.get(series, float("inf")):
            reasons.append((s.accuracy, "latency"))   # wider than a configuration of its series that misses
            continue
        graph = s.graph(input_shape, classes)   # time first: it rejects most, and costs a third of the rest
        latency = engine.latency(graph[0], graph[1].macs, board, ram_bytes=model_ram_bytes(board, budget))
        if budget.cycles is not None and (latency.cycles or 0) > budget.cycles:
            reasons.append((s.accuracy, "latency"))
            too_slow[series] = min(s.knobs.alpha, too_slow.get(series, float("inf")))
            continue
        evaluated += 1
        choice = make_choice(s.estimate(input_shape, classes, engine, board, graph, latency), by_family[s.family],
                         budget, board)
        bad = choice.verdict.misses
        if bad:
            reasons.append((s.accuracy, bad[0]))
            continue
        if families[s.family] is None:
            families[s.family] = choice
        if len(found) <= runner_ups:
            found.append(choice)
        if len(found) > runner_ups and all(families.values()):
            break
    if not found:
        raise NothingFits(closest(screened, input_shape, classes, by_family, budget, board, engine, pins), pins,
                          budget, board, input_shape, classes, [x.law for x in by_family.values()], engine)
    best = found[0].predicted_accuracy
    rejected = {k: sum(1 for acc, why in reasons if why == k and acc > best) for k in CONSTRAINTS}
    # the tightest limit at the choice; "none" when nothing more accurate was turned away (the scaling laws'
    # swept ranges, not the board, set the ceiling)
    binding = (max(found[0].utilization, key=found[0].utilization.__getitem__) if any(rejected.values()) else "none")
    return Solution(board, budget, input_shape, classes, found[0], found[1:], binding, rejected, families, evaluated,
                    time.perf_counter() - start, engine, pins, [x.law for x in by_family.values()])


def frontier(board: Board, input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10,
             law: ScalingLaw | list[ScalingLaw] | None = None, budget: Budget | None = None,
             engine: Engine | str = DEFAULT) -> list[dict]:
    """The accuracy a bigger budget buys: one configuration per half point of predicted accuracy, the one with
    the fewest parameters reaching it (any family), within the sizes the laws were fitted on. `fits_board` is
    judged against `budget` (default: the board's)."""
    from tinyml_kit.core.boards import load_boards

    by_family, engine = _laws(law), get_engine(engine)
    boards = [b for b in load_boards().values() if b.tflm_supported]
    screened = _screen(by_family.values(), input_shape, classes, engine)
    screened.sort(key=lambda s: (s.params, s.macs))
    best_acc, steps = -1e9, []
    for s in screened:
        if s.accuracy > best_acc + FRONTIER_STEP:
            best_acc = s.accuracy
            steps.append(s)
    budget = budget or make_budget(board)
    points = []
    for s in steps:
        c = make_choice(s.estimate(input_shape, classes, engine, board), by_family[s.family], budget, board)
        on = [b.id for b in boards if fits(flash=(c.estimate.flash_bytes_est, b.flash_budget_bytes),
                                           arena=(c.arena_alloc_bytes_est, b.arena_budget_bytes)).ok]
        points.append(c.to_dict() | {"fits_board": c.verdict["flash"].ok and c.verdict["arena"].ok,
                                     "boards_that_fit": on})
    return points


def most_accurate(input_shape: tuple[int, int, int], classes: int, min_params: int,
                  law: ScalingLaw | list[ScalingLaw] | None = None,
                  max_params: int | None = None) -> tuple[str, dict] | None:
    """(family, knobs) of the network the laws rate most accurate among those with at least `min_params`
    parameters (fewer parameters on a tie), any ranked family, provided it is rated more accurate than anything
    smaller (a larger network is no teacher if a smaller one is predicted better); else None. For sizing a
    teacher, where no board limits apply. `max_params`: also at most this many (a teacher-assistant)."""
    screened = _screen(_laws(law).values(), input_shape, classes)
    large = [s for s in screened if min_params <= s.params <= (max_params or s.params)]
    if not large:
        return None
    s = max(large, key=lambda s: (s.accuracy, -s.params))
    if s.accuracy <= max((x.accuracy for x in screened if x.params < min_params), default=float("-inf")):
        return None
    return s.family, s.knobs.as_dict()
