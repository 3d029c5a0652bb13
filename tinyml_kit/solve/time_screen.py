"""Screening by time before full estimates: within a series (one family's configurations that differ only in
width), predicted cycles grow with the width, so the widest configuration that keeps the cycle
budget is found by bisection on predicted graphs, about six per series instead of one per width. MACs alone
bound cycles too loosely to screen (a PhiNet's hard-swish and additions cost more than its MACs), which
left the solver predicting hundreds of graphs that miss the budget.

The screen predicts each op on the faster of its kernels (`estimate_latency`'s `fastest`), a lower bound of the
build's time that skips the C engine's per-layer kernel choice, which costs more than the rest of a prediction: it
drops only what surely misses, and the solver predicts the few configurations it then ranks with the choice made.
"""

from collections import defaultdict
from collections.abc import Callable

from tinyml_kit.solve.engines import Engine, get_engine


def series_key(item) -> tuple:
    """What the configurations of one series share: all but the width."""
    return item.family, item.knobs._replace(alpha=0.0), item.structure


def over_time(screened: list, input_shape, classes: int, board, engine: Engine | str, cycles: int) -> set[int]:
    """Indices into `screened` (items with `family`, `knobs` (`core.family.Knobs`), `structure` and
    `graph(input_shape, classes)`, and `macs` where known) of the configurations wider than their series' widest
    whose lower bound keeps `cycles` on `board`. Each series' search starts where the cycles per MAC of the
    family's last prediction put the limit, so a series takes two or three predictions, not six."""
    engine = get_engine(engine)
    series: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(screened):
        series[series_key(s)].append(i)
    per_mac: dict[str, float] = {}
    rejected: set[int] = set()
    for members in series.values():
        members.sort(key=lambda i: screened[i].knobs.alpha)
        items = [screened[i] for i in members]

        def fits(k: int, items: list = items) -> bool:
            graph, costs = items[k].graph(input_shape, classes)
            latency = engine.latency(graph, costs.macs, board, fastest=True)
            if latency.cycles is None:
                return True
            per_mac[items[k].family] = latency.cycles / max(costs.macs, 1)
            return latency.cycles <= cycles

        ratio = per_mac.get(items[0].family)
        macs = [m for x in items if (m := getattr(x, "macs", None)) is not None]
        start = sum(m * ratio <= cycles for m in macs) - 1 if ratio and len(macs) == len(items) else len(items) // 2
        rejected.update(members[fitting_prefix(len(items), fits, start):])
    return rejected


def fitting_prefix(n: int, fits: Callable[[int], bool], start: int) -> int:
    """How many of n members fit, where those that fit come first (`fits(k)`, monotone), asking `fits` from
    `start` outwards in doubling steps, then bisecting what is left: exact whatever the start, fastest when the
    start is the last member that fits."""
    if n == 0:
        return 0
    lo, hi, step = 0, n, 1      # members[:lo] fit, members[hi:] miss
    k = min(max(start, 0), n - 1)
    if fits(k):
        lo = k + 1
        while lo < hi:
            q = min(lo + step - 1, hi - 1)
            if not fits(q):
                hi = q
                break
            lo, step = q + 1, step * 2
    else:
        hi = k
        while lo < hi:
            q = max(hi - step, lo)
            if fits(q):
                lo = q + 1
                break
            hi, step = q, step * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo
