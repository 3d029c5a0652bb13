"""CONV_2D as a C function generated for its layer: shapes, strides, paddings, offsets and the requantization path
are constants of the text, so the loops have fixed trip counts and every load an immediate offset.

Per output row the kernel widens the `kh` input rows its windows cover to int16 with the input offset added
(`solve.conv_layout`: padding is 0 there, which is TFLite's zero point after the offset), then computes blocks of
2 output channels x 2 pixels: per word of 4 int8 weights (reordered at export as w0 w2 w1 w3, so SXTB16 and
SXTB16 ROR 8 give the pairs (w0,w1) and (w2,w3)), two int16 pairs of each pixel's window and 4 SMLADs per
channel. One kernel row of a block is straight-line code (the engine's C is built with -Os, which does not
unroll); the `kh` rows loop. The accumulators start at the bias; each output is requantized as TFLite's
MultiplyByQuantizedMultiplier (double rounding, bit-exact), offset, clamped to the activation range and stored.
Without the DSP extension (the host) the same code runs on portable C versions of the three intrinsics.
"""

import numpy as np

from tinyml_kit.engine.ir import Call as CCall
from tinyml_kit.engine.ir import Cast, Function, Scratch, Tensor
from tinyml_kit.engine.model_ir import Model, Operator
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.conv_layout import ConvLayout

SUPPORT = "tinyml_conv_support"
SUPPORT_C = r"""/* Generated convolutions: SMLAD and SXTB16 from CMSIS-NN with the DSP extension, plain C elsewhere. */
#if defined(ARM_MATH_MVEI)
#error "this model's generated convolutions are planned for cores without Helium (MVE): use the TFLM engine"
#endif
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)
#define TINYML_SMLAD(x, y, acc) ((int32_t)SMLAD((x), (y), (uint32_t)(acc)))
#define TINYML_LO16(w) SXTB16(w)
#define TINYML_HI16(w) SXTB16_RORn((w), 8)
#else
__STATIC_FORCEINLINE uint32_t tinyml_sxtb16(uint32_t w) {
  const uint32_t lo = (uint16_t)(int16_t)(int8_t)(w & 0xFFu), hi = (uint16_t)(int16_t)(int8_t)((w >> 16) & 0xFFu);
  return lo | (hi << 16);
}
__STATIC_FORCEINLINE int32_t tinyml_smlad(uint32_t x, uint32_t y, int32_t acc) {
  const int32_t lo = (int32_t)(int16_t)(x & 0xFFFFu) * (int16_t)(y & 0xFFFFu);
  const int32_t hi = (int32_t)(int16_t)(x >> 16) * (int16_t)(y >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}
#define TINYML_SMLAD(x, y, acc) tinyml_smlad((x), (y), (acc))
#define TINYML_LO16(w) tinyml_sxtb16(w)
#define TINYML_HI16(w) tinyml_sxtb16((w) >> 8)
#endif

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
/* 2 channels x 2 pixels, one word of weights (16 MACs): the registers as the loop needs them, which -Os's
 * allocation of the same C does not achieve (it reloads operands); it reads the row buffer and the weights
 * ("memory"). X0/X1: byte offsets of the pixels' int16
 * pairs from X (LDRD when they are word-aligned), W0/W1: of the channels' weight words from W. */
#define TINYML_Q22_MACS(W0, W1)                                                                                  \
  "ldr %[v], [%[w], #" #W0 "]\n\tsxtb16 %[lo], %[v]\n\tsxtb16 %[v], %[v], ror #8\n\t"                            \
  "smlad %[a00], %[lo], %[p0], %[a00]\n\tsmlad %[a00], %[v], %[p1], %[a00]\n\t"                                  \
  "smlad %[a01], %[lo], %[q0], %[a01]\n\tsmlad %[a01], %[v], %[q1], %[a01]\n\t"                                  \
  "ldr %[v], [%[w], #" #W1 "]\n\tsxtb16 %[lo], %[v]\n\tsxtb16 %[v], %[v], ror #8\n\t"                            \
  "smlad %[a10], %[lo], %[p0], %[a10]\n\tsmlad %[a10], %[v], %[p1], %[a10]\n\t"                                  \
  "smlad %[a11], %[lo], %[q0], %[a11]\n\tsmlad %[a11], %[v], %[q1], %[a11]"
#define TINYML_Q22_OPERANDS(X, W)                                                                                \
  : [a00] "+r"(acc00), [a01] "+r"(acc01), [a10] "+r"(acc10), [a11] "+r"(acc11), [p0] "=&r"(t0), [p1] "=&r"(t1), \
    [q0] "=&r"(t2), [q1] "=&r"(t3), [v] "=&r"(t4), [lo] "=&r"(t5)                                               \
  : [x] "r"(X), [w] "r"(W) : "memory"
#define TINYML_Q22D(X, W, X0, X1, W0, W1)                                                                        \
  __asm__("ldrd %[p0], %[p1], [%[x], #" #X0 "]\n\tldrd %[q0], %[q1], [%[x], #" #X1 "]\n\t"                       \
          TINYML_Q22_MACS(W0, W1) TINYML_Q22_OPERANDS(X, W))
#define TINYML_Q22(X, W, X0, X1, W0, W1)                                                                         \
  __asm__("ldr %[p0], [%[x], #" #X0 "]\n\tldr %[p1], [%[x], #" #X0 "+4]\n\t"                                     \
          "ldr %[q0], [%[x], #" #X1 "]\n\tldr %[q1], [%[x], #" #X1 "+4]\n\t"                                     \
          TINYML_Q22_MACS(W0, W1) TINYML_Q22_OPERANDS(X, W))
#define TINYML_CONV_ASM 1
#endif

__STATIC_FORCEINLINE uint32_t tinyml_rd32(const void* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* int8 -> int16 with the input offset added, 4 at a time (SXTAB16 gives (v0,v2),(v1,v3); PKH puts them back in
 * order). */
static void tinyml_widen_s8_s16(const int8_t* in, int16_t* out, int32_t count, int32_t offset) {
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)
  const uint32_t off2 = (uint32_t)(uint16_t)offset * 0x10001u;
  for (; count >= 4; count -= 4, in += 4, out += 4) {
    const uint32_t v = tinyml_rd32(in);
    const uint32_t even = SXTAB16(off2, v), odd = SXTAB16_RORn(off2, v, 8);
    const uint32_t lo = PKHBT(even, odd, 16), hi = PKHTB(odd, even, 16);
    memcpy(out, &lo, 4);
    memcpy(out + 2, &hi, 4);
  }
#endif
  for (; count > 0; --count) *out++ = (int16_t)(*in++ + offset);
}

/* TFLite's SaturatingRoundingDoublingHighMul: (x * m + 2^30) >> 31 equals its nudge-and-truncate for every
 * x, and saturation needs x = m = INT32_MIN, which a multiplier in [2^30, 2^31) never is. */
__STATIC_FORCEINLINE int32_t tinyml_cv_high_mul(int32_t x, int32_t m) {
  return (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
}

/* TFLite's RoundingDivideByPOT for exponent >= 1 (halves away from zero): x - 1 if negative, shift by one less,
 * then halve rounding up. */
__STATIC_FORCEINLINE int32_t tinyml_cv_divide_pot(int32_t x, int32_t exponent) {
  const int32_t t = (x + (x >> 31)) >> (exponent - 1);
  return (t >> 1) + (t & 1);
}

/* Both for a right shift (shift < 0), the usual case: on GCC-compatible DSP builds the high multiply as
 * smull/lsrs/adc (bit 30 of the low word, the rounding bit, lands in the carry) and the division as
 * add-asr-31/asrs/adc (the last bit shifted out rounds); both equal the C above for every input. */
__STATIC_FORCEINLINE int32_t tinyml_cv_requantize_right(int32_t acc, int32_t m, int32_t exponent) {
#if defined(TINYML_CONV_ASM)
  int32_t lo, x;
  __asm__("smull %[lo], %[x], %[acc], %[m]\n\tlsrs %[lo], %[lo], #31\n\tadc %[x], %[lo], %[x], lsl #1\n\t"
          "add %[x], %[x], %[x], asr #31\n\tasrs %[x], %[x], %[e]\n\tadc %[x], %[x], #0"
          : [lo] "=&r"(lo), [x] "=&r"(x) : [acc] "r"(acc), [m] "r"(m), [e] "r"(exponent) : "cc");
  return x;
#else
  return tinyml_cv_divide_pot(tinyml_cv_high_mul(acc, m), exponent);
#endif
}

/* The int8 range, as one SSAT where there is one. */
__STATIC_FORCEINLINE int8_t tinyml_cv_sat8(int32_t v) {
#if defined(TINYML_CONV_ASM)
  __asm__("ssat %0, #8, %0" : "+r"(v));
  return (int8_t)v;
#else
  return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
#endif
}

/* MultiplyByQuantizedMultiplier (double rounding) for any shift. */
__STATIC_FORCEINLINE int32_t tinyml_cv_requantize(int32_t acc, int32_t m, int32_t shift) {
  const int32_t x = tinyml_cv_high_mul(acc * (1 << (shift > 0 ? shift : 0)), m);
  return shift < 0 ? tinyml_cv_divide_pot(x, -shift) : x;
}"""


def reordered_weights(weights: np.ndarray, layout: ConvLayout) -> np.ndarray:
    """(out_c, kh, kw, in_c) int8 as the kernel reads them: per channel and kernel row the window's weights,
    zero-padded to whole words, each word as w0 w2 w1 w3."""
    out_c, kh = weights.shape[:2]
    rows = weights.reshape(out_c, kh, layout.window_row)
    padded = np.zeros((out_c, kh, layout.padded_window_row), dtype=np.int8)
    padded[:, :, :layout.window_row] = rows
    return padded.reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)


class _Kernel:
    """The C text of one layer's kernel."""

    def __init__(self, i: int, layout: ConvLayout, in_offset: int, out_offset: int, act: tuple[int, int],
                 bias: bool, right_shifts_only: bool):
        self.i, self.lay, self.in_offset, self.out_offset, self.act = i, layout, in_offset, out_offset, act
        self.bias, self.right_only = bias, right_shifts_only
        self.kch = layout.kernel_hw[0] * layout.padded_window_row   # weight bytes per output channel
        self.pixel = layout.stride_hw[1] * layout.in_hwc[2]         # int16 elements between adjacent windows

    def block(self, chans: int, pixels: int) -> list[str]:
        """`chans` output channels x `pixels` pixels from channel `oc`, windows `ao` elements into each
        kernel row's buffer row, stored at `out`."""
        lay, i = self.lay, self.i
        lines = [f"const int8_t* wk = w{i} + oc * {self.kch};"]
        for c in range(chans):
            start = f"b{i}[oc + {c}]" if self.bias else "0"
            lines.append("int32_t " + ", ".join(f"acc{c}{p} = {start}" for p in range(pixels)) + ";")
        body = self.asm_row() if (chans, pixels) == (2, 2) else self.c_row(chans, pixels)
        if (chans, pixels) == (2, 2) and lay.unrolled:
            for ky in range(lay.kernel_hw[0]):
                lines += ["{", f"  const int16_t* xk = rows[{ky}] + ao;",
                          f"  const int8_t* wr = wk + {ky * lay.padded_window_row};", *("  " + b for b in body), "}"]
        else:
            lines += [f"for (int32_t ky = 0; ky < {lay.kernel_hw[0]}; ++ky, wk += {lay.padded_window_row}) {{",
                      "  const int16_t* xk = rows[ky] + ao;", "  const int8_t* wr = wk;", *("  " + b for b in body),
                      "}"]
        for c in range(chans):
            for p in range(pixels):
                lines.append(f"out[{p * lay.out_hwc[2]} + oc + {c}] = tinyml_conv_{i}_out(acc{c}{p}, oc + {c});")
        return ["{", *("  " + line for line in lines), "}"]

    def c_row(self, chans: int, pixels: int) -> list[str]:
        """One kernel row of a block in C (intrinsics or their portable versions), a loop over the weight
        words: the tails and builds without the assembly, where size matters more than speed."""
        body = [f"for (int32_t q = 0; q < {self.lay.words}; ++q, xk += 4, wr += 4) {{"]
        for p in range(pixels):
            body.append(f"  const uint32_t x{p}a = tinyml_rd32(xk + {p * self.pixel}), "
                        f"x{p}b = tinyml_rd32(xk + {p * self.pixel + 2});")
        for c in range(chans):
            body.append(f"  {{ const uint32_t v = tinyml_rd32(wr + {c * self.kch}); "
                        f"const uint32_t lo = TINYML_LO16(v), hi = TINYML_HI16(v);")
            body += [f"    acc{c}{p} = TINYML_SMLAD(lo, x{p}a, acc{c}{p}); "
                     f"acc{c}{p} = TINYML_SMLAD(hi, x{p}b, acc{c}{p});" for p in range(pixels)]
            body.append("  }")
        return [*body, "}"]

    def asm_row(self) -> list[str]:
        """One kernel row of a 2 x 2 block: `TINYML_Q22` statements (byte offsets), straight-line or in a loop
        of equal chunks (`ConvLayout.chunk_words`), LDRD where every window starts on a word (int16 pairs at even
        element offsets of the word-aligned row buffer); the C row where there is no assembly."""
        words, chunk = self.lay.words, self.lay.chunk_words
        aligned = self.pixel % 2 == 0 and self.lay.row_elements % 2 == 0
        macro = "TINYML_Q22D" if aligned else "TINYML_Q22"

        def quads(count: int) -> list[str]:
            return [f"{macro}(xk, wr, {8 * q}, {2 * self.pixel + 8 * q}, {4 * q}, {self.kch + 4 * q});"
                    for q in range(count)]
        body = ["#if defined(TINYML_CONV_ASM)", "uint32_t t0, t1, t2, t3, t4, t5;"]
        if words // chunk > 1:
            body += [f"for (int32_t n = 0; n < {words // chunk}; ++n, xk += {4 * chunk}, wr += {4 * chunk}) {{",
                     *("  " + q for q in quads(chunk)), "}", *quads(words % chunk)]
        else:
            body += quads(words)
        return [*body, "#else", *self.c_row(2, 2), "#endif"]

    def output(self) -> str:
        i, (lo, hi) = self.i, self.act
        rq = (f"tinyml_cv_requantize_right(acc, m{i}[c], -s{i}[c])" if self.right_only
              else f"tinyml_cv_requantize(acc, m{i}[c], s{i}[c])")
        clamp = ("  return tinyml_cv_sat8(v);" if (lo, hi) == (-128, 127) else
                 f"  v = v < {lo} ? {lo} : v;\n  return (int8_t)(v > {hi} ? {hi} : v);")
        return (f"__STATIC_FORCEINLINE int8_t tinyml_conv_{i}_out(int32_t acc, int32_t c) {{\n"
                f"  {'const ' if (lo, hi) == (-128, 127) else ''}int32_t v = {rq} + {self.out_offset};\n"
                f"{clamp}\n}}")

    def widen_rows(self) -> list[str]:
        """Point `rows` at the buffer rows of this output row's kernel rows, widening those not yet held: input
        row iy lives in slot (iy + pad) % kh, so the kernel rows of one output row never share a slot and a
        row stays until a row kh further down replaces it (each input row is widened once)."""
        lay = self.lay
        (in_h, in_w, in_c), (sh, _), (ph, pw) = lay.in_hwc, lay.stride_hw, lay.pad_hw
        left = pw * in_c
        data = max(0, min(in_w, lay.row_pixels - pw)) * in_c
        right = lay.row_elements - left - data
        kh = lay.kernel_hw[0]
        lines = [f"for (int32_t ky = 0; ky < {kh}; ++ky) {{",
                 f"  const int32_t iy = oy * {sh} - {ph} + ky, slot = (iy + {ph}) % {kh};",
                 f"  int16_t* row = buf + slot * {lay.row_elements};",
                 "  rows[ky] = row;",
                 "  if (held[slot] == iy) continue;",
                 "  held[slot] = iy;",
                 f"  if (iy < 0 || iy >= {in_h}) {{ memset(row, 0, {2 * lay.row_elements}); continue; }}"]
        if left:
            lines.append(f"  memset(row, 0, {2 * left});")
        lines.append(f"  tinyml_widen_s8_s16(input + iy * {in_w * in_c}, row + {left}, {data}, {self.in_offset});")
        if right:
            lines.append(f"  memset(row + {left + data}, 0, {2 * right});")
        return [*lines, "}"]

    def pixel_loop(self, pixels: int) -> list[str]:
        """Every channel block of `pixels` pixels at `ao`, `out`."""
        out_c = self.lay.out_hwc[2]
        lines = []
        if out_c >= 2:
            lines += [f"for (int32_t oc = 0; oc < {out_c - 1}; oc += 2) ", *self.block(2, pixels)]
        if out_c % 2:
            lines += ["{", f"  const int32_t oc = {out_c - 1};", *("  " + b for b in self.block(1, pixels)), "}"]
        return lines

    def definition(self) -> str:
        lay, i = self.lay, self.i
        out_h, out_w, out_c = lay.out_hwc
        step = 2 * self.pixel
        kh = lay.kernel_hw[0]
        lines = [f"static void tinyml_conv_{i}(const int8_t* input, int8_t* output, int16_t* buf) {{",
                 f"  const int16_t* rows[{kh}];", f"  int32_t held[{kh}];",
                 f"  for (int32_t k = 0; k < {kh}; ++k) held[k] = INT32_MIN;"]
        if lay.slack:
            lines.append(f"  memset(buf + {lay.kernel_hw[0] * lay.row_elements}, 0, {2 * lay.slack});")
        lines.append(f"  for (int32_t oy = 0; oy < {out_h}; ++oy) {{")
        lines += ["    " + w for w in self.widen_rows()]
        lines += [f"    int8_t* out = output + oy * {out_w * out_c};", "    int32_t ao = 0;"]
        if out_w >= 2:
            lines.append(f"    for (int32_t ox = 0; ox < {out_w - 1}; ox += 2, ao += {step}, out += {2 * out_c}) {{")
            lines += ["      " + b for b in self.pixel_loop(2)] + ["    }"]
        if out_w % 2:
            lines += ["    {", *("      " + b for b in self.pixel_loop(1)), "    }"]
        lines += ["  }", "}"]
        return self.output() + "\n\n" + "\n".join(lines)


def conv_2d_generated(model: Model, op: Operator, layout: ConvLayout, act: tuple[int, int],
                      arrays: list[CArray]) -> Step:
    """The step of a CONV_2D run by its own generated kernel (`arrays`: its weights, multipliers, shifts and
    bias as the CMSIS-NN lowering stores them; the weights are replaced by their reordered copy)."""
    i, inp, out = op.index, model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    weights = model.constant(op, 1)
    arrays = [CArray(f"w{i}", "int8_t", reordered_weights(weights, layout)) if a.name == f"w{i}" else a
              for a in arrays]
    shifts = next(a.values for a in arrays if a.name == f"s{i}")
    kernel = _Kernel(i, layout, -inp.zero_point, out.zero_point, act, any(a.name == f"b{i}" for a in arrays),
                     bool(np.all(np.asarray(shifts) < 0)))
    call = CCall(f"tinyml_conv_{i}", (Tensor(inp.index), Tensor(out.index), Cast("int16_t *", Scratch(i))))
    functions = [Function(SUPPORT, SUPPORT_C), Function(f"tinyml_conv_{i}", kernel.definition())]
    return Step(i, op.kind, (inp.index,), out.index, [(call,)], arrays, [], layout.scratch_bytes, None,
                overlap=layout.overlap, functions=functions)
