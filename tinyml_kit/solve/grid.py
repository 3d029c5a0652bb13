"""The configurations the solver searches: each ranked family's grid, narrowed by the user's pins
(`core.pins`), and each family's law made to answer at depths its sweep did not train.

A pinned knob replaces its axis with the pinned values (a range keeps the grid's values inside it and its ends, and
for t0, depth and the stem stride every whole number inside it); PhiNet's structural knobs (divisor,
first-convolution stride, downsampling blocks, 5x5 share) stay at the builder's defaults, which the laws were swept
at, unless pinned.
"""

from itertools import product
from math import prod

from tinyml_kit.core.pins import PHINET_MIN_DEPTH, Pin
from tinyml_kit.core.spec import PHINET_DOWNSAMPLING

ALPHAS = tuple(round(0.05 * i, 2) for i in range(2, 21)) + tuple(round(1.0 + 0.1 * i, 2) for i in range(1, 21))
BETAS = (0.75, 1.0, 1.35)
T0S = (3, 4, 5, 6)
WIDTHS = tuple(0.125 * i for i in range(2, 25))    # ResNet's and TinyNet's: 0.25 … 3.0
SWEPT = {"beta": (0.75, 1.35), "t0": (3, 6)}   # PhiNet's sweeps (bench/grids), held-out points included
STRUCTURE_DEFAULTS = {"divisor": 1, "first_conv_stride": 2, "downsampling_layers": PHINET_DOWNSAMPLING,
                      "conv5_percent": 0.0}
STRUCTURE_GRIDS = {"divisor": (1, 2, 4, 8, 16, 32, 64), "first_conv_stride": (1, 2), "downsampling_layers": (),
                   "conv5_percent": (0.0, 0.25, 0.5, 0.75, 1.0)}   # PhiNet's plan knobs, searched only if pinned


MAX_CONFIGURATIONS = 12_000   # per family: ranges that multiply past this are refused (about 3 s of solving)


def configurations(family: str, depths: list[int], pins: dict[str, Pin] | None = None):
    """(knobs in the estimator's argument order, PhiNet structure as (name, value) pairs) of every configuration
    of `family` the pins allow; `depths`: the law's, unless depth is pinned."""
    axes = _axes(family, depths, pins or {})
    if family != "phinet":
        for depth, width in product(*axes):
            yield (width, depth), ()
        return
    for depth, alpha, beta, t0, structure in product(*axes):
        yield (alpha, beta, t0, depth), structure


def count_configurations(family: str, depths: list[int], pins: dict[str, Pin] | None = None) -> int:
    return prod(len(a) for a in _axes(family, depths, pins or {}))


def require_searchable(depths: dict[str, list[int]], pins: dict[str, Pin]) -> None:
    """Ranges that multiply into more configurations than a solve of seconds are refused, naming them.
    `depths`: each family's law depths."""
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.core.spec import FAMILY_TITLES

    for family, law_depths in depths.items():
        n = count_configurations(family, law_depths, pins)
        if n > MAX_CONFIGURATIONS:
            ranges = [k for k, p in pins.items() if not p.fixed]
            raise UserError(f"the pins make {n:,} {FAMILY_TITLES[family]} configurations to rank (at most "
                            f"{MAX_CONFIGURATIONS:,}): narrow or fix one of --"
                            f"{', --'.join(k.replace('_', '-') for k in ranges)}", *ranges)


def _axes(family: str, depths: list[int], pins: dict[str, Pin]) -> list[tuple]:
    """Depth, width and (PhiNet) beta, t0 and the structures, each as the pins leave it."""
    def axis(knob: str, grid: tuple) -> tuple:
        return pins[knob].axis(grid) if knob in pins else grid

    depth_axis = axis("depth", tuple(depths))
    if family != "phinet":
        return [depth_axis, axis("alpha", WIDTHS)]
    # N from 4, and deep enough for a downsampling block pinned off the default (a free N goes as deep as it asks)
    layers = pins["downsampling_layers"].value if "downsampling_layers" in pins else ()
    need = max((PHINET_MIN_DEPTH, *(layers if layers != PHINET_DOWNSAMPLING else ())))
    deep = tuple(d for d in depth_axis if d >= need)
    names = [k for k in STRUCTURE_GRIDS if k in pins]
    structures = [tuple(zip(names, combo)) for combo in product(*(pins[k].axis(STRUCTURE_GRIDS[k]) for k in names))]
    return [deep if deep or "depth" in pins else (need,), axis("alpha", ALPHAS), axis("beta", BETAS),
            axis("t0", T0S), structures]


def off_sweep(family: str, beta: float | None, t0: float | None, structure: dict) -> list[str]:
    """What of a PhiNet's configuration lies outside what its law's sweep trained (the law predicts from
    parameters and depth alone, so these predictions are extrapolated)."""
    if family != "phinet":
        return []
    found = [f"{k} {v:g} outside the swept {lo:g}-{hi:g}" for k, v, (lo, hi) in
             (("beta", beta, SWEPT["beta"]), ("t0", t0, SWEPT["t0"])) if not lo <= v <= hi]
    return found + [f"{k} {_text(v)} (swept at {_text(STRUCTURE_DEFAULTS[k])})" for k, v in structure.items()
                    if v != STRUCTURE_DEFAULTS[k]]


def _text(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else f"{v:g}"


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
