"""Bit-exact requantize-and-store C for generated kernels: TFLite's `MultiplyByQuantizedMultiplier` (double
rounding, what LiteRT's reference kernels and TFLM compute), then the output offset, the activation clamp and the
int8 store, as `ir.Function`s a kernel calls.

On Thumb-2 cores with the DSP extension the right-shift path is six instructions of inline assembly (CMSIS-NN PR
#171's sequence): `smull; lsrs #31; adc ..., lsl #1` is the rounding doubling high multiply (bit 30 of the low word
lands in the carry, which is TFLite's +-2^30 nudge; saturation needs multiplier == INT32_MIN, which
`quantize_multiplier` never returns), then `add x, x, x, asr #31; asrs x, x, rs; adc x, x, #0` rounds half away
from zero. `asrs` by 0 leaves the carry unchanged, so this path is only for right shifts of at least 1: a layer
whose every channel shifts right (the usual case) uses it, any other layer CMSIS-NN's `arm_nn_requantize`, which
is also the portable path (host builds). Both are the arithmetic CMSIS-NN's kernels use, which TFLM's own tests
hold bit-exact with the reference kernels.
"""

from tinyml_kit.engine.ir import Function

_RIGHT = "tinyml_requantize_right"

_RIGHT_DEFINITION = f"""\
/* TFLite's MultiplyByQuantizedMultiplier for a right shift rs of 1..31 (double rounding, bit-exact). */
__STATIC_FORCEINLINE int32_t {_RIGHT}(int32_t x, int32_t multiplier, int32_t rs) {{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
  int32_t lo, hi;
  __asm__("smull %0, %1, %2, %3" : "=&r"(lo), "=&r"(hi) : "r"(x), "r"(multiplier));
  __asm__("lsrs %0, %0, #31\\n\\tadc %1, %0, %1, lsl #1" : "+r"(lo), "+r"(hi) : : "cc");
  __asm__("add %0, %0, %0, asr #31\\n\\tasrs %0, %0, %1\\n\\tadc %0, %0, #0" : "+r"(hi) : "r"(rs) : "cc");
  return hi;
#else
  return arm_nn_requantize(x, multiplier, -rs);
#endif
}}"""


_SAT8 = "TINYML_SAT8"
_SAT8_DEFINITION = f"""\
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
#define {_SAT8}(v) __ssat((v), 8)
#else
#define {_SAT8}(v) ((v) < -128 ? -128 : ((v) > 127 ? 127 : (v)))
#endif"""


def requantize_right() -> Function:
    """The right-shift requantization, inlined into its callers."""
    return Function(_RIGHT, _RIGHT_DEFINITION)


def store_name(right: bool, lanes: int, lo: int, hi: int) -> str:
    """One store function per requantization path and per bound that clamps (not the int8 range's own)."""
    return f"tinyml_store{lanes}_{'r' if right else 'g'}{'_lo' if lo > -128 else ''}{'_hi' if hi < 127 else ''}"


def store_lines(accs: list[str], zero_point: int | str, lo: int | str, hi: int | str, right: bool,
                names: tuple[str, str, str] = ("out", "mult", "shift")) -> list[str]:
    """C statements that requantize the accumulators `accs` (channels 0.. of `mult` and `shift`), offset them by
    the output zero point, clamp them to [lo, hi] and store them to out[0..] (`names`: those three pointers'
    names); `v` is an int32_t scratch variable. The zero point and bounds are numbers or C expressions; the
    right-only variant takes the right shifts, 1..31, as positive numbers (`shifts`)."""
    clamp = (f" v = v < {lo} ? {lo} : v;" if not isinstance(lo, int) or lo > -128 else "") + \
            (f" v = v > {hi} ? {hi} : v;" if not isinstance(hi, int) or hi < 127 else "")
    rq = _RIGHT if right else "arm_nn_requantize"
    out, mult, shift = names
    return [f"v = {_SAT8}({rq}({a}, {mult}[{j}], {shift}[{j}]) + {zero_point});{clamp} {out}[{j}] = (int8_t)v;"
            for j, a in enumerate(accs)]


def helpers(right: bool) -> list[Function]:
    """What `store_lines` calls, to be defined before it."""
    return [*([requantize_right()] if right else []), Function(_SAT8, _SAT8_DEFINITION)]


def store(right: bool, lanes: int, lo: int, hi: int) -> list[Function]:
    """`static void name(int8_t* out, const int32_t* acc, const int32_t* mult, const int8_t* shift)`: the
    accumulators acc[0..lanes) requantized and stored as `store_lines` does, with the output zero point and the
    activation bounds in acc[4], acc[5], acc[6], clamped to those of the bounds `lo`, `hi` that are not the int8
    range's (after the helpers it needs). Not inlined: one copy serves every edge pixel of every layer."""
    name = store_name(right, lanes, lo, hi)
    lines = store_lines([f"acc[{j}]" for j in range(lanes)], "acc[4]", "acc[5]" if lo > -128 else lo,
                        "acc[6]" if hi < 127 else hi, right)
    definition = (f"static void {name}(int8_t* out, const int32_t* acc, const int32_t* mult, const int8_t* shift) {{\n"
                  f"  int32_t v;\n" + "\n".join(f"  {line}" for line in lines) + "\n}")
    return [*helpers(right), Function(name, definition)]


def right_only(shifts) -> bool:
    """Whether every channel shifts right by at least 1, so the inline-assembly path applies (`store`)."""
    return all(int(s) <= -1 for s in shifts)


def shifts(tflite_shifts, right: bool) -> list[int]:
    """The int8 shift array a `store` function reads: the right shift amounts for the right-only variant."""
    return [-int(s) if right else int(s) for s in tflite_shifts]
