"""What the C engine's model costs, from a graph alone (no TensorFlow, no compiler): the flash of the generated
`tinyml_model.c` (constants + parameter structs + code) and its static arena, each convolution, depthwise layer and
ADD on the kernel the code generator chooses for it (`model_kernels`: generated or a CMSIS-NN call,
`solve.kernel_choice`), whose costs per layer are counted here too.

Constants and structs are counted exactly as the code generator lays them out: int8 weights (a generated
convolution's zero-padded to whole words per kernel row, `solve.conv_layout`); per output
channel an int32 bias, an int32 multiplier and an int8 shift (9 bytes); a 256-byte table per lookup-table
activation (HARD_SWISH instead keeps 10 bytes of fixed-point parameters) and per ADD or MUL of a constant
scalar; two 256-entry int32 tables per other ADD run by tables (its inputs' rescales); the int8 values of a
constant operand of ADD and MUL; one 16-byte dims struct per distinct shape. The code generator stores equal
tables once, which takes the quantization this graph does not hold: for a model with two equal tables this is an
upper bound, by 256 or 1,024 bytes per duplicate. Code bytes per op kind were fitted by least squares on compiled
objects (arm-none-eabi-gcc 12.2, -Os, Cortex-M4F; `bench/engine_estimates.py --calibrate` refits them). The arena
is `static_plan.plan_graph`'s, exact.
"""

from dataclasses import dataclass, replace

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.conv_layout import ConvLayout, generated, graph_layout
from tinyml_kit.solve.depthwise_shape import DepthwiseCost, depthwise_cost
from tinyml_kit.solve.instructions import adds_activations
from tinyml_kit.solve.kernel_choice import (
    FLASH_ALLOWANCE,
    LayerKernel,
    candidate,
    choose,
    cmsis_instructions,
    linked_libraries,
    sharing,
)
from tinyml_kit.solve.residual_block import residual_blocks
from tinyml_kit.solve.static_plan import LUT_OPS, graph_arena_bytes

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
# A CONV_2D whose generated function other layers of its layout share passes it its constants' addresses and the
# offsets and activation range the layers differ in: the code of those arguments at each call. With it the
# estimate puts what sharing saves at 5,424 B on MobileNetV1 small and 14,397 B on MobileNetV2 small; the ELF
# (arm-none-eabi-gcc 12.2, -Os, Cortex-M4F) measured 5,440 and 14,912 B.
SHARED_CONV_CALL_BYTES = 24
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


def c_engine_costs(graph: Graph, family: KernelFamily = KernelFamily.DSP,
                   kernels: dict[int, LayerKernel] | None = None) -> CEngineCosts:
    """The costs of the C engine's build of `graph` for `family`'s kernels (`core.cores.kernel_family`), each
    layer on the kernel `kernels` gives it (default: the code generator's choice, `kernel_choice.model_kernels`)."""
    kernels = model_kernels(graph, family) if kernels is None else kernels
    return CEngineCosts(*flash_parts(graph, family, kernels), graph_arena_bytes(graph, family, kernels))


def flash_parts(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel]) -> tuple[int, int, int]:
    """Constant, struct and code bytes of the build of `graph` with each layer on the kernel `kernels` gives it."""
    constants = structs = dw_code = 0
    shapes: set[tuple] = set()
    functions: set = set()   # the depthwise functions counted (identical layers share one)
    for i, op in enumerate(graph.ops):
        generated_here = i in kernels and kernels[i].generated
        if op.kind == "CONV_2D" and generated_here:   # its shapes are constants of its code
            constants += graph_layout(graph, op).weight_bytes + PER_CHANNEL_BYTES * _out_channels(graph, op)
            continue
        if op.kind == "DEPTHWISE_CONV_2D" and generated_here:
            cost, share = _generated_depthwise(graph, op), kernels[i].share
            constants, dw_code = constants + cost.constant_bytes, dw_code + (0 if share in functions else
                                                                             cost.code_bytes)
            functions.add(share)
            continue
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights = graph.tensors[op.inputs[1]]
            constants += weights.elements + PER_CHANNEL_BYTES * _out_channels(graph, op)
            shapes.update(conv_dims(graph.tensors[op.inputs[0]].shape, weights.shape,
                                    graph.tensors[op.outputs[0]].shape, op.kind == "DEPTHWISE_CONV_2D"))
        elif op.kind in LUT_OPS and op.kind != "HARD_SWISH":
            constants += TABLE_BYTES
        elif op.kind in ("ADD", "MUL"):
            constants += _binary_constant_bytes(graph, op, generated_here)
        elif op.kind == "RESIZE_NEAREST_NEIGHBOR":   # an int32 row map and column map
            constants += 4 * sum(graph.tensors[op.outputs[0]].shape[1:3])
        constants += OP_PARAM_BYTES.get(code_kind(graph, op), 0)
        structs += PARAM_STRUCT_BYTES.get(op.kind, 0)
    structs += DIMS_BYTES * len(shapes)
    code = dw_code + sum(n * b for n, b in zip(code_features(graph, family, kernels), CODE_BYTES, strict=False))
    code += sum(OP_CODE_BYTES.get(code_kind(graph, op), 0) for op in graph.ops)
    code += CMSIS_CONV_CODE_BYTES * sum(op.kind == "CONV_2D" and not (i in kernels and kernels[i].generated)
                                        for i, op in enumerate(graph.ops))
    code += RESIDUAL_BLOCK_CODE_BYTES * len(residual_blocks(graph, kernels))
    code += SHARED_CONV_CALL_BYTES * sum(graph.ops[i].kind == "CONV_2D" and len(sharing(kernels, i)) > 1
                                         for i in kernels)
    return constants, structs, int(round(code))


def conv_candidate(layout: ConvLayout) -> LayerKernel:
    """An undilated CONV_2D's generated kernel on a DSP core (`solve.kernel_choice`): its code by the fit above and
    its weights' padding, over a CMSIS-NN call. Layers of one layout share the function (`engine.conv_gen.Sharing`),
    each call then passing the layer's constants (`SHARED_CONV_CALL_BYTES`)."""
    (kh, kw), in_c, out_c = layout.kernel_hw, layout.in_hwc[2], layout.out_hwc[2]
    fit = dict(zip(CODE_FEATURES, CODE_BYTES, strict=True))
    code = fit["CONV_2D"] + fit["CONV_2D_WORDS"] * layout.straight_words + fit["CONV_2D_C_BLOCKS"] * layout.c_blocks
    extra = code + layout.weight_bytes - out_c * kh * kw * in_c - CMSIS_CONV_CODE_BYTES
    return candidate("CONV_2D", extra, cmsis_instructions("CONV_2D", layout.in_hwc, (out_c, kh, kw, in_c),
                                                          layout.out_hwc, layout.kernel_hw, layout.stride_hw),
                     code - SHARED_CONV_CALL_BYTES, ("CONV_2D", layout))


def depthwise_candidate(in_hwc: tuple[int, int, int], out_hw: tuple[int, int], kernel_hw: tuple[int, int],
                        stride_hw: tuple[int, int]) -> LayerKernel:
    """A depthwise layer's generated kernel (depth multiplier 1, undilated, DSP core): its packed constants and
    code (`depthwise_shape`) over CMSIS-NN's weights, per-channel arrays and parameter struct."""
    c = in_hwc[2]
    cost = depthwise_cost(in_hwc, out_hw, kernel_hw, stride_hw)
    cmsis = kernel_hw[0] * kernel_hw[1] * c + PER_CHANNEL_BYTES * c + PARAM_STRUCT_BYTES["DEPTHWISE_CONV_2D"]
    instructions = cmsis_instructions("DEPTHWISE_CONV_2D", in_hwc, (1, *kernel_hw, c), (*out_hw, c), kernel_hw,
                                      stride_hw)
    return candidate("DEPTHWISE_CONV_2D", cost.code_bytes + cost.constant_bytes - cmsis, instructions,
                     cost.code_bytes, _depthwise_share(in_hwc, out_hw, kernel_hw, stride_hw))


def _depthwise_share(*shape) -> tuple:
    """What makes two depthwise layers one generated function, as far as a graph tells (the code generator also
    needs their output zero point, activation range and shift signs equal, which a graph does not hold: layers of
    the same shapes are counted as one function)."""
    return ("DEPTHWISE_CONV_2D", *shape)


def add_candidate(out_hwc: tuple[int, ...]) -> LayerKernel:
    """An ADD of two tensors (or of a per-channel vector) by its input-rescale tables (`engine.elementwise.add`)
    instead of CMSIS-NN's arm_elementwise_add_s8, which computes the rescales per element."""
    hwc = (1, 1, *out_hwc)[-3:]
    return candidate("ADD", ADD_TABLE_BYTES, cmsis_instructions("ADD", hwc, (1, 1, 1, 1), hwc, (1, 1), (1, 1)))


def _candidate(graph: Graph, op, family: KernelFamily) -> LayerKernel | None:
    """A graph's op as a candidate for a generated kernel, or None (other ops, and convolutions on Helium cores; a
    graph's convolutions are undilated, its depthwise layers of depth multiplier 1)."""
    inp, out = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
    if op.kind == "CONV_2D" and generated((1, 1), family):
        return conv_candidate(graph_layout(graph, op))
    if op.kind == "DEPTHWISE_CONV_2D" and family.generates_kernels:
        return depthwise_candidate((inp[1], inp[2], inp[3]), (out[1], out[2]), op.kernel_hw, op.stride_hw)
    if adds_activations(graph, op):
        return add_candidate(tuple(out[1:]))
    return None


def model_kernels(graph: Graph, family: KernelFamily = KernelFamily.DSP,
                  allowance: float = FLASH_ALLOWANCE) -> dict[int, LayerKernel]:
    """Each layer's kernel (by op index) as `kernel_choice.choose` spends `allowance` on the graph: what the code
    generator builds."""
    candidates = {i: k for i, op in enumerate(graph.ops) if (k := _candidate(graph, op, family)) is not None}
    for block in residual_blocks(graph, candidates):   # a block's ADD generated brings its row loop
        add = candidates[block.add]
        candidates[block.add] = replace(add, extra_bytes=add.extra_bytes + RESIDUAL_BLOCK_CODE_BYTES)
    chosen = choose(candidates, lambda kernels: linked_flash(graph, family, kernels), allowance)
    inside = {i for block in residual_blocks(graph, chosen) for i in block.ops}   # their own row functions
    return {i: replace(k, share=None) if i in inside else k for i, k in chosen.items()}


def linked_flash(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel]) -> int:
    """The model's flash with each layer on the kernel `kernels` gives it, and the CMSIS-NN code it links for them:
    what the allowance is a share of."""
    return sum(flash_parts(graph, family, kernels)) + linked_libraries(kernels)


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


def _binary_constant_bytes(graph: Graph, op, tables: bool) -> int:
    """ADD or MUL of a constant scalar is a lookup table; otherwise a constant operand's int8 values (a per-channel
    bias or scale) are kept, and an ADD by `tables` keeps its two rescale tables."""
    constant = [graph.tensors[i] for i in op.inputs[:2] if graph.tensors[i].is_constant]
    if len(constant) == 1 and constant[0].elements == 1:
        return TABLE_BYTES
    return (ADD_TABLE_BYTES if op.kind == "ADD" and tables else 0) + sum(t.elements for t in constant)


def code_features(graph: Graph, family: KernelFamily = KernelFamily.DSP,
                  kernels: dict[int, LayerKernel] | None = None) -> list[int]:
    """The counts CODE_BYTES weighs: ops per kind (`code_kind`), and the words of the generated convolutions'
    straight-line 2 x 2 blocks (their code grows with them); convolutions on CMSIS-NN (`kernels`) count none
    here."""
    kinds = [code_kind(graph, op) for op in graph.ops]
    kernels = model_kernels(graph, family) if kernels is None else kernels
    convs = [graph_layout(graph, op) for i, op in enumerate(graph.ops)   # each function once
             if op.kind == "CONV_2D" and i in kernels and kernels[i].generated and sharing(kernels, i)[0] == i]
    counts = {"CONV_2D": len(convs), "CONV_2D_WORDS": sum(lay.straight_words for lay in convs),
              "CONV_2D_C_BLOCKS": sum(lay.c_blocks for lay in convs)}
    return [1, *(counts.get(k, kinds.count(k)) for k in CODE_FEATURES[1:])]
