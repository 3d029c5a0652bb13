"""HARD_SWISH without a table: TFLM's reference int8 arithmetic (reference_ops::HardSwish, with the parameters
hard_swish_common.cc computes in Prepare), shared C code plus six integers per op instead of 256 bytes.

PhiNets run a HARD_SWISH after most convolutions, each with its own scales, so tables cost 256 bytes of flash a
time. The arithmetic is mirrored here in numpy and compared at export with the table LiteRT's reference kernels
give for all 256 inputs: only an op whose mirror matches is compiled to arithmetic, any other keeps its table.
"""

import numpy as np

from tinyml_kit.engine.ir import Struct
from tinyml_kit.engine.quantization import quantize_multiplier

_I16_MIN, _I16_MAX = -32768, 32767


def _downscale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if multiplier >= 2**31 - 1 - (1 << 15):
        return _I16_MAX
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> dict | None:
    """HardSwishParams for an int8 op, or None when an exponent falls outside what the C code handles."""
    hires = np.float32(np.float32(1.0) / np.float32(128.0)) * np.float32(in_scale)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    out_mult, out_exp = quantize_multiplier(float(np.float32(hires / np.float32(out_scale))))
    relu_mult, relu_exp = quantize_multiplier(float(np.float32(hires / reluish_scale)))
    if not (-15 <= out_exp <= 0 and -15 <= relu_exp <= 15):
        return None
    return dict(in_zp=in_zp, out_zp=out_zp, out_mult=_downscale_to_int16(out_mult), out_exp=out_exp,
                relu_mult=_downscale_to_int16(relu_mult), relu_exp=relu_exp)


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16 (C division truncates toward zero)."""
    ab = a.astype(np.int64) * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = np.trunc((ab + nudge) / (1 << 15)).astype(np.int64)
    return np.where((a == b) & (a == _I16_MIN), _I16_MAX, q)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLM's SaturatingDoublingHighMul (no rounding)."""
    q = np.trunc(a.astype(np.int64) * b / (1 << 15)).astype(np.int64)
    return np.where((a == b) & (a == _I16_MIN), _I16_MAX, q)


def _rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _sat_lshift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), _I16_MIN, _I16_MAX)


def hard_swish_table(p: dict) -> np.ndarray:
    """The int8 output for every int8 input -128..127, step by step as reference_ops::HardSwish computes it."""
    hires = (np.arange(-128, 128, dtype=np.int64) - p["in_zp"]) * (1 << 7)
    preshift = _srdhm16(hires, p["out_mult"])
    reluish = hires
    if p["relu_exp"] > 0:
        reluish = _sat_lshift16(reluish, p["relu_exp"] - 1)
    reluish = _srdhm16(reluish, p["relu_mult"])
    if p["relu_exp"] > 0:
        reluish = _sat_lshift16(reluish, 1)
    if p["relu_exp"] < 0:
        reluish = _rdbpot(reluish, -p["relu_exp"])
    reluish = (reluish + (1 << 15)) >> 1
    out = _rdbpot(_sdhm16(reluish, preshift), -p["out_exp"]) + p["out_zp"]
    return np.clip(out, -128, 127).astype(np.int8)


def hard_swish_struct(name: str, p: dict) -> Struct:
    return Struct("tinyml_hard_swish_params", name,
                  tuple(p[k] for k in ("in_zp", "out_zp", "out_mult", "relu_mult", "out_exp", "relu_exp")))
