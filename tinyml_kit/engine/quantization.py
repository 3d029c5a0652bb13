"""The integer parameters TFLM's kernels compute in Prepare, computed here at export so the generated C passes
CMSIS-NN the very numbers TFLM would, and its outputs are bit-identical.

Each function names the TFLM routine it mirrors (tensorflow/lite/kernels/internal/quantization_util.cc,
kernels/kernel_util.cc, kernels/padding.h at the TFLM commit the shared tree pins). Float arithmetic keeps TFLM's
types: tensor scales are float32, products and quotients of scales are double, activation bounds divide in float32.
"""

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
# TFLite's fused activation codes (ActivationFunctionType in the schema)
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
SAME, VALID = 0, 1


def _round_half_away(x: float) -> int:
    """TfLiteRound / std::round: halves go away from zero (Python's round goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: `real` as a Q31 significand and a power-of-two exponent (positive = left shift)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                            channels: int) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: one (multiplier, shift) per output channel, a per-tensor filter
    scale broadcast over the channels."""
    scales = [float(s) for s in np.asarray(filter_scales, dtype=np.float32)]
    if len(scales) == 1:
        scales = scales * channels
    pairs = [quantize_multiplier(float(np.float32(input_scale)) * s / float(np.float32(output_scale)))
             for s in scales]
    return [m for m, _ in pairs], [s for _, s in pairs]


def quantize_float32(scale: float, zero_point: int, value: float) -> int:
    """kernel_util.cc Quantize: zero_point + round(value / scale), the division in float32."""
    return zero_point + _round_half_away(float(np.float32(value) / np.float32(scale)))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output."""
    if activation == ACT_RELU:
        return max(INT8_MIN, quantize_float32(scale, zero_point, 0.0)), INT8_MAX
    if activation == ACT_RELU6:
        return (max(INT8_MIN, quantize_float32(scale, zero_point, 0.0)),
                min(INT8_MAX, quantize_float32(scale, zero_point, 6.0)))
    if activation == ACT_RELU_N1_TO_1:
        return (max(INT8_MIN, quantize_float32(scale, zero_point, -1.0)),
                min(INT8_MAX, quantize_float32(scale, zero_point, 1.0)))
    return INT8_MIN, INT8_MAX


def padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """ComputePaddingWithOffset: the leading pad (the odd extra pixel, if any, goes to the end)."""
    effective = (filter_size - 1) * dilation + 1
    return max((out_size - 1) * stride + effective - in_size, 0) // 2


def add_params(scale1: float, scale2: float, out_scale: float) -> dict[str, int]:
    """CalculateOpDataAdd for int8: both inputs rescaled to twice the larger scale with 20 bits of headroom."""
    left_shift = 20
    twice_max = 2.0 * float(max(np.float32(scale1), np.float32(scale2)))
    m1, s1 = quantize_multiplier(float(np.float32(scale1)) / twice_max)
    m2, s2 = quantize_multiplier(float(np.float32(scale2)) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * float(np.float32(out_scale))))
    return dict(left_shift=left_shift, input1_mult=m1, input1_shift=s1, input2_mult=m2, input2_shift=s2,
                out_mult=mo, out_shift=so)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """PrepareMeanOrSumHelper then QuantizedMeanOrSum: the input/output rescale with 1/count folded in."""
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << bits) // count, shift - bits


def _saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32: the nudge, then C++'s truncating division."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudged = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return nudged >> 31 if nudged >= 0 else -((-nudged) >> 31)


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: halves away from zero."""
    mask = (1 << exponent) - 1
    return (x >> exponent) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def add_input_table(zero_point: int, multiplier: int, shift: int, left_shift: int) -> np.ndarray:
    """One int8 ADD input's rescale for each int8 value -128..127, as TFLite's reference AddElementwise computes
    it: MultiplyByQuantizedMultiplierSmallerThanOneExp((x - zero_point) << left_shift, multiplier, shift)."""
    return np.array([_rounding_divide_by_pot(_saturating_rounding_doubling_high_mul(
        (x - zero_point) * (1 << left_shift), multiplier), -shift) for x in range(INT8_MIN, INT8_MAX + 1)],
        dtype=np.int32)
