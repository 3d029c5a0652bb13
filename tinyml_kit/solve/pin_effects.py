"""What each pin costs: the solver's best with the pins as given, against its best with one pin freed (the others
kept), so the user sees which of what they fixed binds, and by how many predicted points."""

from dataclasses import dataclass

from tinyml_kit.core.pins import describe_pins
from tinyml_kit.solve.solver import Choice, Solution, solve

BINDS_AT = 0.05   # predicted points below which freeing a pin changes nothing worth saying


@dataclass
class PinEffect:
    knob: str               # a pinned knob, or "all" for every pin freed at once
    pinned: str             # the pin as given, e.g. "7" or "0.25:1"
    free: Choice            # the solver's best with it free
    gain: float             # predicted points the free best adds to the pinned best

    def to_dict(self) -> dict:
        return {"knob": self.knob, "pinned": self.pinned, "free_best": self.free.estimate.describe(),
                "free_predicted_accuracy": round(self.free.predicted_accuracy, 2), "gain_points": round(self.gain, 2)}


def pin_effects(sol: Solution) -> list[PinEffect]:
    """One effect per pin, and one for every pin freed when there are several (each a small solve)."""
    if not sol.pins:
        return []
    freed = [(k, {x: p for x, p in sol.pins.items() if x != k}) for k in sol.pins]
    if len(sol.pins) > 1:
        freed.append(("all", {}))
    effects = []
    for knob, pins in freed:
        other = solve(sol.board, input_shape=sol.input_shape, classes=sol.classes, law=sol.laws, runner_ups=0,
                      budget=sol.budget, engine=sol.engine, pins=pins, nearest=False)
        pinned = sol.pins[knob].describe() if knob != "all" else ""
        effects.append(PinEffect(knob, pinned, other.best, other.best.predicted_accuracy - sol.best.predicted_accuracy))
    return effects


def effect_lines(sol: Solution, effects: list[PinEffect], header: bool = True) -> list[str]:
    """`with depth 7 fixed, the best fit is …; with depth free it would be …, +2.1 points predicted`, and which
    pin binds most; `header`: first, a line naming the pins."""
    best = f"{sol.best.estimate.describe()} ({sol.best.predicted_accuracy:.1f} %)"
    lines = [f"  pinned {describe_pins(sol.pins)}; what each pin costs, in predicted accuracy:"] if effects and header \
        else []
    for e in effects:
        free = f"{e.free.estimate.describe()} ({e.free.predicted_accuracy:.1f} %)"
        if e.knob == "all":
            lines.append(f"  with every pin free it would be {free}, {e.gain:+.1f} points predicted")
        elif e.gain < BINDS_AT:
            lines.append(f"  {e.knob} {e.pinned} costs nothing: with it free the best is still {best}")
        else:
            lines.append(f"  with {e.knob} {e.pinned} fixed, the best fit is {best}; with {e.knob} free it would be "
                         f"{free}, {e.gain:+.1f} points predicted")
    binding = max((e for e in effects if e.knob != "all"), key=lambda e: e.gain, default=None)
    if binding is not None and binding.gain >= BINDS_AT and len(sol.pins) > 1:
        lines.append(f"  the pin that binds most: {binding.knob} {binding.pinned} ({binding.gain:+.1f} points)")
    return lines
