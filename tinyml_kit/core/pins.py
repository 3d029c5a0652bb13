"""What the user already knows about the model: knobs pinned to a value, a list or a range (`fit --depth 7`,
`solve --alpha 0.25:1.0 --t0 4,5,6`), as plain data the solver searches within.

A pin names the common knob (`core.family.Family.knobs`); a family without that knob cannot honour it, so the
search drops it (or refuses it when the user named that family). No TensorFlow, no solver: parsing and checking.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import RANKED_NAMES, Family, lookup
from tinyml_kit.core.spec import ACTIVATIONS, ATTENTIONS, AUTO, STYLE_DEFAULTS

# knob -> (kind, what a value must be). Kinds: "real" (> 0), "int" (>= 1), "choice" (one name), "layers" (one
# comma list of block indices: the list is the value), "fraction" ([0, 1]), "stride" (1 or 2).
KNOB_KINDS = {"alpha": "real", "beta": "real", "t0": "real", "depth": "int", "divisor": "int",
              "first_conv_stride": "stride", "downsampling_layers": "layers", "conv5_percent": "fraction",
              "attention": "choice", "activation": "choice"}
CHOICES = {"attention": ATTENTIONS, "activation": ACTIVATIONS}
INTEGER_STEPS = ("t0", "depth", "first_conv_stride")   # a range of these covers every whole number (divisors: the
# powers of two of their grid)
# The largest value each knob takes: well past anything that fits a microcontroller, and small enough that a range
# stays a search of seconds (a PhiNet of depth 20 at alpha 3 is already megabytes).
MAXIMA = {"alpha": 8.0, "beta": 4.0, "t0": 16.0, "depth": 20, "divisor": 64, "conv5_percent": 1.0}


@dataclass(frozen=True)
class Pin:
    """Allowed values of one knob: `values` (one: fixed), or the inclusive range `low`..`high`."""
    knob: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None

    @property
    def fixed(self) -> bool:
        return len(self.values) == 1

    @property
    def bounds(self) -> tuple[float, float]:
        """`low`, `high` of a range pin (one that lists no values: then both are set)."""
        if self.low is None or self.high is None:
            raise ValueError(f"the {self.knob} pin lists values {self.values}, not a range")
        return self.low, self.high

    @property
    def value(self):
        """The single value of a fixed pin."""
        return self.values[0]

    def allows(self, v) -> bool:
        if self.values:
            return v in self.values
        low, high = self.bounds
        return low - 1e-9 <= v <= high + 1e-9

    def distance(self, v: float) -> float:
        """How far `v` is from what the pin allows (0 inside)."""
        if self.values:
            return min(abs(v - x) for x in self.values)
        low, high = self.bounds
        return max(low - v, v - high, 0.0)

    def axis(self, grid: tuple) -> tuple:
        """The values to search: the listed ones; for a range, `grid`'s inside it and both ends, and for t0,
        depth and the stem stride every whole number inside it."""
        if self.values:
            return self.values
        inside = [v for v in grid if self.allows(v)]
        if self.knob in INTEGER_STEPS:
            low, high = self.bounds
            inside += range(math.ceil(low), math.floor(high) + 1)
        ends = (self.low, self.high) if self.knob not in ("depth", "first_conv_stride") else ()
        return tuple(sorted({_number(v) for v in (*inside, *ends)}))

    def describe(self) -> str:
        if self.values:
            return ",".join(_text(v) for v in self.values)
        return f"{_text(self.low)}:{_text(self.high)}"

    def to_json(self):
        """A fixed pin's value, a list's values, a range as {"min", "max"}."""
        if self.values:
            return self.value if self.fixed else list(self.values)
        return {"min": self.low, "max": self.high}


def _number(v):
    return int(v) if float(v).is_integer() else float(v)


def _text(v) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return v if isinstance(v, str) else f"{v:g}"


def parse_pin(knob: str, text, flag: str | None = None) -> Pin:
    """`7`, `4,5,6` or `0.25:1.0` (a range, both ends included) for `knob`; a number or tuple as the API gives
    it. One line names what is wrong and how to write it, calling the value `flag` (default: the parameter,
    `core.errors.param`; a sweep's grid file says `alpha:`)."""
    kind = KNOB_KINDS.get(knob)
    if kind is None:
        raise UserError(f"unknown knob '{knob}': choose one of {', '.join(KNOB_KINDS)}", knob)
    named = _naming(knob, flag)
    if kind == "layers":
        return Pin(knob, (_layers(text, named),))
    if not isinstance(text, str):
        given = list(text) if isinstance(text, (list, tuple)) else [text]
        if not given:
            raise UserError(f"{named()} is empty: give a value, a list or a range", knob)
        return Pin(knob, tuple(dict.fromkeys(_value(kind, knob, named, v) for v in given)))
    text = text.strip()
    if kind == "choice" and ("," in text or ":" in text):
        raise UserError(f"{named()} takes one value: {knob}s are not searched (the accuracy laws know "
                        f"{STYLE_DEFAULTS[knob]} only); fit one run per {knob}", knob)
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 2:
            raise UserError(f"{named(text)}: write a value, a list (4,5,6) or one range low:high (0.25:1.0)", knob)
        low, high = (_value(kind, knob, named, p) for p in parts)
        if low > high:
            raise UserError(f"{named(text)}: the range's low end is above its high end; write {high:g}:{low:g}",
                            knob)
        return Pin(knob, (low,)) if low == high else Pin(knob, low=low, high=high)
    values = tuple(dict.fromkeys(_value(kind, knob, named, p) for p in text.split(",")))
    return Pin(knob, values)


def _naming(knob: str, flag: str | None) -> Callable[..., str]:
    """How a message names `knob` (given `value`): as the parameter (`param`), or as `flag` says (`alpha: 0.35`)."""
    if flag is None:
        return lambda value=None: param(knob, value)
    return lambda value=None: flag if value is None else f"{flag} {value}"


def _quoted(text) -> str:
    return f"'{text}'"


def _value(kind: str, knob: str, named: Callable[..., str], raw):
    if kind == "choice":
        if raw not in CHOICES[knob]:
            raise UserError(f"unknown {knob} '{raw}': choose one of {', '.join(CHOICES[knob])}", knob)
        return raw
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise UserError(f"{named(_quoted(raw))} is not a number: write e.g. {named(_EXAMPLES[kind])}", knob) from None
    if kind in ("int", "stride") and not v.is_integer():
        raise UserError(f"{named(f'{v:g}')} is not a whole number: write e.g. {named(_EXAMPLES[kind])}", knob)
    if kind == "stride" and v not in (1, 2):
        raise UserError(f"{named(f'{v:g}')}: the first convolution's stride is 1 or 2", knob)
    if kind == "fraction" and not 0 <= v <= 1:
        raise UserError(f"{named(f'{v:g}')} is not a fraction of the blocks: give a number in [0, 1]", knob)
    if not math.isfinite(v):
        raise UserError(f"{named(raw)} is not a finite number: write e.g. {named(_EXAMPLES[kind])}", knob)
    if kind == "int" and v < 1 or kind == "real" and v <= 0:
        raise UserError(f"{named(f'{v:g}')} must be {'at least 1' if kind == 'int' else 'above 0'}", knob)
    if v > MAXIMA.get(knob, v):
        raise UserError(f"{named(f'{v:g}')} is beyond any model a microcontroller holds: give at most {MAXIMA[knob]:g}",
                        knob)
    return int(v) if kind in ("int", "stride") else v


_EXAMPLES = {"real": "0.5", "int": "7", "stride": "1", "fraction": "0.25"}


def _layers(text, named: Callable[..., str]) -> tuple[int, ...]:
    raw = text.replace(" ", "").split(",") if isinstance(text, str) else list(text)
    try:
        layers = tuple(int(v) for v in raw if v != "")
    except (TypeError, ValueError):
        raise UserError(f"{named(_quoted(text))} is not a list of block numbers: write e.g. {named('5,7')}",
                        "downsampling_layers") from None
    if not layers:
        raise UserError(f"{named()} is empty: list the blocks that halve the resolution, e.g. {named('5,7')}",
                        "downsampling_layers")
    if any(b < 4 for b in layers):
        raise UserError(f"{named(text)}: blocks 1 and 3 always halve the resolution; list blocks from 4 up, e.g. 5,7",
                        "downsampling_layers")
    if max(layers) > MAXIMA["depth"]:
        raise UserError(f"{named(text)}: PhiNet's N goes up to {MAXIMA['depth']}, so list blocks up to it",
                        "downsampling_layers")
    return tuple(sorted(set(layers)))


def parse_pins(given: dict) -> dict[str, Pin]:
    """`{knob: text, value or Pin}` (None: not given) as pins, in the order given."""
    return {k: v if isinstance(v, Pin) else parse_pin(k, v) for k, v in given.items() if v is not None}


def parse_families(text: str) -> tuple[str, ...]:
    """`--arch`/`--family`: auto, one family, or a list of ranked families (`phinet,resnet`)."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for n in names:
        if n != AUTO:
            lookup(n, auto=True)
    if not names:
        raise UserError(f"{param('arch')} is empty: give auto, a family or a list such as phinet,resnet", "arch")
    if len(names) > 1 and (AUTO in names or any(n not in RANKED_NAMES for n in names)):
        raise UserError(f"a list of families is ranked by their accuracy laws: list only {', '.join(RANKED_NAMES)} "
                        f"(or give one family)", "arch")
    return names


def pinned_families(families: tuple[str, ...], pins: dict[str, Pin]) -> tuple[str, ...]:
    """The families to search: those named (auto: every ranked one) that have every pinned knob. A family the
    user named without one of the knobs is refused by name; auto drops it."""
    named = families != (AUTO,)
    candidates = [lookup(f) for f in (families if named else RANKED_NAMES)]
    for f in candidates if named else ():
        lacking = [k for k in pins if not f.has(k)]
        if lacking:
            raise UserError(f"{param(lacking[0])} does not apply to {f.title} (its knobs: "
                            f"{', '.join(f.knobs) or 'none'})", lacking[0], "arch")
    having = [f for f in candidates if all(f.has(k) for k in pins)]
    kept = tuple(f.name for f in having if _deep_enough(f, pins, named))
    for f in having if not kept else ():
        _deep_enough(f, pins, named=True)   # a family has every knob: its depth is why, so say that
    if not kept:
        raise UserError(f"no ranked family has all of {' '.join(map(param, pins))}: name the family with "
                        f"{param('arch')}", *pins, "arch")
    return kept


def least_depth(f: Family, pins: dict[str, Pin]) -> int:
    """The smallest depth family `f` allows under the pins: its own least, and deep enough for every block listed
    as halving the resolution."""
    return f.least_depth(pins["downsampling_layers"].value if "downsampling_layers" in pins else ())


def _deep_enough(f: Family, pins: dict[str, Pin], named: bool) -> bool:
    """A depth pin must allow the family's least depth (`least_depth`); refused by name when the family was named,
    else the family is left out."""
    if "depth" not in pins:
        return True
    depth = pins["depth"]
    deepest = max(depth.values) if depth.values else depth.bounds[1]
    need = least_depth(f, pins)
    if deepest >= need:
        return True
    if named:
        why = (f"block {need} of {param('downsampling_layers')} does not exist below N {need}" if need > f.min_depth
               else f.min_depth_reason)
        raise UserError(f"{param('depth', depth.describe())}: {why}; give {param('depth', need)} or more", "depth")
    return False


def fully_pinned(name: str, pins: dict[str, Pin]) -> bool:
    """Every knob the solver would search is fixed: one configuration, measured rather than ranked."""
    return all(k in pins and pins[k].fixed for k in lookup(name).searched) and all(p.fixed for p in pins.values())


def chosen_knobs(knobs: dict, pins: dict[str, Pin], style: dict | None = None) -> dict:
    """Of a configuration's knobs, those the search chose: the free ones, and its pick within a list or range
    (not the fixed pins, nor the attention and activation given)."""
    return {k: v for k, v in knobs.items() if (k not in pins or not pins[k].fixed) and k not in (style or {})}


def fixed_values(pins: dict[str, Pin]) -> dict:
    return {k: p.value for k, p in pins.items() if p.fixed}


def pins_json(pins: dict[str, Pin], leave_out: tuple[str, ...] = ()) -> dict:
    """The pins as report.json and `solve --json` keep them under `pinned`."""
    return {k: p.to_json() for k, p in pins.items() if k not in leave_out}


def describe_pins(pins: dict[str, Pin]) -> str:
    """`depth 7, alpha 0.25:1` as the explanation lines name them."""
    return ", ".join(f"{k} {p.describe()}" for k, p in pins.items())


@dataclass(frozen=True)
class Search:
    """What `fit` searches: the families (auto, one, or ranked ones), the pinned knobs, and PhiNet's attention
    and activation (`style`), which are never searched."""
    families: tuple[str, ...]
    pins: dict[str, Pin] = field(default_factory=dict)
    style: dict = field(default_factory=dict)
    implied: tuple[str, ...] = ()   # pins a family alias sets, not the user (`--arch resnet8`)
    asked: tuple[str, ...] = ()     # the families as asked, before the pins narrowed them (what a freed pin reopens)

    @property
    def family(self) -> str | None:
        """The one family named, if one was."""
        return self.families[0] if len(self.families) == 1 and self.families[0] != AUTO else None

    @property
    def ranked(self) -> bool:
        return self.family is None or lookup(self.family).ranked

    @property
    def fully_pinned(self) -> bool:
        return self.family is not None and fully_pinned(self.family, self.pins)

    def knobs(self) -> dict:
        """The model's knobs when fully pinned: the pinned values and the style."""
        return {**fixed_values(self.pins), **self.style}


def make_search(arch: str | tuple, given: dict | None) -> Search:
    """`arch` as `--arch` gives it (auto, a family, `phinet,resnet`) and the knobs as given (text, values or
    pins), checked against each other; attention and activation go to `style`."""
    families = parse_families(arch) if isinstance(arch, str) else tuple(arch)
    pins = parse_pins(given or {})
    style = {k: pins.pop(k).value for k in STYLE_DEFAULTS if k in pins}
    asked = families
    if families != (AUTO,) or pins or style:
        kept = pinned_families(families, {**pins, **{k: Pin(k, (v,)) for k, v in style.items()}})
        if families == (AUTO,) and len(kept) == 1:
            families = kept   # only one family has every pinned knob: it is the one searched (or measured)
    return Search(families, pins, style, asked=asked)
