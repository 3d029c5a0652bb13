"""The C engine's memory: one int8 arena at offsets fixed at export, and nothing else in RAM.

Shared by code generation (which places a real model's tensors) and the estimators (which place a predicted
graph before training), so the arena `solve --engine c` ranks by is the arena the generated C declares.

What makes it smaller than TFLM's arena for the same graph:
- no persistent records: shapes, quantization and kernel parameters are `const` data in flash;
- in place: an elementwise op (a lookup-table activation, ADD, MUL) writes over an input that dies at that op,
  RESHAPE is the same bytes under another shape, concatenated inputs are in their output, and a run consumes its
  input;
- a convolution writes its output over its dying input as far as its kernel's access order allows (CMSIS-NN's:
  `cmsis_scratch.overlap_bytes`; generated: `ConvLayout.overlap`), a region placed part by part (dead bytes free at
  other times);
- a residual block runs row by row (`solve.residual_block`): its inner tensors are a ring of rows and two rows of
  scratch, and its output is written over its input where each row may be;
- 4-byte alignment instead of 16;
- of several op orders and placements, the one with the lowest peak.

CMSIS-NN's scratch buffers are planned into the arena too, sized for the plan's `KernelFamily` as its
`*_get_buffer_size` functions size them (`solve.cmsis_scratch`, with the order its kernels touch memory in).
"""

from dataclasses import dataclass, field
from functools import lru_cache

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.arena_placement import Buffer, place_best
from tinyml_kit.solve.cmsis_scratch import (
    avgpool_scratch_bytes,
    conv_scratch_bytes,
    depthwise_scratch_bytes,
    overlap_bytes,
)
from tinyml_kit.solve.concat_plan import concat_placed, fits_inside
from tinyml_kit.solve.conv_layout import graph_layout
from tinyml_kit.solve.kernel_choice import LayerKernel
from tinyml_kit.solve.residual_block import ResidualBlock, residual_blocks, with_blocks

ALIGN = 4
# Unary int8 -> int8 ops whose output depends on one input value only: the engine runs them as 256-entry lookup
# tables, in place.
LUT_OPS = ("HARD_SWISH", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "ELU",
           "GELU", "QUANTIZE", "ABS", "NEG", "EXP")
ELEMENTWISE = ("ADD", "MUL", "SUB", "MAXIMUM", "MINIMUM")


def aligned(n: int, align: int = ALIGN) -> int:
    """`n` bytes as the arena reserves them: rounded up to the alignment."""
    return -(-n // align) * align


def op_scratch_bytes(cmsis_bytes: int, shift_channels: int) -> int:
    """An op's scratch region: CMSIS-NN's buffer, then the op's per-channel int8 shifts widened to int32."""
    return aligned(cmsis_bytes) + 4 * shift_channels


HARD_SWISH_TABLE_AFTER = 512   # elements: beyond this a HARD_SWISH builds its table first (256 B, in the arena)


def lut_scratch_bytes(kind: str, elements: int) -> int:
    """HARD_SWISH runs TFLM's fixed-point arithmetic; on a large tensor it first computes its 256 outputs into a
    table in the arena and then looks each element up (reserved whether or not the op kept a flash table)."""
    return 256 if kind == "HARD_SWISH" and elements > HARD_SWISH_TABLE_AFTER else 0


@dataclass
class StaticPlan:
    buffers: list[Buffer]
    arena_bytes: int
    order: list[int] = field(default_factory=list)   # op indices in the order the plan runs them

    def offset_of(self, tensor: int) -> int:
        return next(b.offset + b.within.get(tensor, 0) for b in self.buffers if tensor in b.tensors)


@dataclass(frozen=True)
class PlanOp:
    """What the planner needs of an op: the activation tensors it reads and writes, its scratch, which inputs
    its output may overwrite (or, for an alias, is), and for a convolution how many bytes before its input its
    output may start (`overlap`) when the input dies there."""
    inputs: tuple[int, ...]
    output: int
    scratch_bytes: int = 0
    in_place: tuple[int, ...] = ()
    alias: bool = False
    overlap: int | None = None
    placed: tuple[tuple[int, int], ...] = ()   # (input, byte offset): may be planned inside the output (concat)


def plan(sizes: dict[int, int], ops: list[PlanOp], graph_input: int, graph_output: int) -> StaticPlan:
    """Place every activation tensor (`sizes`: tensor -> bytes) and scratch buffer of `ops`. Tried: the ops in
    their given order and in the orders `execution_orders` finds for branching graphs, each with convolutions
    over their dying inputs, with only the cheap overlaps, and without (sharing bytes lengthens a region's life,
    which can cost more elsewhere than it saves). The lowest peak wins; `StaticPlan.order` is its op order."""
    plans = [_plan(sizes, ops, order, graph_input, graph_output, limit)
             for order in execution_orders(ops, sizes) for limit in (1.0, 0.1, 0.0)]
    return min(plans, key=lambda p: p.arena_bytes)


def execution_orders(ops: list[PlanOp], sizes: dict[int, int]) -> list[list[int]]:
    """The given order and, where branches leave a choice, a memory-greedy one: of the ops whose inputs are
    ready, run first the one that frees the most bytes less what it allocates (squeeze-excitation and residual
    branches). Duplicates are dropped."""
    producer = {op.output: i for i, op in enumerate(ops)}
    needs = [{producer[t] for t in op.inputs if t in producer} for op in ops]
    readers: dict[int, set[int]] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            readers.setdefault(t, set()).add(i)
    done: set[int] = set()
    greedy: list[int] = []
    while len(greedy) < len(ops):
        ready = [i for i in range(len(ops)) if i not in done and needs[i] <= done]

        def gain(i: int) -> int:
            freed = sum(sizes.get(t, 0) for t in set(ops[i].inputs) if readers[t] - done <= {i})
            return freed - (0 if ops[i].alias else sizes.get(ops[i].output, 0))

        nxt = max(ready, key=lambda i: (gain(i), -i))
        greedy.append(nxt)
        done.add(nxt)
    given = list(range(len(ops)))
    return [given] if greedy == given else [given, greedy]


def _plan(sizes: dict[int, int], ops: list[PlanOp], order: list[int], graph_input: int, graph_output: int,
          overlap_limit: float) -> StaticPlan:
    """`order`: op indices in execution order. `overlap_limit`: overlap an input only where the extra bytes are at
    most this fraction of the output. Times are positions in `order`."""
    first, last = {graph_input: 0}, {graph_input: 0}
    for pos, i in enumerate(order):
        op = ops[i]
        first.setdefault(op.output, pos)
        for t in (*op.inputs, op.output):
            last[t] = pos
    last[graph_output] = len(ops)
    regions = _Regions(sizes, last)
    for pos, i in enumerate(order):
        op = ops[i]
        if op.alias:
            regions.join(op.output, op.inputs[0], 0)
            continue
        shared = next((t for t in op.in_place if regions.dies_at(t, pos) and sizes[t] == sizes[op.output]), None)
        if shared is not None:
            regions.join(op.output, shared, 0)
        elif (op.overlap is not None and op.overlap <= overlap_limit * sizes[op.output] and len(op.inputs) == 1
              and regions.dies_at(op.inputs[0], pos)):
            regions.join(op.output, op.inputs[0], -aligned(op.overlap))
        for t, offset in (p for p in op.placed if fits_inside(regions, sizes, first, p[0], op.output, p[1])):
            regions.join(t, op.output, offset)   # a concatenation's input written in its output (`concat_plan`)
    within = regions.within
    buffers = [Buffer(aligned(max(within[t] + sizes[t] for t in ts)), min(first[t] for t in ts),
                      max(last[t] for t in ts), tuple(sorted(ts)), within={t: within[t] for t in ts},
                      parts=[(within[t], aligned(sizes[t]), first[t], last[t]) for t in ts],
                      spans={t: (first[t], last[t]) for t in ts})
               for ts in regions.members(first)]
    buffers += [Buffer(aligned(ops[i].scratch_bytes), pos, pos, scratch_op=i) for pos, i in enumerate(order)
                if ops[i].scratch_bytes]
    return StaticPlan(buffers, place_best(buffers), order)


class _Regions:
    """Tensors grouped into regions, each tensor at an offset inside its region."""

    def __init__(self, sizes: dict[int, int], last: dict[int, int]):
        self.region = {t: t for t in sizes}
        self.within = {t: 0 for t in sizes}
        self.last = last
        self.groups = {t: [t] for t in sizes}   # region -> its tensors

    def _tensors(self, r: int) -> list[int]:
        return self.groups[r]

    def dies_at(self, t: int, op: int) -> bool:
        """t's region holds nothing needed after `op`. The graph input counts too: a run consumes its input
        (`tinyml_run_int8` and `tinyml_run_pixels` write it each time), which on small models is often the peak."""
        r = self.region[t]
        return max(self.last.get(m, -1) for m in self._tensors(r)) == op

    def join(self, t: int, host: int, delta: int) -> None:
        """Put t's region into host's, t at `delta` bytes from host (negative: before it)."""
        r, old = self.region[host], self.region[t]
        moved = self._tensors(old)
        base = self.within[host] + delta - self.within[t]
        for m in moved:
            self.region[m], self.within[m] = r, self.within[m] + base
        if old != r:
            self.groups[r] += self.groups.pop(old)
        low = min(self.within[m] for m in self._tensors(r))
        if low < 0:
            for m in self._tensors(r):
                self.within[m] -= low

    def members(self, first: dict[int, int]) -> list[list[int]]:
        """The tensors of each region, those that exist (`first`) only."""
        groups: dict[int, list[int]] = {}
        for t, r in self.region.items():
            if t in first:
                groups.setdefault(r, []).append(t)
        return list(groups.values())


def plan_graph(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel]) -> StaticPlan:
    """The static plan of a predicted or read `Graph` for `family`'s kernels (sizes only: dilation 1, padding
    read off the shapes), each layer on the kernel `kernels` gives it (`c_size.model_kernels`: the code
    generator's choice)."""
    sizes, ops = _graph_plan_ops(graph, family, kernels)
    return plan(sizes, ops, graph.input, graph.output)


def graph_arena_bytes(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel]) -> int:
    """The arena of `plan_graph`, planned once per distinct plan: the solver asks it of a configuration for its
    time (where the weights go, `solve.weight_placement`) and again for its size."""
    sizes, ops = _graph_plan_ops(graph, family, kernels)
    return _arena_bytes(tuple(sizes.items()), tuple(ops), graph.input, graph.output)


@lru_cache(maxsize=256)
def _arena_bytes(sizes: tuple[tuple[int, int], ...], ops: tuple[PlanOp, ...], graph_input: int,
                 graph_output: int) -> int:
    return plan(dict(sizes), list(ops), graph_input, graph_output).arena_bytes


def _graph_plan_ops(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel]
                    ) -> tuple[dict[int, int], list[PlanOp]]:
    sizes = {i: t.nbytes for i, t in enumerate(graph.tensors) if not t.is_constant}
    ops = with_blocks([_plan_op(graph, op, family, kernels.get(i)) for i, op in enumerate(graph.ops)],
                      residual_blocks(graph, kernels), block_op)
    return sizes, ops


def block_op(block: ResidualBlock) -> PlanOp:
    """A residual block run row by row (`solve.residual_block`): X in, the ADD's output out (over X where it may
    be), its window buffer, ring and shortcut row as scratch; its inner tensors are never in the arena."""
    return PlanOp((block.block_input,), block.output, block.scratch_bytes, overlap=0 if block.in_place else None)


def _plan_op(graph: Graph, op, family: KernelFamily, kernel: LayerKernel | None) -> PlanOp:
    activations = tuple(t for t in op.inputs if not graph.tensors[t].is_constant)
    out = op.outputs[0]
    if op.kind == "RESHAPE":
        return PlanOp(activations[:1], out, alias=True)
    if op.kind == "CONCATENATION":
        return PlanOp(activations, out, placed=concat_placed(graph, op))
    if op.kind in LUT_OPS or op.kind in ELEMENTWISE:
        return PlanOp(activations, out, lut_scratch_bytes(op.kind, graph.tensors[out].elements),
                      in_place=activations)
    if op.kind == "CONV_2D" and kernel is not None and kernel.generated:
        layout = graph_layout(graph, op)
        return PlanOp(activations, out, op_scratch_bytes(layout.scratch_bytes, 0), overlap=layout.overlap)
    scratch, shifts, overlap = 0, 0, None
    if op.kind == "FULLY_CONNECTED":
        weights = graph.tensors[op.inputs[1]]
        shifts = graph.tensors[out].shape[-1] if weights.quant_channels > 1 else 1
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
        _, in_h, in_w, in_c = graph.tensors[op.inputs[0]].shape
        _, out_h, out_w, out_c = graph.tensors[out].shape
        (kh, kw), (sh, sw) = op.kernel_hw, op.stride_hw
        pad = (max((out_h - 1) * sh + kh - in_h, 0) // 2, max((out_w - 1) * sw + kw - in_w, 0) // 2)
        shape = ((in_h, in_w, in_c), (out_h, out_w, out_c), (kh, kw), (sh, sw), pad, (1, 1))
        if op.kind == "CONV_2D":
            scratch, shifts = conv_scratch_bytes(shape[0], (kh, kw), (sh, sw), pad, (1, 1), out_w, family), out_c
        elif op.kind == "DEPTHWISE_CONV_2D" and kernel is not None and kernel.generated:
            pass   # generated (`engine.depthwise_kernels`): no scratch, its shifts packed with its weights in flash
        elif op.kind == "DEPTHWISE_CONV_2D":
            scratch, shifts = depthwise_scratch_bytes(*shape, family), out_c
        else:
            scratch = avgpool_scratch_bytes(in_c, family)
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            overlap = overlap_bytes(*shape, family, depthwise=op.kind == "DEPTHWISE_CONV_2D")
    return PlanOp(activations, out, op_scratch_bytes(scratch, shifts), overlap=overlap)
