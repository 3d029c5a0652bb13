"""The configurations the solver searches: each ranked family's axes (`core.family.Family.axes`), narrowed by
the user's pins (`core.pins`), and each family's law made to answer at depths its sweep did not train.

A pinned knob replaces its axis with the pinned values (a range keeps the grid's values inside it and its ends, and
for t0, depth and the stem stride every whole number inside it); a family's plan knobs (PhiNet's divisor,
first-convolution stride, downsampling blocks, 5x5 share) stay at the builder's defaults, which the laws were swept
at, unless pinned.
"""

from collections.abc import Iterator
from itertools import product
from math import prod

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import Family, Knobs, lookup
from tinyml_kit.core.pins import Pin, least_depth

MAX_CONFIGURATIONS = 12_000   # per family: ranges that multiply past this are refused (about 3 s of solving)


def configurations(family: str, depths: list[int], pins: dict[str, Pin] | None = None
                   ) -> Iterator[tuple[Knobs, tuple]]:
    """(the configuration's searched knobs, its plan knobs as (name, value) pairs) of every configuration of
    `family` the pins allow; `depths`: the law's, unless depth is pinned."""
    f = lookup(family)
    for depth, *values, structure in product(*_axes(f, depths, pins or {})):
        yield f.knob_record(*values, depth), structure   # depth is every record's last field


def count_configurations(family: str, depths: list[int], pins: dict[str, Pin] | None = None) -> int:
    return prod(len(a) for a in _axes(lookup(family), depths, pins or {}))


def require_searchable(depths: dict[str, list[int]], pins: dict[str, Pin]) -> None:
    """Ranges that multiply into more configurations than a solve of seconds are refused, naming them.
    `depths`: each family's law depths."""
    for family, law_depths in depths.items():
        n = count_configurations(family, law_depths, pins)
        if n > MAX_CONFIGURATIONS:
            ranges = [k for k, p in pins.items() if not p.fixed]
            raise UserError(f"the pins make {n:,} {lookup(family).title} configurations to rank (at most "
                            f"{MAX_CONFIGURATIONS:,}): narrow or fix one of "
                            f"{', '.join(map(param, ranges))}", *ranges)


def _axes(f: Family, depths: list[int], pins: dict[str, Pin]) -> list:
    """Depth, then the family's other searched knobs and its pinned plan knobs, each as the pins leave it."""
    def axis(knob: str, grid: tuple) -> tuple:
        return pins[knob].axis(grid) if knob in pins else grid

    # depth from the family's least, and deep enough for every downsampling block pinned (a free depth goes as deep
    # as it asks)
    need = least_depth(f, pins)
    deep = tuple(d for d in axis("depth", tuple(depths)) if d >= need)
    names = [k for k in f.plan if k in pins]
    structures = [tuple(zip(names, combo, strict=True))
                  for combo in product(*(pins[k].axis(f.plan[k].grid) for k in names))]
    return [deep if deep or "depth" in pins else (need,), *(axis(k, f.axes[k]) for k in f.searched if k != "depth"),
            structures]


class AnyDepth:
    """A family's law answering at every depth: at a swept depth, its own curve; between two swept depths, the
    two curves' predictions weighed by distance in depth; beyond them, the nearest curve. Anything not on a swept
    curve, or outside its swept sizes, counts as extrapolated."""

    def __init__(self, law):
        self.law = law
        self.family = law.family
        self.depths = law.depths

    def _neighbours(self, depth: int) -> list[tuple[int, float]]:
        """(swept depth, weight) pairs whose weighted predictions make this depth's."""
        if depth in self.law.curves:
            return [(depth, 1.0)]
        below = [d for d in self.depths if d < depth]
        above = [d for d in self.depths if d > depth]
        if not below or not above:
            return [((below or above)[-1 if below else 0], 1.0)]
        lo, hi = below[-1], above[0]
        w = (depth - lo) / (hi - lo)
        return [(lo, 1 - w), (hi, w)]

    def predict(self, params: int, depth: int) -> float:
        return sum(w * self.law.predict(params, d) for d, w in self._neighbours(depth))

    def in_domain(self, params: int, depth: int) -> bool:
        return any(self.law.in_domain(params, d) for d, _ in self._neighbours(depth))

    def extrapolated(self, params: int, depth: int) -> bool:
        return depth not in self.law.curves or self.law.extrapolated(params, depth)

    def basis(self, depth: int) -> str:
        """How a depth's prediction is made, when it is not on a swept curve ("" when it is)."""
        near = self._neighbours(depth)
        if depth in self.law.curves:
            return ""
        if len(near) == 2:
            return f"depth {depth} not swept: between the depth-{near[0][0]} and depth-{near[1][0]} curves"
        return f"depth {depth} not swept: on the depth-{near[0][0]} curve"

    def interval(self, depth: int) -> float | None:
        found = [self.law.interval(d) for d, _ in self._neighbours(depth)]
        return None if None in found else max(found)
