"""What the C engine's model costs, from a graph alone (no TensorFlow, no compiler): the flash of the generated
`tinyml_model.c` (constants + parameter structs + code) and its static arena.

Constants and structs are counted exactly as the code generator lays them out: int8 weights; per output
channel an int32 bias, an int32 multiplier and an int8 shift (9 bytes); a 256-byte table per lookup-table
activation (HARD_SWISH instead keeps 10 bytes of fixed-point parameters); one 16-byte dims struct per distinct
shape. Code bytes per op kind were fitted by least squares on compiled objects (arm-none-eabi-gcc 12.2, -Os,
Cortex-M4F; `bench/engine_estimates.py --calibrate` refits them). The arena is `static_plan.plan_graph`'s, exact.
"""

from dataclasses import dataclass

from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.depthwise_shape import DepthwiseCost, depthwise_cost
from tinyml_kit.solve.static_plan import LUT_OPS, plan_graph

PER_CHANNEL_BYTES = 9           # int32 bias + int32 multiplier + int8 shift
PARAM_STRUCT_BYTES = {"CONV_2D": 40, "DEPTHWISE_CONV_2D": 44, "FULLY_CONNECTED": 20, "AVERAGE_POOL_2D": 24,
                      "MAX_POOL_2D": 24, "HARD_SWISH": 10}
DIMS_BYTES = 16
TABLE_BYTES = 256
# Code bytes: the model API and helpers ("base"), then per op of each kind, fitted on the 24 PhiNets of
# bench/engine_estimates.py (largest residual 101 B: an offset into the arena takes 2 or 4 bytes of Thumb code).
# Inside a PhiNet the counts move together (a HARD_SWISH follows most convolutions; MEAN stands for a
# squeeze-excitation block: MEAN, two 1x1 convolutions, LOGISTIC, MUL), so one coefficient alone means little;
# what is measured is their sum over a model. Refit with
# `bench/engine_estimates.py --calibrate` after changing the generated code.
# Depthwise layers are generated functions now, their code counted by `solve.depthwise_shape` on top of this table;
# their coefficient here keeps its share of the joint fit (the counts move together) until the next refit, which
# keeps PhiNets within about 1 % (bench/engine_estimates.py).
CODE_FEATURES = ("base", "CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "MEAN", "ADD")
CODE_BYTES = (283.2, 63.3, 369.8, -23.3, 235.5, 492.0)


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


def c_engine_costs(graph: Graph) -> CEngineCosts:
    constants = structs = generated = 0
    shapes: set[tuple] = set()
    for op in graph.ops:
        if op.kind == "DEPTHWISE_CONV_2D":
            cost = _generated_depthwise(graph, op)
            constants, generated = constants + cost.constant_bytes, generated + cost.code_bytes
            continue
        if op.kind == "CONV_2D":
            weights = graph.tensors[op.inputs[1]]
            constants += weights.elements + PER_CHANNEL_BYTES * _out_channels(graph, op)
            shapes.update(conv_dims(graph.tensors[op.inputs[0]].shape, weights.shape,
                                    graph.tensors[op.outputs[0]].shape, op.kind == "DEPTHWISE_CONV_2D"))
        elif op.kind in LUT_OPS and op.kind != "HARD_SWISH":
            constants += TABLE_BYTES
        structs += PARAM_STRUCT_BYTES.get(op.kind, 0)
    structs += DIMS_BYTES * len(shapes)
    code = generated + sum(n * b for n, b in zip(code_features(graph), CODE_BYTES, strict=False))
    return CEngineCosts(constants, structs, int(round(code)), plan_graph(graph).arena_bytes)


def code_features(graph: Graph) -> list[int]:
    kinds = [op.kind for op in graph.ops]
    return [1, *(kinds.count(k) for k in CODE_FEATURES[1:])]
