"""The model families as records: one `Family` per family (PhiNet, ResNet, TinyNet, the MobileNets, ResNet-8), the
one place that says what a family has, searches and allows.

Design. The stages are layered (core knows only plain data and never reaches TensorFlow; solve builds on core; nets
comes later), so the record holds every fact that needs no later stage: its knobs and the builder argument each
maps to, what the solver searches and on which axes, the grid `fit` measures, the values tried when nothing fits,
its plan knobs and the depth rule. The parts that belong to a later stage are attached in that stage by a
registry keyed by `Family.name`: `solve.families.ESTIMATORS` (conversion-free graph and costs of a ranked
family's configuration) and `nets.BUILDERS` (its Keras builder); a test checks both registries cover the families
they should. Code that depends on the family asks the record (or a registry) instead of comparing names, and the
CLI and API resolve a family's name once, with `lookup(name)`.

A configuration the solver ranks carries its searched knobs as a typed record (`WidthDepth`, `PhiNetKnobs`,
`Family.record`), not as a tuple padded with None where a family lacks a knob.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.spec import AUTO, PHINET_DOWNSAMPLING


class WidthDepth(NamedTuple):
    """A configuration of a width-and-depth family: ResNet (width, residual blocks per stage) or TinyNet (width,
    blocks). Named tuples: the solver hashes hundreds of thousands of them into its cost cache."""
    alpha: float
    depth: int

    def as_dict(self) -> dict:
        return self._asdict()


class PhiNetKnobs(NamedTuple):
    """A PhiNet configuration: width α, expansion growth β, base expansion t0 and N blocks."""
    alpha: float
    beta: float
    t0: float
    depth: int

    def as_dict(self) -> dict:
        return self._asdict()


Knobs = WidthDepth | PhiNetKnobs


@dataclass(frozen=True)
class PlanKnob:
    """A knob of the block plan that the laws were swept at its `default` only: searched when pinned, and then
    over `grid` inside a pinned range (empty: the pinned value is the only one)."""
    default: object
    grid: tuple = ()


def _frozen(mapping: dict) -> MappingProxyType:
    return MappingProxyType(mapping)


@dataclass(frozen=True, eq=False)
class Family:
    """Everything about one family that needs no later stage. One instance per family (compared by identity)."""
    name: str                   # as --arch takes it
    title: str                  # as messages and reports name it
    knobs: MappingProxyType     # common knob (as `inspect`, `fit` and `build` take it) -> the builder's argument
    searched: tuple[str, ...]   # what the solver ranks over (and `sweep` varies)
    grid: tuple[MappingProxyType, ...] = ()   # unranked: what `fit` measures; ranked: `sweep --grid small`
    ranked: bool = False        # a shipped accuracy law and conversion-free estimates
    record: Callable[..., Knobs] | None = None   # the typed knobs of a ranked configuration: its fields are
    # `searched`, in order
    axes: MappingProxyType = field(default_factory=lambda: _frozen({}))     # the solver's grid per searched knob
    # but depth (the law's swept depths give that one)
    nearest: MappingProxyType = field(default_factory=lambda: _frozen({}))  # values tried per pinned knob when
    # nothing fits
    plan: MappingProxyType = field(default_factory=lambda: _frozen({}))     # PlanKnob per plan knob
    swept: MappingProxyType = field(default_factory=lambda: _frozen({}))    # (low, high) of the knobs the law was
    # swept over but does not take (it predicts from parameters and depth): outside, a prediction is extrapolated
    min_depth: int = 1
    min_depth_reason: str = ""  # why depth starts at `min_depth`, when above 1
    alias_of: str = ""          # a family that is one point of a ranked one (`alias_knobs` pinned)
    alias_knobs: MappingProxyType = field(default_factory=lambda: _frozen({}))
    labels: MappingProxyType = field(default_factory=lambda: _frozen({}))   # short knob names for tables
    sweep_defaults: MappingProxyType = field(default_factory=lambda: _frozen({}))   # a searched knob's value where
    # a sweep's grid file does not list it

    def short(self, knobs: dict) -> str:
        """`PhiNet a=0.5 b=1 t0=6 N=7`, as compact tables name a configuration."""
        return " ".join([self.title, *(f"{self.labels.get(k, k)}={v:g}" for k, v in knobs.items())])

    def has(self, knob: str) -> bool:
        return knob in self.knobs

    def configuration(self, values: dict) -> Knobs:
        """The typed record of a ranked configuration from its searched knobs by name."""
        return self.knob_record(*(values[k] for k in self.searched))

    def knob_record(self, *values) -> Knobs:
        """The typed record of a ranked configuration from its searched knobs in order."""
        assert self.record is not None, f"{self.title} is not ranked"
        return self.record(*values)

    def least_depth(self, downsampling_layers: tuple[int, ...] = ()) -> int:
        """The smallest depth allowed: `min_depth`, and deep enough for every block the user lists as halving the
        resolution (blocks beyond the depth do not exist)."""
        return max((self.min_depth, *downsampling_layers))

    def off_sweep(self, knobs: Knobs, structure: dict) -> list[str]:
        """What of a configuration lies outside what its law's sweep trained (the law predicts from parameters and
        depth alone, so these predictions are extrapolated)."""
        found = [f"{k} {getattr(knobs, k):g} outside the swept {lo:g}-{hi:g}" for k, (lo, hi) in self.swept.items()
                 if not lo <= getattr(knobs, k) <= hi]
        return found + [f"{k} {_text(v)} (swept at {_text(self.plan[k].default)})" for k, v in structure.items()
                        if v != self.plan[k].default]


def _text(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else f"{v:g}"


def _grid(rows: list[dict]) -> tuple[MappingProxyType, ...]:
    return tuple(_frozen(r) for r in rows)


# The solver's axes: PhiNet's α (fine steps to 1, coarser to 3), β and t0; ResNet's and TinyNet's width 0.25 … 3.0
ALPHAS = tuple(round(0.05 * i, 2) for i in range(2, 21)) + tuple(round(1.0 + 0.1 * i, 2) for i in range(1, 21))
BETAS = (0.75, 1.0, 1.35)
T0S = (3, 4, 5, 6)
WIDTHS = tuple(0.125 * i for i in range(2, 25))
DEPTHS = tuple(range(1, 16))   # the depths tried for a pinned depth when nothing fits
PHINET_MIN_DEPTH = 4           # PhiNet's blocks 0-3 always exist; a smaller N only stretches their expansion schedule
PHINET_PLAN = {"divisor": PlanKnob(1, (1, 2, 4, 8, 16, 32, 64)), "first_conv_stride": PlanKnob(2, (1, 2)),
               "downsampling_layers": PlanKnob(PHINET_DOWNSAMPLING), "conv5_percent": PlanKnob(0.0, (0.0, 0.25, 0.5,
                                                                                                     0.75, 1.0))}

PHINET = Family(
    "phinet", "PhiNet",
    _frozen({"alpha": "alpha", "beta": "beta", "t0": "t0", "depth": "depth", "divisor": "divisor",
             "first_conv_stride": "first_conv_stride", "downsampling_layers": "downsampling_layers",
             "conv5_percent": "conv5_percent", "attention": "attention", "activation": "activation"}),
    ("alpha", "beta", "t0", "depth"),
    # the smallest grid a law can be fitted on: four widths at each of two depths (trials and tests)
    _grid([{"alpha": a, "beta": 1.0, "t0": 4, "depth": n} for n in (3, 4) for a in (0.2, 0.35, 0.5, 0.75)]),
    ranked=True, record=PhiNetKnobs,
    axes=_frozen({"alpha": ALPHAS, "beta": BETAS, "t0": T0S}),
    nearest=_frozen({"alpha": ALPHAS, "beta": BETAS + (0.5, 1.5, 2.0), "t0": (1, 2) + T0S + (7, 8),
                     "depth": tuple(d for d in DEPTHS if d >= PHINET_MIN_DEPTH),
                     **{k: p.grid for k, p in PHINET_PLAN.items() if p.grid}}),
    plan=_frozen(PHINET_PLAN),
    swept=_frozen({"beta": (0.75, 1.35), "t0": (3, 6)}),   # PhiNet's sweeps (bench/grids), held-out points included
    labels=_frozen({"alpha": "a", "beta": "b", "depth": "N"}), min_depth=PHINET_MIN_DEPTH,
    sweep_defaults=_frozen({"alpha": 0.5, "beta": 1.0, "t0": 6, "depth": 7}),
    min_depth_reason="PhiNet always has blocks 1-3, so N starts at 4 (a smaller N only stretches their expansion "
                     "past beta x t0, which no sweep trained)")


def _width_depth(name: str, title: str, widths: tuple, depths: tuple) -> Family:
    """ResNet and TinyNet: width (alpha) and depth, searched on the same axes; `widths` x `depths`: their grid."""
    return Family(name, title, _frozen({"alpha": "width", "depth": "depth"}), ("alpha", "depth"),
                  _grid([{"alpha": a, "depth": d} for a in widths for d in depths]), ranked=True, record=WidthDepth,
                  axes=_frozen({"alpha": WIDTHS}), nearest=_frozen({"alpha": WIDTHS, "depth": DEPTHS}),
                  labels=_frozen({"alpha": "w", "depth": "d"}), sweep_defaults=_frozen({"alpha": 0.5, "depth": 1}))


RESNET = _width_depth("resnet", "ResNet", (0.25, 0.375, 0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0), (1, 2, 3))
TINYNET = _width_depth("tinynet", "TinyNet", (0.25, 0.5, 0.75, 1.0, 1.5, 2.0), (2, 3, 4, 5))
MOBILENETV1 = Family("mobilenetv1", "MobileNetV1", _frozen({"alpha": "alpha"}), ("alpha",),
                     _grid([{"alpha": a} for a in (0.1, 0.25, 0.35, 0.5, 0.75, 1.0)]))
MOBILENETV2 = Family("mobilenetv2", "MobileNetV2", _frozen({"alpha": "alpha"}), ("alpha",),
                     _grid([{"alpha": a} for a in (0.1, 0.25, 0.35, 0.5, 0.75, 1.0, 1.4)]))
RESNET8 = Family("resnet8", "ResNet-8", _frozen({}), (), _grid([{}]), alias_of="resnet",
                 alias_knobs=_frozen({"alpha": 1.0, "depth": 1}))

FAMILIES = (PHINET, RESNET, TINYNET, MOBILENETV1, MOBILENETV2, RESNET8)   # as --arch lists them and auto ranks them
_BY_NAME = {f.name: f for f in FAMILIES}
NAMES = tuple(_BY_NAME)
RANKED_NAMES = tuple(f.name for f in FAMILIES if f.ranked)


def lookup(name: str, auto: bool = False) -> Family:
    """The family `--arch NAME` means, refused by name if there is none (`auto`: where the solver's choice across
    families is allowed too, the refusal offers it)."""
    found = _BY_NAME.get(name)
    if found is None:
        raise UserError(f"unknown architecture '{name}': choose one of {', '.join((AUTO,) * auto + NAMES)}", "arch")
    return found


def title(name: str) -> str:
    """A family's title by name (an unknown name, e.g. a law of a family this version lacks, as it is)."""
    return _BY_NAME[name].title if name in _BY_NAME else name
