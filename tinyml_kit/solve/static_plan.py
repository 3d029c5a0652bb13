"""The C engine's memory: one int8 arena at offsets fixed at export, and nothing else in RAM.

Shared by code generation (which places a real model's tensors) and the estimators (which place a predicted
graph before training), so the arena `solve --engine c` ranks by is the arena the generated C declares.

What makes it smaller than TFLM's arena for the same graph:
- no persistent records: shapes, quantization and kernel parameters are `const` data in flash;
- in place: an elementwise op (a lookup-table activation, ADD, MUL) writes over an input that dies at that op,
  and RESHAPE is the same bytes under another shape;
- 4-byte alignment instead of 16;
- of several placements of the same lifetimes, the one with the lowest peak.

CMSIS-NN's scratch buffers are planned into the arena too, sized as its `*_get_buffer_size` functions size them
when built with GCC for a core with or without the DSP extension (the larger of the two), so one plan serves
the host, Cortex-M4F, M7 and M33 builds; the generated `Init` asks CMSIS-NN again and refuses a smaller plan.
"""

from dataclasses import dataclass

from tinyml_kit.core.graph import Graph

ALIGN = 4
# Unary int8 -> int8 ops whose output depends on one input value only: the engine runs them as 256-entry lookup
# tables, in place.
LUT_OPS = ("HARD_SWISH", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "ELU",
           "GELU", "QUANTIZE", "ABS", "NEG", "EXP")
ELEMENTWISE = ("ADD", "MUL")


def _up(n: int, align: int = ALIGN) -> int:
    return -(-n // align) * align


def conv_scratch_bytes(in_hwc: tuple[int, int, int], kernel_hw: tuple[int, int], stride_hw: tuple[int, int],
                       pad_hw: tuple[int, int], dilation_hw: tuple[int, int] = (1, 1)) -> int:
    """arm_convolve_wrapper_s8_get_buffer_size: 1x1 kernels need none (with GCC), others an int16 im2col of two
    columns."""
    in_h, in_w, in_c = in_hwc
    kh, kw = kernel_hw
    if (kh, kw) == (1, 1) and pad_hw == (0, 0) and dilation_hw == (1, 1):
        return 0
    cols = kh * kw * in_c
    return 2 * _up(cols, 4) * 2


def depthwise_scratch_bytes(in_c: int, out_c: int, kernel_hw: tuple[int, int], pad_hw: tuple[int, int],
                            dilation_hw: tuple[int, int] = (1, 1)) -> int:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size with DSP: the 3x3 kernel and the generic one need none, the
    optimized one an int16 row of the kernel window per channel."""
    if in_c != out_c or dilation_hw != (1, 1):
        return 0
    if kernel_hw == (3, 3) and max(pad_hw) <= 1:
        return 0
    return in_c * kernel_hw[0] * kernel_hw[1] * 2


def op_scratch_bytes(cmsis_bytes: int, shift_channels: int) -> int:
    """An op's scratch region: CMSIS-NN's buffer, then the op's per-channel shifts widened to int32 (they are
    int8 in flash)."""
    return _up(cmsis_bytes) + 4 * shift_channels


HARD_SWISH_TABLE_AFTER = 512   # elements: beyond this a HARD_SWISH builds its table first (256 B, in the arena)


def lut_scratch_bytes(kind: str, elements: int) -> int:
    """HARD_SWISH runs TFLM's fixed-point arithmetic; on a large tensor it first computes its 256 outputs into a
    table in the arena and then looks each element up (reserved whether or not the op kept a flash table)."""
    return 256 if kind == "HARD_SWISH" and elements > HARD_SWISH_TABLE_AFTER else 0


def avgpool_scratch_bytes(channels: int) -> int:
    """arm_avgpool_s8_get_buffer_size with DSP: an int32 sum per channel."""
    return channels * 4


@dataclass
class Buffer:
    """One region of the arena: a group of tensors that share bytes (in place, aliases), or an op's scratch."""
    size: int
    first: int                    # first op that needs it
    last: int                     # last op that needs it
    tensors: tuple[int, ...] = ()
    scratch_op: int | None = None
    offset: int = 0


@dataclass
class StaticPlan:
    buffers: list[Buffer]
    arena_bytes: int

    def offset_of(self, tensor: int) -> int:
        return next(b.offset for b in self.buffers if tensor in b.tensors)

    def scratch_offset(self, op: int) -> int:
        return next(b.offset for b in self.buffers if b.scratch_op == op)


@dataclass
class PlanOp:
    """What the planner needs of an op: the activation tensors it reads and writes, its scratch, and which
    inputs its output may overwrite (or, for an alias, is)."""
    inputs: tuple[int, ...]
    output: int
    scratch_bytes: int = 0
    in_place: tuple[int, ...] = ()
    alias: bool = False


def plan(sizes: dict[int, int], ops: list[PlanOp], graph_input: int, graph_output: int) -> StaticPlan:
    """Place every activation tensor (`sizes`: tensor -> bytes) and scratch buffer of `ops`, run in order."""
    first, last = {graph_input: 0}, {graph_input: 0}
    for i, op in enumerate(ops):
        first.setdefault(op.output, i)
        for t in (*op.inputs, op.output):
            last[t] = i
    last[graph_output] = len(ops)
    group = {t: t for t in sizes}

    def root(t: int) -> int:
        while group[t] != t:
            t = group[t]
        return t

    def group_last(r: int) -> int:
        return max(last[t] for t in group if root(t) == r)

    for i, op in enumerate(ops):
        if op.alias:
            group[root(op.output)] = root(op.inputs[0])
            continue
        for t in op.in_place:
            r = root(t)
            if r != root(graph_input) and group_last(r) == i and sizes[t] == sizes[op.output]:
                group[root(op.output)] = r
                break
    members: dict[int, list[int]] = {}
    for t in sizes:
        if t in first:
            members.setdefault(root(t), []).append(t)
    buffers = [Buffer(_up(max(sizes[t] for t in ts)), min(first[t] for t in ts), max(last[t] for t in ts),
                      tuple(sorted(ts))) for ts in members.values()]
    buffers += [Buffer(_up(op.scratch_bytes), i, i, scratch_op=i) for i, op in enumerate(ops) if op.scratch_bytes]
    return StaticPlan(buffers, _place_best(buffers))


def _place_best(buffers: list[Buffer]) -> int:
    """Greedy placement under several orders (largest first, longest-lived first, first-needed first); keeps
    the lowest peak."""
    orders = [lambda b: (-b.size, b.first), lambda b: (-(b.last - b.first), -b.size), lambda b: (b.first, -b.size),
              lambda b: (-b.size * (b.last - b.first + 1), b.first)]
    best, best_offsets = None, None
    for key in orders:
        peak = _place(sorted(buffers, key=key))
        if best is None or peak < best:
            best, best_offsets = peak, [b.offset for b in buffers]
    for b, offset in zip(buffers, best_offsets):
        b.offset = offset
    return best or 0


def _place(order: list[Buffer]) -> int:
    """Each buffer at the lowest offset where it overlaps no placed buffer alive at the same time."""
    placed: list[Buffer] = []
    for b in order:
        offset = 0
        for p in sorted((p for p in placed if not (p.first > b.last or b.first > p.last)), key=lambda p: p.offset):
            if p.offset - offset >= b.size:
                break
            offset = max(offset, p.offset + p.size)
        b.offset = offset
        placed.append(b)
    return max((b.offset + b.size for b in placed), default=0)


def plan_graph(graph: Graph) -> StaticPlan:
    """The static plan of a predicted or read `Graph` (sizes only: dilation 1, padding read off the shapes)."""
    sizes = {i: t.nbytes for i, t in enumerate(graph.tensors) if not t.is_constant}
    return plan(sizes, [_plan_op(graph, op) for op in graph.ops], graph.input, graph.output)


def _plan_op(graph: Graph, op) -> PlanOp:
    activations = tuple(t for t in op.inputs if not graph.tensors[t].is_constant)
    out = op.outputs[0]
    if op.kind == "RESHAPE":
        return PlanOp(activations[:1], out, alias=True)
    if op.kind in LUT_OPS or op.kind in ELEMENTWISE:
        return PlanOp(activations, out, lut_scratch_bytes(op.kind, graph.tensors[out].elements),
                      in_place=activations)
    scratch, shifts = 0, 0
    if op.kind == "FULLY_CONNECTED":
        weights = graph.tensors[op.inputs[1]]
        shifts = graph.tensors[out].shape[-1] if weights.quant_channels > 1 else 1
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
        _, in_h, in_w, in_c = graph.tensors[op.inputs[0]].shape
        _, out_h, out_w, out_c = graph.tensors[out].shape
        k = op.kernel
        pad = (max((out_h - 1) * op.stride + k - in_h, 0) // 2, max((out_w - 1) * op.stride + k - in_w, 0) // 2)
        if op.kind == "CONV_2D":
            scratch, shifts = conv_scratch_bytes((in_h, in_w, in_c), (k, k), (op.stride, op.stride), pad), out_c
        elif op.kind == "DEPTHWISE_CONV_2D":
            scratch, shifts = depthwise_scratch_bytes(in_c, out_c, (k, k), pad), out_c
        else:
            scratch = avgpool_scratch_bytes(in_c)
    return PlanOp(activations, out, op_scratch_bytes(scratch, shifts))
