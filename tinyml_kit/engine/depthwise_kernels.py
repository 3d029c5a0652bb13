"""DEPTHWISE_CONV_2D (depth multiplier 1, no dilation) as a C function generated for the layer: shapes, strides,
paddings and offsets are constants, the kernel taps unrolled with constant offsets, no padding branches.

Why: CMSIS-NN's DSP depthwise kernels run 0.1-0.5 MAC per instruction on the small, odd-channel layers of
MobileNets and PhiNets (per-call setup, a padding test per tap, a scalar tail). Here the output is cut into
rectangles of pixels whose windows cover the same kernel taps (the interior, the edge rows and columns, the
corners): each rectangle is a loop over its pixels with only its valid taps, so padding costs nothing. The input
offset is folded into a per-rectangle bias, bias + offset * (sum of the rectangle's valid weights) per channel,
computed here: sum(w * (x + offset)) = sum(w * x) + offset * sum(w) in int32, so the result is TFLite's exactly.

With the DSP extension four channels go at once: one word of four int8 inputs and one of four weights (the
TFLite filter layout [1][kh][kw][C] already keeps a tap's channels together), `sxtb16` and `sxtb16 ror #8` split
them into 16-bit lanes, `smlabb`/`smlatt` accumulate each lane (10 instructions per 4 MACs). Without it (host
builds) the same loops run in plain C. The rest of the channels, one at a time, in plain C on every core.
Requantization, offset, clamp and store: `engine.requantize_c`. Pixels are computed in raster order, each written
after its window is read, which is the order the static plan's `overlap_bytes` assumes for CMSIS-NN's kernels.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from tinyml_kit.engine.ir import Function
from tinyml_kit.engine.requantize_c import helpers as requantize_helpers
from tinyml_kit.engine.requantize_c import store, store_lines, store_name

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


def segments(in_size: int, out_size: int, kernel: int, stride: int, pad: int) -> list[tuple[int, int, int, int]]:
    """Runs of output positions along one axis whose windows cover the same kernel taps: (first, end, first
    tap, end tap), in order."""
    runs: list[list[int]] = []
    for o in range(out_size):
        start = o * stride - pad
        k0, k1 = max(0, -start), min(kernel, in_size - start)
        if runs and runs[-1][1] == o and runs[-1][2:] == [k0, k1]:
            runs[-1][1] = o + 1
        else:
            runs.append([o, o + 1, k0, k1])
    return [(a, b, c, d) for a, b, c, d in runs]


def _classes(rows, cols) -> list[tuple[int, int, int, int]]:
    """The distinct tap rectangles (ky0, ky1, kx0, kx1), in the order the pixels meet them."""
    return list(dict.fromkeys((r[2], r[3], c[2], c[3]) for r in rows for c in cols))


def class_biases(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, classes) -> np.ndarray:
    """Per rectangle and channel: bias + input_offset * the rectangle's weight sum, wrapped to int32 as the
    int32 accumulator of TFLite's kernel wraps."""
    kh, kw, channels = weights.shape[1:]
    w = weights.reshape(kh, kw, channels).astype(np.int64)
    b = np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)
    table = np.stack([b + input_offset * w[ky0:ky1, kx0:kx1].sum(axis=(0, 1)) for ky0, ky1, kx0, kx1 in classes])
    return ((table + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32).reshape(-1)


def group_major(weights: np.ndarray) -> np.ndarray:
    """The filter [1][kh][kw][C] reordered as the generated code reads it: per group of 4 channels its taps one
    after the other (4 bytes each), then the last C % 4 channels tap by tap. A group's weights are then one run
    of flash bytes, read again by every pixel while the flash data cache still holds them."""
    taps = weights.reshape(-1, weights.shape[-1])                      # [K][C]
    full = taps.shape[1] // 4 * 4
    groups = taps[:, :full].reshape(taps.shape[0], -1, 4).transpose(1, 0, 2)
    return np.concatenate([groups.reshape(-1), taps[:, full:].reshape(-1)])


def _pixel_body(c: int, taps: dict[int, int], stores: tuple[str, str], inline: list[str] | None,
                run: tuple[int, int, int]) -> list[str]:
    """The channel loops of `run[0]` pixels `run[1]` bytes apart (`run[2]` taps in the kernel): `x` points at the
    first pixel's first valid tap,
    `o` at its output, `b` at its bias; `taps` maps each valid tap's index to its input offset. Groups of 4 channels go
    group by group, each over the run's pixels, stored by the `inline` statements (`requantize_c.store_lines`)
    or by a call; then the last channels one at a time."""
    (store4, store1), (pixels, step, k), full = stores, run, c // 4 * 4
    lines = []
    pixel_loop = [f"for (int32_t k = 0; k < {pixels}; ++k) {{"] if pixels > 1 else ["{ const int32_t k = 0;"]
    if full:
        stored = ([*(f"    {line}" for line in inline)] if inline is not None else
                  ["    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;", f"    {store4}(oc, acc, mc, sc);"])
        lines += [f"for (int32_t c = 0; c < {full}; c += 4) {{",
                  f"  const int8_t* wg = w + c * {k}; const int32_t* mc = mult + c; const int8_t* sc = shift + c;",
                  *(f"  {line}" for line in pixel_loop),
                  f"    const int8_t* xk = x + k * {step} + c; int8_t* oc = o + k * {c} + c; int32_t v;",
                  "    int32_t a0 = b[c], a1 = b[c + 1], a2 = b[c + 2], a3 = b[c + 3];",
                  *(f"    {MAC4}(xk + {xo}, wg + {4 * t}, a0, a1, a2, a3);" for t, xo in taps.items()),
                  *stored, "    (void)v;", "  }", "}"]
    if c % 4:
        sums = " + ".join(f"xk[c + {xo}] * w[c + {k * full + t * (c % 4) - full}]" for t, xo in taps.items())
        lines += [*pixel_loop, f"  const int8_t* xk = x + k * {step}; int8_t* ok = o + k * {c};",
                  f"  for (int32_t c = {full}; c < {c}; ++c) {{",
                  f"    acc[0] = b[c] + {sums};", f"    {store1}(ok + c, acc, mult + c, shift + c);", "  }", "}"]
    return lines


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
        """The tap rectangles the bias table is laid out by (`class_biases`)."""
        return _classes(self.rows, self.cols)

    def store(self, lanes: int) -> str:
        return store_name(self.out_zero_point, *self.act, self.right, lanes)


def _loops(layer: DepthwiseLayer) -> list[str]:
    """Every pixel in raster order: a loop per rectangle of pixels with the same taps; the largest rectangle
    (the interior) stores inline, the others call the shared store functions."""
    (_, w_in, c), (_, ow), (_, kw), (sh, sw), (ph, pw) = (layer.in_hwc, layer.out_hw, layer.kernel_hw, layer.stride,
                                                          layer.pad)
    rows, cols, classes = layer.rows, layer.cols, layer.classes
    inline = store_lines(["a0", "a1", "a2", "a3"], layer.out_zero_point, *layer.act, layer.right, ("oc", "mc", "sc"))
    hot = max(((r, q) for r in rows for q in cols), key=lambda rq: (rq[0][1] - rq[0][0]) * (rq[1][1] - rq[1][0]))
    body = ["int32_t acc[4];", "(void)acc;   /* unused when the one rectangle stores inline */"]
    for row in rows:
        oy0, oy1, ky0, ky1 = row
        body.append(f"for (int32_t oy = {oy0}; oy < {oy1}; ++oy) {{")
        for col in cols:
            ox0, ox1, kx0, kx1 = col
            taps = {ky * kw + kx: ((ky - ky0) * w_in + kx - kx0) * c
                    for ky in range(ky0, ky1) for kx in range(kx0, kx1)}
            stores, start = (layer.store(4), layer.store(1)), f"ox * {sw} + {kx0 - pw}"
            quads = (ox1 - ox0) // 4 * 4 if hot == (row, col) else 0
            runs = [(4, ox0, ox0 + quads, inline), (1, ox0 + quads, ox1, inline if hot == (row, col) and not quads
                                                     else None)]
            for pixels, first, end, stored in (r for r in runs if r[2] > r[1]):
                pixel = _pixel_body(c, taps, stores, stored, (pixels, sw * c, layer.kernel_hw[0] * kw))
                body += [f"  for (int32_t ox = {first}; ox < {end}; ox += {pixels}) {{",
                         f"    const int8_t* x = in + ((oy * {sh} + {ky0 - ph}) * {w_in} + {start}) * {c};",
                         f"    int8_t* o = out + (oy * {ow} + ox) * {c};",
                         f"    const int32_t* b = bias + {classes.index((ky0, ky1, kx0, kx1)) * c};",
                         *(f"    {line}" for line in pixel), "  }"]
        body.append("}")
    return body


def kernel(layer: DepthwiseLayer) -> list[Function]:
    """The layer's function `name(in, out, w, bias, mult, shift)`, last, after the helpers it calls. Layers whose
    code is identical share one function (the name is a hash of it)."""
    (h, w_in, c), (oh, ow), (kh, kw), (sh, sw) = layer.in_hwc, layer.out_hw, layer.kernel_hw, layer.stride
    text = "\n".join(f"  {line}" for line in _loops(layer))
    name = "tinyml_dw_" + hashlib.sha1(text.encode()).hexdigest()[:12]
    definition = (f"/* depthwise {kh}x{kw}, stride {sh}x{sw}, input {h}x{w_in}x{c}, output {oh}x{ow}x{c} */\n"
                  f"static void {name}(const int8_t* in, int8_t* out, const int8_t* w, const int32_t* bias,\n"
                  f"    const int32_t* mult, const int8_t* shift) {{\n{text}\n}}")
    helpers = [*requantize_helpers(layer.right),
               *(f for lanes in (4, 1) if layer.store(lanes) in text
                 for f in store(layer.out_zero_point, *layer.act, layer.right, lanes))]
    return [*dict.fromkeys(helpers), *([mac4()] if c // 4 else []), Function(name, definition)]


def generated_depthwise(in_shape: tuple, out_shape: tuple, depth_multiplier: int, dilation: tuple[int, int]) -> bool:
    """Whether a depthwise layer runs as a generated function; a depth multiplier or a dilation keeps CMSIS-NN."""
    return depth_multiplier == 1 and dilation == (1, 1) and in_shape[0] == 1 and in_shape[3] == out_shape[3]
