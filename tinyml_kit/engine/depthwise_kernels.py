"""DEPTHWISE_CONV_2D (depth multiplier 1, no dilation) as a C function generated for the layer: shapes, strides,
paddings and offsets are constants, the kernel taps unrolled with constant offsets, no padding branches.

Why: CMSIS-NN's DSP depthwise kernels run about 0.12 MAC per instruction on the small, odd-channel layers of the
MobileNets, TinyNets and PhiNets (per-call setup, a padding test per tap, scalar tails). Here the output is cut
into rectangles of pixels whose windows cover the same kernel taps (`solve.depthwise_shape`: the interior, the
edge rows and columns, the corners); each is a loop over its pixels with only its valid taps, so padding costs
nothing. The input offset is folded into a per-rectangle bias, bias + offset * (the rectangle's weight sum) per
channel, computed here: sum(w * (x + offset)) = sum(w * x) + offset * sum(w) in int32, so the sums are TFLite's.

With the DSP extension four channels go at once: a word of four int8 inputs (HWC keeps a tap's channels together)
and a word of their four weights, `sxtb16` and `sxtb16 ror #8` split both into 16-bit lanes, `smlabb`/`smlatt`
accumulate each lane: 10 instructions per 4 MACs. Without it (host builds) the same loops run in plain C; the
last C % 4 channels go one by one on every core. The layer's constants are packed per group of 4 channels
(`packed`) so a group's weights, multipliers, shifts and interior biases are one run of flash the data cache
keeps while the interior computes up to 4 pixels per group. The interior requantizes inline
(`requantize_c.store_lines`: the double-rounding arithmetic in 6 instructions), the edges call store functions
shared by every layer, corners go through one looping function (`edge_function`). Pixels are written in raster
order, at most 3 ahead of the window being read, which `static_plan.overlap_bytes` allows for: the plan keeps
writing the output over the dying input as it did for CMSIS-NN, and the arena is unchanged.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from tinyml_kit.engine.ir import Function
from tinyml_kit.engine.requantize_c import helpers as requantize_helpers
from tinyml_kit.engine.requantize_c import store, store_lines, store_name
from tinyml_kit.solve.depthwise_shape import BLOCK_EXTRA_WORDS, interior_run, rectangles, segments

MAC4 = "TINYML_DW_MAC4"
_MAC4_DEFINITION = f"""\
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
/* Four channels of one tap: int8 inputs and weights split into 16-bit lanes (channels 0, 2 and 1, 3). */
__STATIC_FORCEINLINE int32_t tinyml_sxtb16_ror8(int32_t v) {{
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}}
#define {MAC4}(X, W, A0, A1, A2, A3) do {{ \\
    const int32_t x_ = arm_nn_read_s8x4(X), w_ = arm_nn_read_s8x4(W); \\
    int32_t xs_ = (int32_t)__sxtb16((uint32_t)x_), ws_ = (int32_t)__sxtb16((uint32_t)w_); \\
    A0 = __smlabb(xs_, ws_, A0); A2 = __smlatt(xs_, ws_, A2); \\
    xs_ = tinyml_sxtb16_ror8(x_); ws_ = tinyml_sxtb16_ror8(w_); \\
    A1 = __smlabb(xs_, ws_, A1); A3 = __smlatt(xs_, ws_, A3); }} while (0)
#else
#define {MAC4}(X, W, A0, A1, A2, A3) do {{ \\
    const int8_t* x_ = (X); const int8_t* w_ = (W); \\
    A0 += x_[0] * w_[0]; A1 += x_[1] * w_[1]; A2 += x_[2] * w_[2]; A3 += x_[3] * w_[3]; }} while (0)
#endif"""


def mac4() -> Function:
    return Function(MAC4, _MAC4_DEFINITION)


def class_biases(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, classes) -> np.ndarray:
    """[rectangle][channel]: bias + input_offset * the rectangle's weight sum, wrapped to int32 as the int32
    accumulator of TFLite's kernel wraps."""
    kh, kw, channels = weights.shape[1:]
    w = weights.reshape(kh, kw, channels).astype(np.int64)
    b = np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)
    table = np.stack([b + input_offset * w[ky0:ky1, kx0:kx1].sum(axis=(0, 1)) for ky0, ky1, kx0, kx1 in classes])
    return ((table + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _bytes_as_words(values: np.ndarray, groups: int) -> np.ndarray:
    """int8 values, padded with 0 to groups * 4, as int32 words of 4 bytes (little-endian, as the cores read)."""
    padded = np.zeros(groups * 4, np.int8)
    padded[:len(values)] = values
    return padded.view("<i4").astype(np.int32)


def packed(weights: np.ndarray, mult, shifts, biases: np.ndarray) -> np.ndarray:
    """The layer's constants as the generated code reads them, one block of int32 words per group of 4 channels
    (the last group padded with zeros): the group's weights tap by tap (4 int8 each), its 4 multipliers, its 4
    int8 shifts, its 4 biases of the interior rectangle (`biases`). A group's constants are one run of flash
    bytes (72 for 3x3) that the flash data cache keeps while a run of pixels reads them."""
    taps = weights.reshape(-1, weights.shape[-1])                      # [K][C]
    channels = taps.shape[1]
    groups = -(-channels // 4)

    def quads(values) -> np.ndarray:
        padded = np.zeros(groups * 4, np.int64)
        padded[:channels] = values
        return padded.reshape(groups, 4).astype(np.int32)

    w = np.stack([_bytes_as_words(t, groups) for t in taps], axis=1)   # [G][K]
    s = _bytes_as_words(np.asarray(shifts, np.int8), groups)[:, None]
    return np.concatenate([w, quads(mult), s, quads(biases)], axis=1).reshape(-1)


@dataclass(frozen=True)
class DepthwiseLayer:
    """What the generated function is specialised to: shapes, strides, TFLM's leading paddings, the output zero
    point and activation range, and whether every channel's requantization shifts right (`requantize_c`)."""
    in_hwc: tuple[int, int, int]
    out_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out_zero_point: int
    act: tuple[int, int]
    right: bool

    @property
    def rows(self) -> list[tuple[int, int, int, int]]:
        return segments(self.in_hwc[0], self.out_hw[0], self.kernel_hw[0], self.stride[0], self.pad[0])

    @property
    def cols(self) -> list[tuple[int, int, int, int]]:
        return segments(self.in_hwc[1], self.out_hw[1], self.kernel_hw[1], self.stride[1], self.pad[1])

    @property
    def classes(self) -> list[tuple[int, int, int, int]]:
        """The tap rectangles, the interior (most pixels) first: its biases go into the packed constants, the
        others' into the edge table, in this order (`class_biases`)."""
        return list(rectangles(self.in_hwc, self.out_hw, self.kernel_hw, self.stride, self.pad))

    @property
    def taps(self) -> int:
        return self.kernel_hw[0] * self.kernel_hw[1]

    def store(self, lanes: int) -> str:
        return store_name(self.right, lanes, *self.act)


def _group_body(layer: DepthwiseLayer, taps: dict[int, int], interior: bool, pixels: int) -> list[str]:
    """The channel groups of `pixels` pixels side by side: `x` points at the first pixel's first valid tap, `o`
    at its output, `b` at its rectangle's edge biases; `taps` maps each valid tap to its input offset. A group
    reads its block of `k` (`packed`) once for the whole run; full groups accumulate 4 channels a tap (`MAC4`),
    the padded last group goes channel by channel. The interior stores inline, the edges by a call."""
    c, n, full = layer.in_hwc[2], layer.taps, layer.in_hwc[2] // 4
    inline = store_lines(["a0", "a1", "a2", "a3"], layer.out_zero_point, *layer.act, layer.right, ("oc", "mc", "sc"))
    head = [f"const int32_t* blk = k + g * {n + BLOCK_EXTRA_WORDS}; const int8_t* wg = (const int8_t*)blk;",
            f"const int32_t* mc = blk + {n}; const int8_t* sc = (const int8_t*)(blk + {n + 4});",
            f"const int32_t* bg = {f'blk + {n + 5}' if interior else 'b + 4 * g'};"]
    pixel = [f"for (int32_t p = 0; p < {pixels}; ++p) {{" if pixels > 1 else "{ const int32_t p = 0;",
             f"  const int8_t* xk = x + p * {layer.stride[1] * c} + 4 * g; int8_t* oc = o + p * {c} + 4 * g;"]
    stored = inline if interior else ["acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;",
                                      f"{layer.store(4)}(oc, acc, mc, sc);"]
    lines = []
    if full:
        lines += [f"for (int32_t g = 0; g < {full}; ++g) {{", *(f"  {h}" for h in head), *(f"  {p}" for p in pixel),
                  "    int32_t v, a0 = bg[0], a1 = bg[1], a2 = bg[2], a3 = bg[3];",
                  *(f"    {MAC4}(xk + {xo}, wg + {4 * t}, a0, a1, a2, a3);" for t, xo in taps.items()),
                  *(f"    {line}" for line in stored), "    (void)v;", "  }", "}"]
    if c % 4:
        sums = " + ".join(f"xk[j + {xo}] * wg[j + {4 * t}]" for t, xo in taps.items())
        lines += ["{", f"  const int32_t g = {full};", *(f"  {h}" for h in head), *(f"  {p}" for p in pixel),
                  f"    for (int32_t j = 0; j < {c % 4}; ++j) {{",
                  f"      acc[0] = bg[j] + {sums};", f"      {layer.store(1)}(oc + j, acc, mc + j, sc + j);",
                  "    }", "  }", "}"]
    return lines


def edge_function(layer: DepthwiseLayer) -> Function:
    """`name(x, o, k, b, acc, channels, block, rows, cols, row_bytes, tap0, kw)`: one pixel whose valid taps are
    a `rows` x `cols` rectangle starting at tap `tap0` of a kernel `kw` wide, `x` at its first valid tap, input
    rows `row_bytes` apart, `b` its rectangle's biases, `k` packed in blocks of `block` words (`packed`), `acc`
    the caller's store buffer (zero point and bounds in acc[4..6]: `requantize_c.store`). Loops instead of
    unrolled taps: one copy serves every edge pixel of every layer."""
    name = layer.store(4).replace("tinyml_store4", "tinyml_dw_edge")
    taps = "block - " + str(BLOCK_EXTRA_WORDS)
    definition = f"""\
static void {name}(const int8_t* x, int8_t* o, const int32_t* k, const int32_t* b, int32_t* acc,
    int32_t channels, int32_t block, int32_t rows, int32_t cols, int32_t row_bytes, int32_t tap0, int32_t kw) {{
  int32_t g = 0;
  for (; 4 * g + 4 <= channels; ++g) {{
    const int32_t* blk = k + g * block;
    int32_t a0 = b[4 * g], a1 = b[4 * g + 1], a2 = b[4 * g + 2], a3 = b[4 * g + 3];
    for (int32_t r = 0; r < rows; ++r) {{
      const int8_t* xr = x + r * row_bytes + 4 * g;
      const int8_t* wr = (const int8_t*)blk + 4 * (tap0 + r * kw);
      for (int32_t q = 0; q < cols; ++q) {MAC4}(xr + q * channels, wr + 4 * q, a0, a1, a2, a3);
    }}
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    {layer.store(4)}(o + 4 * g, acc, blk + {taps}, (const int8_t*)(blk + {taps} + 4));
  }}
  if (4 * g < channels) {{
    const int32_t* blk = k + g * block;
    for (int32_t j = 0; j < channels - 4 * g; ++j) {{
      acc[0] = b[4 * g + j];
      for (int32_t r = 0; r < rows; ++r) {{
        for (int32_t q = 0; q < cols; ++q) {{
          acc[0] += x[r * row_bytes + q * channels + 4 * g + j] * ((const int8_t*)blk)[4 * (tap0 + r * kw + q) + j];
        }}
      }}
      {layer.store(1)}(o + 4 * g + j, acc, blk + {taps} + j, (const int8_t*)(blk + {taps} + 4) + j);
    }}
  }}
}}"""
    return Function(name, definition)


def _loops(layer: DepthwiseLayer) -> list[str]:
    """Every pixel in raster order, a loop per rectangle of pixels with the same taps. The interior in runs of
    up to 4 pixels per channel group (`interior_run`: at most 3 pixels written ahead of the window read, within
    the slack `static_plan.overlap_bytes` allows), unrolled; the other rectangles pixel by pixel, unrolled too,
    but those of a single pixel (the corners) by `edge_function`, which is slower but shared."""
    (_, w_in, c), (_, ow), (_, kw), (sh, sw), (ph, pw) = (layer.in_hwc, layer.out_hw, layer.kernel_hw, layer.stride,
                                                          layer.pad)
    classes, edge = layer.classes, edge_function(layer).name
    single = [sum((r[1] - r[0]) * (q[1] - q[0]) for r in layer.rows for q in layer.cols
                  if (r[2], r[3], q[2], q[3]) == rect) == 1 for rect in classes]
    body = [f"int32_t acc[7] = {{0, 0, 0, 0, {layer.out_zero_point}, {layer.act[0]}, {layer.act[1]}}};   "
            "/* for the store functions */", "(void)acc;"]
    for oy0, oy1, ky0, ky1 in layer.rows:
        body.append(f"for (int32_t oy = {oy0}; oy < {oy1}; ++oy) {{")
        for ox0, ox1, kx0, kx1 in layer.cols:
            rect, width = classes.index((ky0, ky1, kx0, kx1)), ox1 - ox0
            start = [f"    const int8_t* x = in + ((oy * {sh} + {ky0 - ph}) * {w_in} + ox * {sw} + {kx0 - pw}) * {c};",
                     f"    int8_t* o = out + (oy * {ow} + ox) * {c};",
                     f"    const int32_t* b = bias + {max(rect - 1, 0) * c}; (void)b;"]
            if rect and single[rect]:
                body += [f"  for (int32_t ox = {ox0}; ox < {ox1}; ++ox) {{", *start,
                         f"    {edge}(x, o, k, b, acc, {c}, {layer.taps + BLOCK_EXTRA_WORDS}, {ky1 - ky0}, "
                         f"{kx1 - kx0}, {w_in * c}, {ky0 * kw + kx0}, {kw});", "  }"]
                continue
            taps = {ky * kw + kx: ((ky - ky0) * w_in + kx - kx0) * c
                    for ky in range(ky0, ky1) for kx in range(kx0, kx1)}
            run = interior_run(width) if rect == 0 else 1
            body += [f"  for (int32_t ox = {ox0}; ox < {ox1}; ox += {run}) {{", *start,
                     *(f"    {line}" for line in _group_body(layer, taps, rect == 0, run)), "  }"]
        body.append("}")
    return body


def kernel(layer: DepthwiseLayer) -> list[Function]:
    """The layer's function `name(in, out, k, bias)` (`k` the packed constants, `bias` the edge rectangles'
    biases: `packed`, `class_biases`), last, after the helpers it calls. Layers whose code is identical share
    one function (the name is a hash of it)."""
    (h, w_in, c), (oh, ow), (kh, kw), (sh, sw) = layer.in_hwc, layer.out_hw, layer.kernel_hw, layer.stride
    text = "\n".join(f"  {line}" for line in _loops(layer))
    comment = f"/* depthwise {kh}x{kw}, stride {sh}x{sw}, input {h}x{w_in}x{c}, output {oh}x{ow}x{c} */"
    name = "tinyml_dw_" + hashlib.sha1((comment + text).encode()).hexdigest()[:12]
    definition = (f"{comment}\n"
                  f"static void {name}(const int8_t* in, int8_t* out, const int32_t* k, const int32_t* bias) {{\n"
                  f"  (void)bias;\n{text}\n}}")
    edges = [edge_function(layer)] if edge_function(layer).name in text else []
    called = text + "".join(e.definition for e in edges)
    stores = [f for lanes in (4, 1) if layer.store(lanes) in called for f in store(layer.right, lanes, *layer.act)]
    return [*dict.fromkeys([*requantize_helpers(layer.right), *stores]), *([mac4()] if MAC4 in called else []),
            *edges, Function(name, definition)]


def generated_depthwise(in_shape: tuple, out_shape: tuple, depth_multiplier: int, dilation: tuple[int, int]) -> bool:
    """Whether a depthwise layer runs as a generated function; a depth multiplier or a dilation keeps CMSIS-NN."""
    return depth_multiplier == 1 and dilation == (1, 1) and in_shape[0] == 1 and in_shape[3] == out_shape[3]
