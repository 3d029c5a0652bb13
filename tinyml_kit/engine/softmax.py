"""SOFTMAX as TFLM's CMSIS-NN kernel runs it: `arm_softmax_s8` over the last axis, with the parameters TFLM's
softmax_common.cc CalculateSoftmaxParams computes in Prepare (PreprocessSoftmaxScaling and CalculateInputRadius
of quantization_util.cc, 5 integer bits, double rounding as TFLM builds it). LiteRT's reference kernel runs the
same fixed-point arithmetic on the same parameters, so the three agree bit for bit.
"""

import math

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import ir
from tinyml_kit.engine.model_ir import Model, Operator
from tinyml_kit.engine.quantization import quantize_multiplier
from tinyml_kit.engine.steps import Step

SCALED_DIFF_INTEGER_BITS = 5
TOTAL_SIGNED_BITS = 31
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1.0 / 256, -128   # TFLM refuses any other int8 softmax output


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int] | None:
    """(multiplier, left shift, diff_min): PreprocessSoftmaxScaling's capped beta * scale in Q5.26, and the most
    negative input difference that still counts (CalculateInputRadius, negated). None where TFLM aborts
    (QuantizeMultiplierGreaterThanOne: an input step below 2^-26, as in untrained logits)."""
    integer_bits = SCALED_DIFF_INTEGER_BITS
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - integer_bits)),
               (1 << 31) - 1.0)
    if real <= 1.0:
        return None
    multiplier, shift = quantize_multiplier(real)
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (TOTAL_SIGNED_BITS - integer_bits)) / (1 << shift))
    return multiplier, shift, -radius


def softmax(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    if (inp.dtype, out.dtype) != ("int8", "int8") or (np.float32(out.scale), out.zero_point) != (
            np.float32(OUTPUT_SCALE), OUTPUT_ZERO_POINT):
        raise UserError(f"SOFTMAX (op {op.index}) outputs {out.dtype} at scale {out.scale:g}, zero point "
                        f"{out.zero_point}: the C engine runs int8 softmax to scale 1/256, zero point -128 (as "
                        f"TFLM does), use {param('engine', 'tflm')}", "engine")
    params = softmax_params(op.option("beta", 1.0), inp.scale)
    if params is None:
        raise UserError(f"SOFTMAX (op {op.index}) has an input scale of {inp.scale:g}, too small for int8 "
                        f"softmax (TFLM aborts on it too): drop the softmax, argmax is unchanged")
    multiplier, shift, diff_min = params
    row = inp.shape[-1]
    call = ir.Call("arm_softmax_s8", (ir.Tensor(inp.index), *(ir.Lit(x) for x in (
        inp.elements // row, row, multiplier, shift, diff_min)), ir.Tensor(out.index)))
    return Step(op.index, op.kind, (inp.index,), out.index, [(call,)])
