"""Where LiteRT and TFLM part on an int8 model, and whether their kernels' arithmetic explains it.

Both run reference kernels, and most ops compute identically, but FULLY_CONNECTED does not. LiteRT's reference
kernel (LiteRT tflite/kernels/fully_connected.cc, `FullyConnectedInt8` / `FullyConnectedPerChannelInt8` with
kReference) calls the `reference_integer_ops::FullyConnected{,PerChannel}` overloads that take the tensors' scales
(kernels/internal/reference/integer_ops/fully_connected.h): each int32 sum is rescaled in double precision,
`round(acc * (double)s_in * s_w / s_out)`, one rounding. TFLM's (tensorflow/lite/micro/kernels/fully_connected.cc)
calls the overloads that take Q31 multipliers, i.e. `MultiplyByQuantizedMultiplier`, which without
TFLITE_SINGLE_ROUNDING (TFLM's default, and the firmware's build) rounds twice:
`RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), -shift)` (kernels/internal/common.cc); CMSIS-NN's
`arm_fully_connected_s8` does the same (`arm_nn_requantize`). A product just under a half of the last bit, rounded
up by the first rounding, is rounded away again by the second: one step more than LiteRT's. A classifier head
of Dense after global pooling shows it on about 1 output in 500 (measured on digits).

The model is rewritten so every op's output is a graph output and run on both; the first op that differs is
named. For FULLY_CONNECTED every output of that op is then recomputed from its inputs (equal in both, or it
would not be the first) with each runtime's arithmetic: only if LiteRT's and TFLM's outputs are both reproduced
exactly is the difference called explained; anything else stays unexplained.
"""

import flatbuffers
import numpy as np

from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import OpDifference
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.tflite_info import builtin_code, model_object, op_names, schema
from tinyml_kit.engine.quantization import activation_range, per_channel_multipliers

INT8 = schema().TensorType.INT8
FULLY_CONNECTED_REASON = ("LiteRT's reference FULLY_CONNECTED rescales in double precision with one rounding, "
                          "TFLM's and CMSIS-NN's in fixed point with two (MultiplyByQuantizedMultiplier); a TFLM "
                          "firmware computes TFLM's outputs")


def op_difference(flatbuffer: bytes, x_q: np.ndarray) -> OpDifference | None:
    """The first op whose outputs differ between LiteRT and TFLM on the int8 inputs `x_q` (None: none does, or
    the model with every activation kept cannot be run to find it)."""
    model = model_object(flatbuffer)
    sub = model.subgraphs[0]
    outputs = [int(op.outputs[0]) for op in sub.operators]
    sub.outputs = outputs
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    every = bytes(builder.Output())
    try:
        lite = LiteRtModel(every).predict_all(x_q)
        micro = TflmModel(every).predict_all(x_q, len(outputs))
    except UserError:    # e.g. every activation kept at once does not fit TFLM's host arena: not located
        return None
    names = op_names()
    for index, (op, a, b) in enumerate(zip(sub.operators, lite, micro, strict=True)):
        diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
        if not diff.any():
            continue
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(builtin_code(code), "CUSTOM")
        values = {int(sub.inputs[0]): x_q.reshape(len(x_q), -1), **dict(zip(outputs, lite, strict=True))}
        explained = kind == "FULLY_CONNECTED" and _fully_connected_explained(model, op, values, a, b)
        name = sub.tensors[outputs[index]].name
        return OpDifference(index, kind, name.decode() if isinstance(name, bytes) else str(name),
                            int(diff.max()), int(np.count_nonzero(diff)), int(diff.size),
                            FULLY_CONNECTED_REASON if explained else None)
    return None


def _fully_connected_explained(model, op, values: dict, litert: np.ndarray, tflm: np.ndarray) -> bool:
    """Whether LiteRT's outputs of this FULLY_CONNECTED are its double-precision rescale and TFLM's its double
    rounding, output for output, from the same int32 sums."""
    sub = model.subgraphs[0]
    x_index, w_index = int(op.inputs[0]), int(op.inputs[1])
    b_index = int(op.inputs[2]) if len(op.inputs) > 2 else -1
    t_x, t_w, t_out = sub.tensors[x_index], sub.tensors[w_index], sub.tensors[int(op.outputs[0])]
    if x_index not in values or model.buffers[t_w.buffer].data is None or t_w.type != INT8:
        return False    # weights computed in the graph, or packed int4: not the arithmetic recomputed here
    weights = np.frombuffer(bytes(model.buffers[t_w.buffer].data), np.int8).reshape(t_w.shape).astype(np.int64)
    units, depth = weights.shape
    s_x, z_x = float(t_x.quantization.scale[0]), int(t_x.quantization.zeroPoint[0])
    s_out, z_out = float(t_out.quantization.scale[0]), int(t_out.quantization.zeroPoint[0])
    w_scales = np.broadcast_to(np.asarray(t_w.quantization.scale, np.float32), (units,))
    w_zero = int(t_w.quantization.zeroPoint[0]) if len(t_w.quantization.scale) == 1 else 0
    acc = (values[x_index].reshape(-1, depth).astype(np.int64) - z_x) @ (weights - w_zero).T
    if b_index >= 0:
        acc = acc + np.frombuffer(bytes(model.buffers[sub.tensors[b_index].buffer].data), np.int32)
    lo, hi = activation_range(op.builtinOptions.fusedActivationFunction, s_out, z_out)
    effective = np.array([float(np.float32(s_x)) * float(s) / float(np.float32(s_out)) for s in w_scales])
    multipliers, shifts = per_channel_multipliers(s_x, w_scales, s_out, units)
    single = np.clip(_round_half_away(acc * effective) + z_out, lo, hi)
    double = np.clip(_double_rounding(acc, np.array(multipliers), np.array(shifts)) + z_out, lo, hi)
    return (np.array_equal(single.reshape(litert.shape), litert)
            and np.array_equal(double.reshape(tflm.shape), tflm))


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """std::round: halves away from zero."""
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def _double_rounding(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's double-rounding MultiplyByQuantizedMultiplier on int32 sums (gemmlowp's
    SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT; the one saturating case cannot occur here)."""
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    product = (acc << left) * multiplier
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))     # the division truncates toward zero
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)
