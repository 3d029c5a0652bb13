"""What each pin costs: the solver's best with the pins as given, against its best with one pin freed (the others
kept), so the user sees which of what they fixed binds, and by how many predicted points."""

from dataclasses import dataclass

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.pins import describe_pins
from tinyml_kit.core.record_sections import PinCost
from tinyml_kit.solve.choice import Choice
from tinyml_kit.solve.solver import Solution, solve

BINDS_AT = 0.05   # predicted points below which freeing a pin changes nothing worth saying


@dataclass
class PinEffect:
    knob: str               # a pinned knob, or "all" for every pin freed at once
    pinned: str             # the pin as given, e.g. "7" or "0.25:1"
    free: Choice | None     # the solver's best with it free (None: nothing the laws cover fits then)
    gain: float             # predicted points the free best adds to the pinned best

    def cost(self) -> PinCost:
        """What the run's record keeps of it."""
        free = self.free
        return PinCost(self.knob, self.pinned, free.estimate.describe() if free else None,
                       round(free.predicted_accuracy, 2) if free else None, round(self.gain, 2) if free else None)


def pin_effects(sol: Solution, laws: list | None = None) -> list[PinEffect]:
    """One effect per pin, and one for every pin freed when there are several (each a small solve over `laws`,
    default the solution's: a pin that closed a family reopens it when freed). Freeing a pin can leave nothing
    that fits: a pin below a law's sizes keeps configurations the free search drops."""
    if not sol.pins:
        return []
    freed = [(k, {x: p for x, p in sol.pins.items() if x != k}) for k in sol.pins]
    if len(sol.pins) > 1:
        freed.append(("all", {}))
    effects = []
    for knob, pins in freed:
        pinned = sol.pins[knob].describe() if knob != "all" else ""
        try:
            other = solve(sol.board, input_shape=sol.input_shape, classes=sol.classes, law=laws or sol.laws,
                          runner_ups=0, budget=sol.budget, engine=sol.engine, pins=pins).best
        except UserError:
            effects.append(PinEffect(knob, pinned, None, 0.0))
            continue
        effects.append(PinEffect(knob, pinned, other, other.predicted_accuracy - sol.best.predicted_accuracy))
    return effects


def effect_lines(sol: Solution, effects: list[PinEffect], header: bool = True) -> list[str]:
    """`with depth 7 fixed, the best fit is …; with depth free it would be …, +2.1 points predicted`, and which
    pin binds most; `header`: first, a line naming the pins."""
    best = f"{sol.best.estimate.describe()} ({sol.best.predicted_accuracy:.1f} %)"
    lines = [f"  pinned {describe_pins(sol.pins)}; what each pin costs, in predicted accuracy:"] if effects and header \
        else []
    for e in effects:
        what = "every pin" if e.knob == "all" else f"{e.knob} {e.pinned}"
        if e.free is None:
            lines.append(f"  with {'every pin' if e.knob == 'all' else e.knob} free, nothing the laws cover fits: "
                         f"{what} reaches below the sizes they were fitted on")
            continue
        free = f"{e.free.estimate.describe()} ({e.free.predicted_accuracy:.1f} %)"
        if e.gain <= -BINDS_AT and sol.best.extrapolated:
            lines.append(f"  {what} reaches beyond the sweep: with {'them' if e.knob == 'all' else 'it'} free the "
                         f"best would be {free}, {e.gain:+.1f} points predicted (beyond the sweep, predictions are "
                         f"extrapolated)")
        elif e.gain <= -BINDS_AT:
            lines.append(f"  {what} is off the solver's grid: with {'them' if e.knob == 'all' else 'it'} free the "
                         f"best on the grid is {free}, {e.gain:+.1f} points predicted")
        elif e.knob == "all":
            lines.append(f"  with every pin free it would be {free}, {e.gain:+.1f} points predicted")
        elif e.gain < BINDS_AT:
            lines.append(f"  {what} costs nothing: with it free the best is {free}")
        else:
            lines.append(f"  with {what} fixed, the best fit is {best}; with {e.knob} free it would be {free}, "
                         f"{e.gain:+.1f} points predicted")
    binding = max((e for e in effects if e.knob != "all" and e.free), key=lambda e: e.gain, default=None)
    if binding is not None and binding.gain >= BINDS_AT and len(sol.pins) > 1:
        lines.append(f"  the pin that binds most: {binding.knob} {binding.pinned} ({binding.gain:+.1f} points)")
    return lines
