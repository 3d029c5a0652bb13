"""CONCATENATION without a copy: where an input is one contiguous run of its output's bytes, the static plan may
place it there, so its producer writes it straight into the output and the op has nothing left to do.

An input is contiguous in the output when every axis before the concatenation axis has size 1 (height on a
batch of one, channels of a 1x1 map, the features of a flattened vector); elsewhere its rows interleave with the
other inputs' and the op copies them. Placing an input inside the output moves the input's whole region (what
shares bytes with it: the tensor a convolution wrote over, an in-place op's input), so it is done only where no
two tensors alive at a common step then share bytes, but for the input and its own bytes in the output.
"""

from typing import Protocol

import numpy as np

from tinyml_kit.core.graph import Graph


class Regions(Protocol):
    """The planner's regions (`static_plan._Regions`): tensor -> region, offset inside it, last step."""
    region: dict[int, int]
    within: dict[int, int]
    last: dict[int, int]

ALIGN = 4   # an input is placed at an aligned offset only: its producer's kernels expect aligned tensors


def concat_offsets(out_shape: tuple[int, ...], in_shapes: list[tuple[int, ...]], axis: int) -> list[int]:
    """Each input's first byte in the output's first row (the row is `out_shape[axis:]`)."""
    inner = int(np.prod(out_shape[axis + 1:], dtype=np.int64))
    starts = np.cumsum([0, *(s[axis] * inner for s in in_shapes)])
    return [int(s) for s in starts[:-1]]


def placeable(out_shape: tuple[int, ...], axis: int, offset: int) -> bool:
    """Whether an input starting at `offset` may be planned inside the output (one contiguous, aligned run)."""
    return all(d == 1 for d in out_shape[:axis]) and offset % ALIGN == 0


def concat_axis(out_shape: tuple[int, ...], in_shapes: list[tuple[int, ...]]) -> int:
    """The axis along which shapes were concatenated (read off the shapes, for graphs without options)."""
    return next((a for a, d in enumerate(out_shape) if any(s[a] != d for s in in_shapes)), 0)


def fits_inside(regions: Regions, sizes: dict[int, int], first: dict[int, int], t: int, host: int,
                offset: int) -> bool:
    """Whether t's region can join host's with t `offset` bytes after host, no bytes shared by tensors alive at a
    common step but t's own inside host."""
    mine, theirs = regions.region[t], regions.region[host]
    if mine == theirs:
        return False
    base = regions.within[host] + offset - regions.within[t]
    lo_t = regions.within[t] + base

    def span(m: int, shift: int) -> tuple[int, int, int, int]:
        lo = regions.within[m] + shift
        return lo, lo + sizes[m], first.get(m, 0), regions.last.get(m, 0)

    moved = [span(m, base) + (m,) for m, r in regions.region.items() if r == mine]
    kept = [span(n, 0) + (n,) for n, r in regions.region.items() if r == theirs and n in first]
    for lo, hi, born, dies, _ in moved:
        for n_lo, n_hi, n_born, n_dies, n in kept:
            if hi <= n_lo or n_hi <= lo or dies < n_born or n_dies < born:
                continue
            if not (n == host and lo_t <= lo and hi <= lo_t + sizes[t]):
                return False
    return True


def concat_placed(graph: Graph, op) -> tuple[tuple[int, int], ...]:
    """The inputs of a predicted or read graph's concatenation the plan may place inside its output."""
    shape, ins = graph.tensors[op.outputs[0]].shape, [graph.tensors[t].shape for t in op.inputs]
    axis = concat_axis(shape, ins)
    return tuple((t, o) for t, o in zip(op.inputs, concat_offsets(shape, ins, axis), strict=True)
                 if placeable(shape, axis, o) and not graph.tensors[t].is_constant)
