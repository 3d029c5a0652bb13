"""When nothing fits a pinned search: the value of each pinned knob nearest the pin at which something fits, the
other pins kept. Each value is a small solve of its own, so this sits above the solver."""

from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Pin
from tinyml_kit.solve.engines import Engine
from tinyml_kit.solve.solver import solve


def nearest_text(found: dict[str, str], estimated: str = "") -> str:
    """`; nearest that fit, the other pins kept: --alpha 0.35 (no --depth does): change a pin …`, the end of a
    refusal; `estimated`: said after "kept" when the values come from estimates of a measured model."""
    if not found:
        return f"{estimated}: raise the limits or pick a larger board"
    fits = [param(k, v) for k, v in found.items() if v != "none"]
    none = [param(k) for k, v in found.items() if v == "none"]
    if not fits:
        return f"; no value of {' or '.join(none)} alone fits{estimated}: raise the limits or pick a larger board"
    return (f"; nearest that fit, the other pins kept{estimated}: {', '.join(fits)}"
            + (f" (no {' or '.join(none)} value does)" if none else "") + ": change a pin or raise the limits")


def nearest_fitting(pins: dict[str, Pin], budget: Budget, board, input_shape, classes: int, laws: list,
                    engine: Engine | str) -> dict[str, str]:
    """For each pinned knob with a numeric axis, the value nearest the pin at which something fits with the other
    pins kept ("none" if no value on its axis does); the axis: every value the laws' families try for that knob
    (`Family.nearest`)."""
    found = {}
    for knob, pin in pins.items():
        axis = {v for x in laws for v in lookup(x.family).nearest.get(knob, ())}
        if not axis:
            continue
        found[knob] = "none"
        for v in sorted((v for v in axis if not pin.allows(v)), key=lambda v: (pin.distance(v), v)):
            try:
                solve(board, input_shape=input_shape, classes=classes, law=laws, runner_ups=0, budget=budget,
                      engine=engine, pins={**pins, knob: Pin(knob, (v,))})
            except UserError:
                continue
            found[knob] = f"{v:g}"
            break
    return found
