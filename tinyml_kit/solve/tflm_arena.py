"""The tensor arena TFLM reports for a graph, computed without running TFLM.

A replay of what the `tflite-micro` Python package (x86_64, reference kernels, RecordingMicroAllocator) does in
AllocateTensors, read from TFLM's sources (micro_allocator.cc, micro_allocation_info.cc,
greedy_memory_planner.cc, each kernel's Init/Prepare) and checked byte for byte against `print_allocations()`:

- tail: persistent allocations from the top of the arena, in TFLM's order, each rounded to its own alignment:
  the allocator objects, an eval-tensor record per tensor, a node record per op, each op's builtin params and
  op data (convolutions add two int32 per-channel arrays), scratch-buffer handles, the I/O tensor structs;
- head: the greedy planner's peak over the non-constant tensors and the kernels' scratch buffers (MEAN asks
  for three), each rounded up to 16 bytes.

A Cortex-M build has the same head and a smaller tail (4-byte pointers: about 10 % less in all).
"""

from bisect import insort
from dataclasses import dataclass

from tinyml_kit.core.arena import ArenaUsage
from tinyml_kit.core.graph import Graph

# (size, alignment) of each op's builtin params, and the size of the op data its Init allocates (16-aligned)
_PARAMS = {"CONV_2D": (28, 4), "DEPTHWISE_CONV_2D": (28, 4), "MEAN": (1, 1), "MUL": (4, 4), "ADD": (8, 4),
           "RESHAPE": (36, 4)}
_INIT = {"CONV_2D": 80, "DEPTHWISE_CONV_2D": 80, "HARD_SWISH": 20, "MEAN": 44, "LOGISTIC": 16, "MUL": 36,
         "ADD": 60}
# the arena allocator, the planner, the recording allocator, the builtin-data allocator, one subgraph's records
_ALLOCATOR_OBJECTS = (104, 72, 272, 16, 24)
_EVAL_TENSOR = 24
_NODE = 64
_TENSOR = 64
_QUANTIZATION = 24


def _up(n: int, align: int) -> int:
    return -(-n // align) * align


def arena_bytes(graph: Graph) -> ArenaUsage:
    plan = memory_plan(graph)
    tail = _tail_bytes(graph, sum(1 for b in plan if b.tensor is None))
    head = max((b.offset + b.size for b in plan), default=0)
    return ArenaUsage(head + tail, head, tail)


@dataclass
class PlannedBuffer:
    """One buffer of the arena's head: a non-constant tensor or a kernel's scratch buffer. Op i runs at scope
    i + 1; the subgraph input is live from scope 0."""
    size: int                   # bytes, rounded up to 16 as TFLM does
    first: int                  # first scope it is live in
    last: int                   # last scope it is live in
    tensor: int | None = None   # graph tensor index; None for a scratch buffer
    op: int | None = None       # for a scratch buffer, the op that asked for it
    offset: int = 0             # where the greedy planner put it, from the start of the arena

    def live_at(self, scope: int) -> bool:
        return self.first <= scope <= self.last


def memory_plan(graph: Graph) -> list[PlannedBuffer]:
    """TFLM's plan of the arena's head for `graph`: every planned buffer with its lifetime and offset."""
    buffers = _planned_buffers(graph, _scratch_requests(graph))
    _greedy_place(buffers)
    return buffers


def _scratch_requests(graph: Graph) -> list[tuple[int, int]]:
    """(bytes, op index) of each scratch buffer, in request order: int8 MEAN asks for int32 sums of its output,
    then for its input's rank and its axes."""
    found = []
    for i, op in enumerate(graph.ops):
        if op.kind == "MEAN":
            out, inp, axes = graph.tensors[op.outputs[0]], graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
            found += [(4 * out.elements, i), (4 * len(inp.shape), i), (4 * axes.elements, i)]
    return found


def _tail_bytes(graph: Graph, scratch_count: int) -> int:
    used = 0

    def alloc(size: int, align: int) -> None:
        nonlocal used
        used = _up(used + size, align)

    for size in _ALLOCATOR_OBJECTS:
        alloc(size, 8)
    alloc(_EVAL_TENSOR * len(graph.tensors), 8)
    alloc(_NODE * len(graph.ops), 8)
    for op in graph.ops:
        if op.kind in _PARAMS:
            alloc(*_PARAMS[op.kind])
    for op in graph.ops:
        if op.kind in _INIT:
            alloc(_INIT[op.kind], 16)
    for op in graph.ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            channels = graph.tensors[op.outputs[0]].shape[-1]
            alloc(4 * channels, 16)   # per-channel output multipliers
            alloc(4 * channels, 16)   # and shifts
    if scratch_count:
        alloc(8 * scratch_count, 8)
    for t in (graph.input, graph.output):
        alloc(8, 16)                  # the pointer array of the subgraph's inputs, then outputs
        alloc(_TENSOR, 8)
        alloc(_QUANTIZATION, 8)
        alloc(4 + 4 * graph.tensors[t].quant_channels, 4)
    return used


def _planned_buffers(graph: Graph, scratch: list[tuple[int, int]]) -> list[PlannedBuffer]:
    """The planned buffers in TFLM's id order: tensors by index, then scratch requests."""
    n_ops = len(graph.ops)
    first: dict[int, int] = {graph.input: 0}
    last: dict[int, int] = {graph.input: 0}
    for i, op in enumerate(graph.ops):
        for t in op.outputs:
            first.setdefault(t, i + 1)
        for t in (*op.inputs, *op.outputs):
            last[t] = i + 1
    first.setdefault(graph.output, n_ops)
    last[graph.output] = n_ops
    buffers = [PlannedBuffer(_up(t.nbytes, 16), first[i], last[i], tensor=i) for i, t in enumerate(graph.tensors)
               if not t.is_constant and i in first]
    return buffers + [PlannedBuffer(_up(size, 16), i + 1, i + 1, op=i) for size, i in scratch]


def _greedy_place(buffers: list[PlannedBuffer]) -> None:
    """TFLM's GreedyMemoryPlanner: largest first (equal sizes: higher id first), each at the lowest offset where
    it overlaps no placed buffer alive at the same time."""
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, -i))
    placed: list[PlannedBuffer] = []   # kept sorted by offset
    for i in order:
        b = buffers[i]
        offset = 0
        for p in placed:
            if p.first > b.last or b.first > p.last:
                continue
            if p.offset - offset >= b.size:
                break
            offset = max(offset, p.offset + p.size)
        b.offset = offset
        insort(placed, b, key=lambda p: p.offset)
