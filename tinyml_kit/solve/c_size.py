"""What the C engine's model costs, from a graph alone (no TensorFlow, no compiler): the flash of the generated
`tinyml_model.c` (constants + parameter structs + code) and its static arena.

Constants and structs are counted exactly as the code generator lays them out: int8 weights (a generated
convolution's zero-padded to whole words per kernel row, `solve.conv_layout`); per output
channel an int32 bias, an int32 multiplier and an int8 shift (9 bytes); a 256-byte table per lookup-table
activation (HARD_SWISH instead keeps 10 bytes of fixed-point parameters) and per ADD or MUL of a constant
scalar; two 256-entry int32 tables per other ADD (its inputs' rescales); the int8 values of a constant operand of
ADD and MUL; one 16-byte dims struct per distinct shape. The code generator stores equal tables once, which takes
the quantization this graph does not hold: for a model with two equal tables this is an upper bound, by 256 or
1,024 bytes per duplicate. Code bytes per op kind were fitted by least squares on compiled objects
(arm-none-eabi-gcc 12.2, -Os, Cortex-M4F; `bench/engine_estimates.py --calibrate` refits them). The arena is
`static_plan.plan_graph`'s, exact.
"""

from dataclasses import dataclass

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.cmsis_scratch import kernel_sums_bytes
from tinyml_kit.solve.conv_layout import generated, graph_layout
from tinyml_kit.solve.depthwise_shape import DepthwiseCost, depthwise_cost
from tinyml_kit.solve.residual_block import residual_blocks
from tinyml_kit.solve.static_plan import LUT_OPS, plan_graph

PER_CHANNEL_BYTES = 9           # int32 bias + int32 multiplier + int8 shift
PARAM_STRUCT_BYTES = {"DEPTHWISE_CONV_2D": 44, "FULLY_CONNECTED": 20, "AVERAGE_POOL_2D": 24,
                      "MAX_POOL_2D": 24, "HARD_SWISH": 10}
DIMS_BYTES = 16
TABLE_BYTES = 256
ADD_TABLE_BYTES = 2 * 256 * 4   # ADD's two int32 input-rescale tables (engine.elementwise.add)
# Code bytes: the model API and helpers ("base"), then per op of each kind, fitted on the 24 PhiNets of
# bench/engine_estimates.py (largest residual 101 B: an offset into the arena takes 2 or 4 bytes of Thumb code).
# Inside a PhiNet the counts move together (a HARD_SWISH follows most convolutions; MEAN stands for a
# squeeze-excitation block: MEAN, two 1x1 convolutions, LOGISTIC, MUL), so one coefficient alone means little;
# what is measured is their sum over a model. Refit with
# `bench/engine_estimates.py --calibrate` after changing the generated code.
# A CONV_2D runs a kernel generated for it (`engine.conv_gen`): its code grows with the words of its straight-line
# blocks (`ConvLayout.straight_words`) and the blocks it emits as C loops (`ConvLayout.c_blocks`). Those three terms
# were fitted on the code the generated kernels add over CMSIS-NN calls in the nine models of bench/engine.py
# (ResNet-8, PhiNets, TinyNets, MobileNetV1/V2; residuals -0.8 to +1.2 KB); on the first PhiNets of
# bench/engine_estimates.py the whole estimate is then 2-5 % under the compiled object.
# Depthwise layers are generated functions on the same cores, their code counted by `solve.depthwise_shape` on
# top of this table; their coefficient here keeps its share of the joint fit until the next refit.
CODE_FEATURES = ("base", "CONV_2D", "CONV_2D_WORDS", "CONV_2D_C_BLOCKS", "DEPTHWISE_CONV_2D", "HARD_SWISH", "MEAN",
                 "ADD")
CODE_BYTES = (283.2, 197.0, 37.9, 203.5, 369.8, -23.3, 235.5, 492.0)
# On Helium cores a CONV_2D calls CMSIS-NN's MVE kernels instead (`conv_layout.generated`): the code of a CMSIS-NN
# call, as fitted before kernels were generated.
CMSIS_CONV_CODE_BYTES = 63.3
# Ops outside that fit: code bytes each adds to tinyml_model.c (its step and the C function it generates; the
# largest over the small graphs of tests/test_c_engine_ops.py, measured with and without the op by
# `bench/op_code_bytes.py`, same compiler and flags), and the int32 parameters it keeps in flash (SUB's rescale,
# a gather's counts and steps).
# A MUL by a per-pixel map (CBAM's spatial gate) is its own loop, counted under MUL_BY_PIXEL (`code_kind`); a MUL
# of equal shapes or by a per-channel vector is in the fit (squeeze-excitation's scale). MEAN_CHANNELS (a MEAN over
# each pixel's channels) stands for a CBAM block: what the per-kind bytes above leave of its compiled code, fitted
# on 6 CBAM PhiNets by `bench/cbam_estimates.py` (negative: the fit's ADD and CONV_2D bytes carry a PhiNet's
# residual blocks, which CBAM's branch ADD and MLP convolutions are not).
OP_CODE_BYTES = {"SOFTMAX": 32, "CONCATENATION": 64, "SUB": 236, "MAXIMUM": 40, "MINIMUM": 40, "STRIDED_SLICE": 68,
                 "TRANSPOSE": 44, "RESIZE_NEAREST_NEIGHBOR": 48, "REDUCE_MAX": 44, "MUL_BY_PIXEL": 138,
                 "MEAN_CHANNELS": -542}
OP_PARAM_BYTES = {"SUB": 48, "STRIDED_SLICE": 32, "TRANSPOSE": 32, "MUL_BY_PIXEL": 28}
# A residual block run row by row (`solve.residual_block`) costs this much code over its ops run one by one (its
# ADD and convolutions are still counted above): the row loop and the ADD of a row, less the ADD's call.
# Measured on ResNet-8 (+61 B a block) and the small residual net of tests/test_residual_block.py (+53 B), same
# compiler and flags.
RESIDUAL_BLOCK_CODE_BYTES = 57


@dataclass
class CEngineCosts:
    constant_bytes: int
    struct_bytes: int
    code_bytes: int
    arena_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.constant_bytes + self.struct_bytes + self.code_bytes


def _out_channels(graph: Graph, op) -> int:
    return graph.tensors[op.outputs[0]].shape[-1]


def conv_dims(in_shape: tuple, filter_shape: tuple, out_shape: tuple, depthwise: bool) -> list[tuple]:
    """The dims a (depthwise) convolution passes CMSIS-NN: input, filter, bias, output (TFLM's values). The code
    generator declares them and this module counts them, from this one rule."""
    out_c = out_shape[-1]
    if depthwise:
        filt = (filter_shape[0], filter_shape[1], filter_shape[2], out_c)
    else:
        filt = (1, filter_shape[1], filter_shape[2], filter_shape[3])
    return [tuple(in_shape), filt, (1, 1, 1, out_c), tuple(out_shape)]


def _generated_depthwise(graph: Graph, op) -> DepthwiseCost:
    """A depthwise layer as the code generator emits it (`engine.depthwise_kernels`; those with a depth multiplier
    or a dilation stay CMSIS-NN calls, which a graph does not tell apart: counted as generated)."""
    inp, out = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
    return depthwise_cost(tuple(inp[1:]), tuple(out[1:3]), (op.kernel, op.kernel), (op.stride, op.stride))


def c_engine_costs(graph: Graph, family: KernelFamily = KernelFamily.DSP) -> CEngineCosts:
    """The costs of the C engine's build of `graph` for `family`'s kernels (`core.cores.kernel_family`)."""
    constants = structs = dw_code = 0
    shapes: set[tuple] = set()
    for op in graph.ops:
        if op.kind == "CONV_2D" and generated((1, 1), family):   # its shapes are constants of its code
            constants += graph_layout(graph, op).weight_bytes + PER_CHANNEL_BYTES * _out_channels(graph, op)
            continue
        if op.kind == "DEPTHWISE_CONV_2D" and family.generates_kernels:
            cost = _generated_depthwise(graph, op)
            constants, dw_code = constants + cost.constant_bytes, dw_code + cost.code_bytes
            continue
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights = graph.tensors[op.inputs[1]]
            constants += weights.elements + PER_CHANNEL_BYTES * _out_channels(graph, op)
            shapes.update(conv_dims(graph.tensors[op.inputs[0]].shape, weights.shape,
                                    graph.tensors[op.outputs[0]].shape, op.kind == "DEPTHWISE_CONV_2D"))
        elif op.kind in LUT_OPS and op.kind != "HARD_SWISH":
            constants += TABLE_BYTES
        elif op.kind in ("ADD", "MUL"):
            constants += _binary_constant_bytes(graph, op)
        elif op.kind == "FULLY_CONNECTED":
            constants += kernel_sums_bytes(_out_channels(graph, op), family)
        elif op.kind == "RESIZE_NEAREST_NEIGHBOR":   # an int32 row map and column map
            constants += 4 * sum(graph.tensors[op.outputs[0]].shape[1:3])
        constants += OP_PARAM_BYTES.get(code_kind(graph, op), 0)
        structs += PARAM_STRUCT_BYTES.get(op.kind, 0)
    structs += DIMS_BYTES * len(shapes)
    code = dw_code + sum(n * b for n, b in zip(code_features(graph, family), CODE_BYTES, strict=False))
    code += sum(OP_CODE_BYTES.get(code_kind(graph, op), 0) for op in graph.ops)
    if not generated((1, 1), family):
        code += CMSIS_CONV_CODE_BYTES * sum(op.kind == "CONV_2D" for op in graph.ops)
    code += RESIDUAL_BLOCK_CODE_BYTES * len(residual_blocks(graph, family))
    return CEngineCosts(constants, structs, int(round(code)), plan_graph(graph, family).arena_bytes)


def _per_pixel(full, vec) -> bool:
    """`vec` holds one value per pixel of `full` (shape [..., 1])."""
    return vec.shape[:-1] == full.shape[:-1] and vec.shape[-1] == 1 < full.shape[-1]


def code_kind(graph: Graph, op) -> str:
    """The op's kind; MUL_BY_PIXEL for a MUL of an activation by a per-pixel map of it (`engine.elementwise.mul`),
    MEAN_CHANNELS for a MEAN over each pixel's channels (`engine.reduce`)."""
    a, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if op.kind == "MEAN" and _per_pixel(a, out):
        return "MEAN_CHANNELS"
    if op.kind != "MUL" or any(graph.tensors[i].is_constant for i in op.inputs[:2]):
        return op.kind
    b = graph.tensors[op.inputs[1]]
    pixel = any(full.shape == out.shape and _per_pixel(full, vec) for full, vec in ((a, b), (b, a)))
    return "MUL_BY_PIXEL" if pixel else op.kind


def _binary_constant_bytes(graph: Graph, op) -> int:
    """ADD or MUL of a constant scalar is a lookup table; otherwise a constant operand's int8 values (a per-channel
    bias or scale) are kept, and an ADD keeps its two rescale tables."""
    constant = [graph.tensors[i] for i in op.inputs[:2] if graph.tensors[i].is_constant]
    if len(constant) == 1 and constant[0].elements == 1:
        return TABLE_BYTES
    return (ADD_TABLE_BYTES if op.kind == "ADD" else 0) + sum(t.elements for t in constant)


def code_features(graph: Graph, family: KernelFamily = KernelFamily.DSP) -> list[int]:
    """The counts CODE_BYTES weighs: ops per kind (`code_kind`), and the words of the generated convolutions'
    straight-line 2 x 2 blocks (their code grows with them); a family without generated convolutions counts none
    here."""
    kinds = [code_kind(graph, op) for op in graph.ops]
    convs = [graph_layout(graph, op) for op in graph.ops if op.kind == "CONV_2D"] if generated((1, 1), family) else []
    counts = {"CONV_2D": len(convs), "CONV_2D_WORDS": sum(lay.straight_words for lay in convs),
              "CONV_2D_C_BLOCKS": sum(lay.c_blocks for lay in convs)}
    return [1, *(counts.get(k, kinds.count(k)) for k in CODE_FEATURES[1:])]
