"""The C every generated convolution shares (`engine.conv_gen`), emitted once per model: the DSP intrinsics or
their portable versions, the register-blocked inner steps as inline assembly for GCC-compatible compilers with the
DSP extension, the int8 -> int16 row widening and TFLite's requantization.
"""

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

/* Not at -O0: unoptimized builds keep r7 as the frame pointer and cannot give the blocks the registers they need. */
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__) && defined(__OPTIMIZE__)
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
/* 2 channels x 3 pixels (24 MACs a word): 14 registers, every one the loop has. */
#define TINYML_Q23_MACS(P)                                                                                      \
  "smlad %[a0" #P "], %[l0], %[p], %[a0" #P "]\n\tsmlad %[a0" #P "], %[h0], %[q], %[a0" #P "]\n\t"             \
  "smlad %[a1" #P "], %[l1], %[p], %[a1" #P "]\n\tsmlad %[a1" #P "], %[h1], %[q], %[a1" #P "]\n\t"
#define TINYML_Q23_WEIGHTS(W0, W1)                                                                              \
  "ldr %[h1], [%[w], #" #W0 "]\n\tsxtb16 %[l0], %[h1]\n\tsxtb16 %[h0], %[h1], ror #8\n\t"                      \
  "ldr %[h1], [%[w], #" #W1 "]\n\tsxtb16 %[l1], %[h1]\n\tsxtb16 %[h1], %[h1], ror #8\n\t"
#define TINYML_Q23_OPERANDS(X, W)                                                                               \
  : [a00] "+r"(acc00), [a01] "+r"(acc01), [a02] "+r"(acc02), [a10] "+r"(acc10), [a11] "+r"(acc11),            \
    [a12] "+r"(acc12), [l0] "=&r"(t0), [h0] "=&r"(t1), [l1] "=&r"(t2), [h1] "=&r"(t3), [p] "=&r"(t4),          \
    [q] "=&r"(t5) : [x] "r"(X), [w] "r"(W) : "memory"
#define TINYML_Q23D(X, W, X0, X1, X2, W0, W1)                                                                  \
  __asm__(TINYML_Q23_WEIGHTS(W0, W1)                                                                          \
          "ldrd %[p], %[q], [%[x], #" #X0 "]\n\t" TINYML_Q23_MACS(0)                                          \
          "ldrd %[p], %[q], [%[x], #" #X1 "]\n\t" TINYML_Q23_MACS(1)                                          \
          "ldrd %[p], %[q], [%[x], #" #X2 "]\n\t" TINYML_Q23_MACS(2) TINYML_Q23_OPERANDS(X, W))
#define TINYML_Q23(X, W, X0, X1, X2, W0, W1)                                                                   \
  __asm__(TINYML_Q23_WEIGHTS(W0, W1)                                                                          \
          "ldr %[p], [%[x], #" #X0 "]\n\tldr %[q], [%[x], #" #X0 "+4]\n\t" TINYML_Q23_MACS(0)                 \
          "ldr %[p], [%[x], #" #X1 "]\n\tldr %[q], [%[x], #" #X1 "+4]\n\t" TINYML_Q23_MACS(1)                 \
          "ldr %[p], [%[x], #" #X2 "]\n\tldr %[q], [%[x], #" #X2 "+4]\n\t" TINYML_Q23_MACS(2)                 \
          TINYML_Q23_OPERANDS(X, W))
/* Int16 weights in RAM (`ConvLayout.weights_in_ram`), stored per channel pair and word as the loop reads them:
 * one LDM with writeback brings both channels' four weights, r8-r11 in the ascending order LDM needs, and the
 * weights are one sequential stream. X0..X2: byte offsets of the pixels' int16 pairs from X (LDRD when
 * word-aligned, else two LDR), W: the weight pointer, advanced past the word's 16 bytes. */
#define TINYML_QW_LOAD "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
#define TINYML_XD(OFF) "ldrd %[p], %[q], [%[x], #" #OFF "]\n\t"
#define TINYML_XU(OFF) "ldr %[p], [%[x], #" #OFF "]\n\tldr %[q], [%[x], #" #OFF "+4]\n\t"
#define TINYML_QW_MACS(P)                                                                                       \
  "smlad %[a0" #P "], r8, %[p], %[a0" #P "]\n\tsmlad %[a0" #P "], r9, %[q], %[a0" #P "]\n\t"                   \
  "smlad %[a1" #P "], r10, %[p], %[a1" #P "]\n\tsmlad %[a1" #P "], r11, %[q], %[a1" #P "]\n\t"
#define TINYML_Q22W_OPERANDS(X, W)                                                                              \
  : [a00] "+r"(acc00), [a01] "+r"(acc01), [a10] "+r"(acc10), [a11] "+r"(acc11), [w] "+r"(W),                   \
    [p] "=&r"(t4), [q] "=&r"(t5) : [x] "r"(X) : "r8", "r9", "r10", "r11", "memory"
#define TINYML_Q23W_OPERANDS(X, W)                                                                              \
  : [a00] "+r"(acc00), [a01] "+r"(acc01), [a02] "+r"(acc02), [a10] "+r"(acc10), [a11] "+r"(acc11),            \
    [a12] "+r"(acc12), [w] "+r"(W), [p] "=&r"(t4), [q] "=&r"(t5) : [x] "r"(X) : "r8", "r9", "r10", "r11", "memory"
#define TINYML_Q22WD(X, W, X0, X1)                                                                              \
  __asm__(TINYML_QW_LOAD TINYML_XD(X0) TINYML_QW_MACS(0) TINYML_XD(X1) TINYML_QW_MACS(1) TINYML_Q22W_OPERANDS(X, W))
#define TINYML_Q22WU(X, W, X0, X1)                                                                              \
  __asm__(TINYML_QW_LOAD TINYML_XU(X0) TINYML_QW_MACS(0) TINYML_XU(X1) TINYML_QW_MACS(1) TINYML_Q22W_OPERANDS(X, W))
#define TINYML_Q23WD(X, W, X0, X1, X2)                                                                          \
  __asm__(TINYML_QW_LOAD TINYML_XD(X0) TINYML_QW_MACS(0) TINYML_XD(X1) TINYML_QW_MACS(1) TINYML_XD(X2)         \
          TINYML_QW_MACS(2) TINYML_Q23W_OPERANDS(X, W))
#define TINYML_Q23WU(X, W, X0, X1, X2)                                                                          \
  __asm__(TINYML_QW_LOAD TINYML_XU(X0) TINYML_QW_MACS(0) TINYML_XU(X1) TINYML_QW_MACS(1) TINYML_XU(X2)         \
          TINYML_QW_MACS(2) TINYML_Q23W_OPERANDS(X, W))
#define TINYML_CONV_ASM 1
#endif

__STATIC_FORCEINLINE uint32_t tinyml_rd32(const void* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* int8 -> int16 with the input offset added, 8 at a time (SXTAB16 gives (v0,v2),(v1,v3); PKH puts them back in
 * order). */
static void tinyml_widen_s8_s16(const int8_t* in, int16_t* out, int32_t count, int32_t offset) {
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)
  const uint32_t off2 = (uint32_t)(uint16_t)offset * 0x10001u;
  for (const int8_t* end = in + (count & ~7); in != end; in += 8, out += 8) {
    const uint32_t v = tinyml_rd32(in), w = tinyml_rd32(in + 4);
    const uint32_t ev = SXTAB16(off2, v), ov = SXTAB16_RORn(off2, v, 8);
    const uint32_t ew = SXTAB16(off2, w), ow = SXTAB16_RORn(off2, w, 8);
    const uint32_t p0 = PKHBT(ev, ov, 16), p1 = PKHTB(ov, ev, 16), p2 = PKHBT(ew, ow, 16), p3 = PKHTB(ow, ew, 16);
    memcpy(out, &p0, 4);
    memcpy(out + 2, &p1, 4);
    memcpy(out + 4, &p2, 4);
    memcpy(out + 6, &p3, 4);
  }
  count &= 7;
#endif
  for (; count > 0; --count) *out++ = (int16_t)(*in++ + offset);
}

/* `count` int16 moved down from `from` to `to` (to < from) a word at a time: the few columns windows share, for
 * which a library memmove (bytewise in size-optimized C libraries) costs more than the widening it saves. */
static void tinyml_cv_move(int16_t* to, const int16_t* from, int32_t count) {
#if defined(TINYML_CONV_ASM)
  if ((((uintptr_t)to | (uintptr_t)from) & 3u) == 0u) {   /* 16 bytes a step where both are word-aligned */
    for (; count >= 8; count -= 8)
      __asm__("ldmia %[f]!, {r8, r9, r10, r11}\n\tstmia %[t]!, {r8, r9, r10, r11}"
              : [f] "+r"(from), [t] "+r"(to) : : "r8", "r9", "r10", "r11", "memory");
  }
#endif
  for (; count >= 2; count -= 2, to += 2, from += 2) {
    uint32_t v;
    memcpy(&v, from, 4);
    memcpy(to, &v, 4);
  }
  if (count) *to = *from;
}

/* Columns [x0, x1) of one input row (NULL: a padding row) as int16 with the offset added, padding as 0. */
static void tinyml_cv_fill(const int8_t* row, int16_t* out, int32_t x0, int32_t x1, int32_t width, int32_t channels,
                           int32_t offset) {
  const int32_t lo = x0 < 0 ? 0 : x0, hi = x1 < width ? x1 : width;
  if (row == NULL || hi <= lo) {
    memset(out, 0, (size_t)(x1 - x0) * channels * 2);
    return;
  }
  if (lo > x0) memset(out, 0, (size_t)(lo - x0) * channels * 2);
  tinyml_widen_s8_s16(row + lo * channels, out + (lo - x0) * channels, (hi - lo) * channels, offset);
  if (x1 > hi) memset(out + (hi - x0) * channels, 0, (size_t)(x1 - hi) * channels * 2);
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
