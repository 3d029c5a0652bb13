"""Residual blocks the C engine runs row by row, recognised on a graph: the one description the static plan (of a
predicted or read graph) and the code generator (`engine.residual`) both use, so they plan the same bytes.

A block is CONV_2D -> CONV_2D (stride 1) -> ADD whose other input is the block's input X itself or a CONV_2D of
X (a projection shortcut), each intermediate read by the next op only, every shape without broadcast, whose
convolutions and ADD run generated (the per-layer kernel choice, `solve.kernel_choice`: none on the cores whose
convolutions are CMSIS-NN's). Run op by op, the first convolution's whole
output lives beside X; run row by row, only a ring of the first convolution's rows does: for each output row the
first convolution's rows that row reads are computed into the ring (`first_rows`), then the shortcut's row (into
a row of scratch) and the second convolution's row (in the output row, or beside it where the ADD adds X's row
there), then the ADD of the two rows into the output row.
Where every output row ends before every byte of X still to be read (`in_place`) the output is written over X.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.conv_layout import ConvLayout, graph_layout
from tinyml_kit.solve.kernel_choice import LayerKernel

T = TypeVar("T")
WORD = 4   # the block's buffers each start on a word: the int16 window buffer and the rows are read by words


def _words(n: int) -> int:
    return -(-n // WORD) * WORD


@dataclass(frozen=True)
class ResidualBlock:
    first: int                       # op indices: the first convolution (reads X) ...
    second: int                      # ... the second (reads the first's rows from the ring) ...
    add: int                         # ... the ADD ...
    shortcut: int | None             # ... and the convolution of X the ADD adds, or None: X itself
    block_input: int                 # tensor indices: X ...
    output: int                      # ... and the ADD's output
    layouts: tuple[ConvLayout, ...]  # first, second[, shortcut]

    @property
    def ops(self) -> tuple[int, ...]:
        return tuple(sorted(i for i in (self.first, self.second, self.add, self.shortcut) if i is not None))

    @property
    def ring_rows(self) -> int:
        """Rows of the first convolution's output kept: the kernel rows of the second."""
        return self.layouts[1].kernel_hw[0]

    @property
    def ring_row_bytes(self) -> int:
        _, w, c = self.layouts[0].out_hwc
        return w * c

    @property
    def shortcut_row_bytes(self) -> int:
        """The shortcut's output row (0: no shortcut)."""
        return self.layouts[2].out_hwc[1] * self.layouts[2].out_hwc[2] if self.shortcut is not None else 0

    @property
    def buffer_bytes(self) -> int:
        """The window buffer the convolutions share (each row's call fills it anew)."""
        return _words(max(lay.scratch_bytes for lay in self.layouts))

    @property
    def row_bytes(self) -> int:
        """The second convolution's row, kept apart from the output row where the ADD's other input is X's row
        there (an identity); with a shortcut it is computed in the output row and added to in place."""
        _, w, c = self.layouts[1].out_hwc
        return w * c if self.shortcut is None else 0

    @property
    def scratch_parts(self) -> tuple[int, int, int]:
        """Offsets in the block's scratch of the ring, and of the second convolution's row (identity) or the
        shortcut's row; the window buffer is at 0."""
        ring = self.buffer_bytes
        row = ring + _words(self.ring_rows * self.ring_row_bytes)
        return ring, row, row + _words(self.row_bytes) + _words(self.shortcut_row_bytes)

    @property
    def scratch_bytes(self) -> int:
        """The window buffer, the ring, and the second convolution's row or the shortcut's."""
        return self.scratch_parts[-1]

    def first_rows(self, oy: int) -> int:
        """How many of the first convolution's rows output row `oy` needs computed (it reads them up to its
        window's last)."""
        second = self.layouts[1]
        return min(oy - second.pad_hw[0] + second.kernel_hw[0], second.in_hwc[0])

    @property
    def in_place(self) -> bool:
        """Whether output row r may be written over X's bytes from r * (its bytes) on: all X rows read later (by the
        first convolution's next rows, the shortcut's next rows or, identity, the ADD's next rows) start after
        it. The identity's row r is read element by element just before each element is overwritten."""
        first, second = self.layouts[0], self.layouts[1]
        (out_h, out_w, out_c), (in_h, in_w, in_c) = second.out_hwc, first.in_hwc
        for oy in range(out_h):
            later = [] if oy + 1 == out_h else [self._x_row(oy + 1)]
            if self.first_rows(oy) < first.out_hwc[0]:
                later.append(max(self.first_rows(oy) * first.stride_hw[0] - first.pad_hw[0], 0))
            if later and (oy + 1) * out_w * out_c > min(later) * in_w * in_c:
                return False
        return self.shortcut is not None or (in_h, in_w, in_c) == second.out_hwc

    def _x_row(self, oy: int) -> int:
        """The first X row the ADD's other input reads for output row `oy`."""
        if self.shortcut is None:
            return oy
        lay = self.layouts[2]
        return max(oy * lay.stride_hw[0] - lay.pad_hw[0], 0)


def residual_blocks(graph: Graph, kernels: dict[int, LayerKernel]) -> list[ResidualBlock]:
    """Every residual block of `graph` the C engine runs row by row: those whose ops all run generated by
    `kernels` (by op index, `c_size.model_kernels`)."""
    producer = {t: i for i, op in enumerate(graph.ops) for t in op.outputs}
    readers: dict[int, int] = {}
    for op in graph.ops:
        for t in set(op.inputs):
            readers[t] = readers.get(t, 0) + 1
    blocks = []
    for i, op in enumerate(graph.ops):
        if op.kind == "ADD":
            block = _block(graph, i, producer, readers)
            if block is not None and all(j in kernels and kernels[j].generated for j in block.ops):
                blocks.append(block)
    return blocks


def _conv(graph: Graph, producer: dict[int, int], readers: dict[int, int], t: int) -> int | None:
    """The CONV_2D (ungrouped, constant weights) that produces `t`, read by one op only, or None."""
    i = producer.get(t)
    if i is None or graph.ops[i].kind != "CONV_2D" or readers.get(t) != 1 or t == graph.output:
        return None
    op = graph.ops[i]
    weights, inp = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[0]]
    if not weights.is_constant or len(weights.shape) != 4 or weights.shape[3] != inp.shape[-1]:
        return None
    return i


def _block(graph: Graph, add: int, producer: dict[int, int], readers: dict[int, int]) -> ResidualBlock | None:
    """The block ending at ADD op `add`, if it is one (either input may be the second convolution's)."""
    op = graph.ops[add]
    shapes = {graph.tensors[t].shape for t in (*op.inputs, *op.outputs)}
    if len(op.inputs) != 2 or len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[0] != 1:
        return None
    for main, other in (op.inputs, op.inputs[::-1]):
        second = _conv(graph, producer, readers, main)
        first = None if second is None else _conv(graph, producer, readers, graph.ops[second].inputs[0])
        if first is None or second is None or graph.ops[second].stride_hw != (1, 1):
            continue
        x = graph.ops[first].inputs[0]
        shortcut = None if other == x else _conv(graph, producer, readers, other)
        if other != x and (shortcut is None or graph.ops[shortcut].inputs[0] != x
                           or graph.ops[shortcut].kernel_hw != (1, 1)):
            continue
        convs = [first, second] + ([] if shortcut is None else [shortcut])
        layouts = tuple(graph_layout(graph, graph.ops[c]) for c in convs)
        return ResidualBlock(first, second, add, shortcut, x, op.outputs[0], layouts)
    return None


def with_blocks(items: list[T], blocks: list[ResidualBlock], fused: Callable[[ResidualBlock], T]) -> list[T]:
    """`items` (one per op, in op order) with each block's ops replaced by `fused(block)` where its ADD was."""
    at = {b.add: b for b in blocks}
    inside = {i for b in blocks for i in b.ops}
    return [fused(at[i]) if i in at else item for i, item in enumerate(items) if i in at or i not in inside]
