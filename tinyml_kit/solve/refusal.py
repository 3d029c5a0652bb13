"""Why nothing fits, in one line: the configuration that comes closest, by how much it misses each limit and,
when the user pinned knobs, the nearest value of each pinned knob that would fit (the other pins kept)."""

from tinyml_kit.core.budget import Budget
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Pin, describe_pins
from tinyml_kit.core.units import format_bytes


def misses(choice, budget: Budget) -> list[str]:
    """`flash 412 KB > 400 KB (+12 KB)` for each limit the choice's estimates exceed."""
    e, used, missed, found = choice.estimate, choice.utilization, choice.verdict.misses, []
    if "flash" in missed:
        found.append(f"flash {format_bytes(e.flash_bytes_est)} > {format_bytes(budget.flash_bytes)} "
                     f"(+{format_bytes(e.flash_bytes_est - budget.flash_bytes)})")
    if "arena" in missed:
        found.append(f"arena {format_bytes(choice.arena_alloc_bytes_est)} > {format_bytes(budget.arena_bytes)} "
                     f"(+{format_bytes(choice.arena_alloc_bytes_est - budget.arena_bytes)})")
    if "macs" in missed:
        found.append(f"{e.macs:,} MACs > {budget.macs:,} (x{used['macs']:.2f})")
    if "latency" in missed:
        found.append(f"~{choice.latency_ms_est:.0f} ms > {budget.latency_ms:g} ms ({e.latency.instructions:,} "
                     f"instructions > {budget.instructions:,})")
    return found


def impossible(screened: list, input_shape, classes: int, laws: dict, budget: Budget, board, engine,
               pins: dict[str, Pin], nearest: bool = True) -> str:
    """One line: the configuration that comes closest and by how much it misses each limit; with pins, what
    each pinned knob would have to be (`nearest`: searched, a few small solves per knob)."""
    from tinyml_kit.solve.solver import _choice

    smallest = sorted(screened, key=lambda s: (s.params, s.macs))[:20]
    choices = [_choice(s.estimate(input_shape, classes, engine, board), laws[s.family], budget, board)
               for s in smallest]
    titles = [lookup(f).title for f in laws]
    names = " or ".join(titles) if len(titles) < 3 else ", ".join(titles[:-1]) + " or " + titles[-1]
    where = f"{board.id} at input {'x'.join(map(str, input_shape))}"
    if pins:
        names += f" with {describe_pins(pins)}"
    if not choices:
        return f"no {names} is in the laws' range at {where}: widen the pins"
    c = min(choices, key=lambda c: max(c.utilization.values()))
    line = (f"no {names} fits {where}: the smallest, {c.estimate.describe()}, needs {', '.join(misses(c, budget))} "
            f"(estimated)")
    if pins and nearest:
        found = nearest_fitting(pins, budget, board, input_shape, classes, [x.law for x in laws.values()], engine)
        return line + nearest_text(found)
    return line + ": raise the limits, use a smaller input or pick a larger board"


def nearest_text(found: dict[str, str], estimated: str = "") -> str:
    """`; nearest that fit, the other pins kept: --alpha 0.35 (no --depth does): change a pin …`, the end of a
    refusal; `estimated`: said after "kept" when the values come from estimates of a measured model."""
    if not found:
        return f"{estimated}: raise the limits or pick a larger board"
    fits = [f"--{k.replace('_', '-')} {v}" for k, v in found.items() if v != "none"]
    none = [f"--{k.replace('_', '-')}" for k, v in found.items() if v == "none"]
    if not fits:
        return f"; no value of {' or '.join(none)} alone fits{estimated}: raise the limits or pick a larger board"
    return (f"; nearest that fit, the other pins kept{estimated}: {', '.join(fits)}"
            + (f" (no {' or '.join(none)} value does)" if none else "") + ": change a pin or raise the limits")


def nearest_fitting(pins: dict[str, Pin], budget: Budget, board, input_shape, classes: int, laws: list,
                    engine: str) -> dict[str, str]:
    """For each pinned knob with a numeric axis, the value nearest the pin at which something fits with the other
    pins kept ("none" if no value on its axis does); the axis: every value the laws' families try for that knob
    (`Family.nearest`)."""
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.solve.solver import solve

    found = {}
    for knob, pin in pins.items():
        axis = {v for x in laws for v in lookup(x.family).nearest.get(knob, ())}
        if not axis:
            continue
        found[knob] = "none"
        for v in sorted((v for v in axis if not pin.allows(v)), key=lambda v: (pin.distance(v), v)):
            try:
                solve(board, input_shape=input_shape, classes=classes, law=laws, runner_ups=0, budget=budget,
                      engine=engine, pins={**pins, knob: Pin(knob, (v,))}, nearest=False)
            except UserError:
                continue
            found[knob] = f"{v:g}"
            break
    return found
