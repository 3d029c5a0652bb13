"""Where each region of the C engine's arena goes (`solve.static_plan` makes the regions): greedy placement at the
lowest free offset, tried under several orders, the lowest peak kept. A region is placed by its parts, so bytes
that die inside it are free for others at other times; each is checked only against the regions alive with it."""

from dataclasses import dataclass, field


@dataclass
class Buffer:
    """One region of the arena: tensors that share bytes (in place, aliases, a convolution over its dying input),
    each at its offset in the region, or an op's scratch."""
    size: int
    first: int                    # first op that needs it
    last: int                     # last op that needs it
    tensors: tuple[int, ...] = ()
    scratch_op: int | None = None
    offset: int = 0
    within: dict[int, int] = field(default_factory=dict)   # tensor -> its offset inside the region
    parts: list[tuple[int, int, int, int]] = field(default_factory=list)   # (offset inside, bytes, first, last)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)   # tensor -> (first, last): its own life

    def __post_init__(self):
        if not self.parts:
            self.parts = [(0, self.size, self.first, self.last)]



def place_best(buffers: list[Buffer]) -> int:
    """Greedy placement under several orders (largest first, longest-lived first, first-needed first); keeps
    the lowest peak."""
    orders = [lambda b: (-b.size, b.first), lambda b: (-(b.last - b.first), -b.size), lambda b: (b.first, -b.size),
              lambda b: (-b.size * (b.last - b.first + 1), b.first)]
    together = _alive_together(buffers)
    best: int | None = None
    best_offsets: list[int] = []
    for key in orders:
        keys = [key(b) for b in buffers]
        peak = _place(buffers, sorted(range(len(buffers)), key=keys.__getitem__), together)
        if best is None or peak < best:
            best, best_offsets = peak, [b.offset for b in buffers]
    for b, offset in zip(buffers, best_offsets, strict=True):
        b.offset = offset
    return best or 0


def _alive_together(buffers: list[Buffer]) -> list[list[int]]:
    """Per buffer, the others alive at some time it is (a region's parts live within its own life): the only ones
    that can block its bytes, whatever order they are placed in."""
    by_first = sorted(range(len(buffers)), key=lambda i: buffers[i].first)
    together: list[list[int]] = [[] for _ in buffers]
    for k, i in enumerate(by_first):
        last = buffers[i].last
        for j in by_first[k + 1:]:
            if buffers[j].first > last:
                break
            together[i].append(j)
            together[j].append(i)
    return together


def _place(buffers: list[Buffer], order: list[int], together: list[list[int]]) -> int:
    """Each buffer (`order`: indices into `buffers`) at the lowest offset where none of its parts overlaps a part
    of a placed buffer alive at the same time. A region is placed by its parts, so the bytes of a tensor that died
    inside it (a convolution's input under its output) are free for others at other times."""
    placed: dict[int, list[tuple[int, int, int, int]]] = {}   # buffer -> absolute (start, end, first, last) parts
    peak = 0
    for i in order:
        b = buffers[i]
        offset = _lowest_free(b.parts, [p for j in together[i] if j in placed for p in placed[j]])
        b.offset = offset
        parts = placed[i] = [(offset + rel, offset + rel + size, first, last) for rel, size, first, last in b.parts]
        peak = max(peak, max(p[1] for p in parts))
    return peak


def _lowest_free(parts: list[tuple[int, int, int, int]], placed: list[tuple[int, int, int, int]]) -> int:
    """The lowest offset at which no part meets a placed part that is alive at the same time."""
    blocked = []   # offsets ranges [low, high) the region may not start in
    for rel, size, first, last in parts:
        for start, end, p_first, p_last in placed:
            if p_first > last or first > p_last:
                continue
            blocked.append((start - rel - size + 1, end - rel))
    offset = 0
    for low, high in sorted(blocked):
        if low > offset:
            break
        offset = max(offset, high)
    return offset
