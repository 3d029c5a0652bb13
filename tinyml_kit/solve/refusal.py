"""Why nothing fits, in one line: the configuration that comes closest and by how much it misses each limit (the
nearest value of each pinned knob that would fit is `solve.nearest`'s)."""

from tinyml_kit.core.budget import Budget
from tinyml_kit.core.family import lookup
from tinyml_kit.core.pins import Pin, describe_pins
from tinyml_kit.core.units import format_bytes
from tinyml_kit.solve.choice import OUT_OF_RANGE_FIX, make_choice


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
        found.append(f"~{choice.latency_ms_est:.0f} ms > {budget.latency_ms:g} ms ({e.latency.cycles:,} "
                     f"cycles > {budget.cycles:,})")
    return found


def closest(screened: list, input_shape, classes: int, laws: dict, budget: Budget, board, engine,
            pins: dict[str, Pin]) -> str:
    """The configuration that comes closest and by how much it misses each limit, as the start of one line (the
    caller ends it: with the pins' nearest fitting values, or with what to change)."""
    smallest = sorted(screened, key=lambda s: (s.params, s.macs))[:20]
    choices = [make_choice(s.estimate(input_shape, classes, engine, board), laws[s.family], budget, board)
               for s in smallest]
    titles = [lookup(f).title for f in laws]
    names = " or ".join(titles) if len(titles) < 3 else ", ".join(titles[:-1]) + " or " + titles[-1]
    where = f"{board.id} at input {'x'.join(map(str, input_shape))}"
    if pins:
        names += f" with {describe_pins(pins)}"
    if not choices:
        return f"no {names} is in the laws' range at {where}: {OUT_OF_RANGE_FIX}"
    c = min(choices, key=lambda c: max(c.utilization.values()))
    return (f"no {names} fits {where}: the smallest, {c.estimate.describe()}, needs {', '.join(misses(c, budget))} "
            f"(estimated)")
