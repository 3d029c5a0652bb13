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

from tinyml_kit.solve.engines import Engine, get_engine


def series_key(item) -> tuple:
    """What the configurations of one series share: all but the width."""
    return item.family, item.knobs._replace(alpha=0.0), item.structure


def over_time(screened: list, input_shape, classes: int, board, engine: Engine | str, cycles: int) -> set[int]:
    """Indices into `screened` (items with `family`, `knobs` (`core.family.Knobs`), `structure` and
    `graph(input_shape, classes)`) of
    the configurations wider than their series' widest whose lower bound keeps `cycles` on `board`."""
    engine = get_engine(engine)
    series: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(screened):
        series[series_key(s)].append(i)
    rejected: set[int] = set()
    for members in series.values():
        members.sort(key=lambda i: screened[i].knobs.alpha)
        lo, hi = 0, len(members)          # members[:lo] keep the budget, members[hi:] miss it
        while lo < hi:
            mid = (lo + hi) // 2
            graph, costs = screened[members[mid]].graph(input_shape, classes)
            latency = engine.latency(graph, costs.macs, board, fastest=True)
            if latency.cycles is None or latency.cycles <= cycles:
                lo = mid + 1
            else:
                hi = mid
        rejected.update(members[lo:])
    return rejected
