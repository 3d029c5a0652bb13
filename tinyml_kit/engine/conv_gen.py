"""CONV_2D as a C function generated for its layer: shapes, strides, paddings, offsets and the requantization path
are constants of the text, so the loops have fixed trip counts and every load an immediate offset.

The kernel walks each output row in groups of 3 pixels (`ConvLayout.main_pixels`); the group's windows are
widened to int16 with the input offset added into a small buffer (`solve.conv_layout`: padding is 0 there,
TFLite's zero point after the offset). Per pair of output channels it then accumulates a block of 2 channels x 3
pixels: per word of 4 int8 weights (reordered at export as w0 w2 w1 w3, so SXTB16 and SXTB16 ROR 8 give the pairs
(w0,w1) and (w2,w3)), two int16 pairs of each pixel's window and 12 SMLADs, as inline assembly on GCC-compatible
compilers with the DSP extension (`engine.conv_support`: 21 instructions per 24 MACs with LDRD). A kernel row of
a block is straight-line code (the engine's C is built with -Os, which does not unroll), wide rows in a loop of
equal chunks; a row's last 1 or 2 pixels and an odd channel take smaller blocks. The accumulators start at the
bias; each output is requantized as TFLite's MultiplyByQuantizedMultiplier (double rounding, bit-exact), offset,
clamped to the activation range and stored. Without the DSP extension (the host) the same text runs as C loops
over portable versions of the intrinsics. On Helium (MVE) builds the support code refuses to compile: those
cores keep CMSIS-NN's kernels (not planned here yet).
"""

import numpy as np

from tinyml_kit.engine.conv_support import SUPPORT, SUPPORT_C
from tinyml_kit.engine.ir import Call as CCall
from tinyml_kit.engine.ir import Cast, Function, Scratch, Tensor
from tinyml_kit.engine.model_ir import Model, Operator
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.conv_layout import ConvLayout


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
        self.kch = layout.channel_bytes     # weight bytes per output channel
        self.pixel = layout.window_step     # int16 elements between adjacent windows

    def block(self, chans: int, pixels: int) -> list[str]:
        """`chans` output channels x `pixels` pixels from channel `oc`, their windows in the window buffer,
        stored at `out`."""
        lay, i = self.lay, self.i
        lines = [f"const int8_t* wk = w{i} + oc * {self.kch};"]
        for c in range(chans):
            start = f"b{i}[oc + {c}]" if self.bias else "0"
            lines.append("int32_t " + ", ".join(f"acc{c}{p} = {start}" for p in range(pixels)) + ";")
        body = self.asm_row(pixels) if chans == 2 and pixels > 1 else self.c_row(chans, pixels)
        if chans == 2 and pixels == lay.main_pixels and lay.unrolled:
            for ky in range(lay.kernel_hw[0]):
                lines += ["{", f"  const int16_t* xk = buf + {ky * lay.row_elements};",
                          f"  const int8_t* wr = wk + {ky * lay.padded_window_row};", *("  " + b for b in body), "}"]
        else:
            lines += ["const int16_t* xr = buf;",
                      f"for (int32_t ky = 0; ky < {lay.kernel_hw[0]}; ++ky, xr += {lay.row_elements}, "
                      f"wk += {lay.padded_window_row}) {{",
                      "  const int16_t* xk = xr;", "  const int8_t* wr = wk;", *("  " + b for b in body), "}"]
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

    def asm_row(self, pixels: int) -> list[str]:
        """One kernel row of a 2 x `pixels` block: `TINYML_Q22`/`TINYML_Q23` statements (byte offsets),
        straight-line or in a loop of equal chunks (`ConvLayout.chunk_words`), LDRD where every window starts on
        a word (int16 pairs at even element offsets of the word-aligned row buffer) and the offsets fit its
        immediate, LDR where they fit its own; the C row where there is no assembly or no offset fits."""
        words, chunk, aligned = self.lay.words, self.lay.chunk_words, self.lay.aligned(pixels)
        if not self.lay.assembly(pixels):
            return self.c_row(2, pixels)
        macro = f"TINYML_Q2{pixels}{'D' if aligned else ''}"

        def quads(count: int) -> list[str]:
            return [f"{macro}(xk, wr, " + ", ".join(str(2 * p * self.pixel + 8 * q) for p in range(pixels)) +
                    f", {4 * q}, {self.kch + 4 * q});" for q in range(count)]
        body = ["#if defined(TINYML_CONV_ASM)", "uint32_t t0, t1, t2, t3, t4, t5;"]
        if words // chunk > 1:
            body += [f"for (int32_t n = 0; n < {words // chunk}; ++n, xk += {4 * chunk}, wr += {4 * chunk}) {{",
                     *("  " + q for q in quads(chunk)), "}", *quads(words % chunk)]
        else:
            body += quads(words)
        return [*body, "#else", *self.c_row(2, pixels), "#endif"]

    def output(self) -> str:
        i, (lo, hi) = self.i, self.act
        rq = (f"tinyml_cv_requantize_right(acc, m{i}[c], -s{i}[c])" if self.right_only
              else f"tinyml_cv_requantize(acc, m{i}[c], s{i}[c])")
        clamp = ("  return tinyml_cv_sat8(v);" if (lo, hi) == (-128, 127) else
                 f"  v = v < {lo} ? {lo} : v;\n  return (int8_t)(v > {hi} ? {hi} : v);")
        return (f"__STATIC_FORCEINLINE int8_t tinyml_conv_{i}_out(int32_t acc, int32_t c) {{\n"
                f"  {'const ' if (lo, hi) == (-128, 127) else ''}int32_t v = {rq} + {self.out_offset};\n"
                f"{clamp}\n}}")

    def window(self) -> str:
        """`tinyml_conv_<i>_window`: the kernel rows of the next pixels' windows into the window buffer, `cols`
        columns from input column `x0`; the first `keep` columns are the previous group's last ones, moved to
        the front (its windows overlap these by kw - stride columns), the others widened from the input."""
        lay = self.lay
        (in_h, in_w, in_c), pixel_step = lay.in_hwc, lay.main_pixels * lay.stride_hw[1] * lay.in_hwc[2]
        return "\n".join([
            f"static void tinyml_conv_{self.i}_window(const int8_t* input, int16_t* buf, int32_t iy, int32_t x0, "
            "int32_t keep, int32_t cols) {",
            f"  for (int32_t ky = 0; ky < {lay.kernel_hw[0]}; ++ky, ++iy, buf += {lay.row_elements}) {{",
            f"    if (keep) tinyml_cv_move(buf, buf + {pixel_step}, keep * {in_c});",
            f"    const int8_t* row = iy >= 0 && iy < {in_h} ? input + iy * {in_w * in_c} : NULL;",
            f"    if (row != NULL && x0 + keep >= 0 && x0 + cols <= {in_w})",   # inside the input: no padding
            f"      tinyml_widen_s8_s16(row + (x0 + keep) * {in_c}, buf + keep * {in_c}, (cols - keep) * {in_c}, "
            f"{self.in_offset});",
            "    else",
            f"      tinyml_cv_fill(row, buf + keep * {in_c}, x0 + keep, x0 + cols, {in_w}, {in_c}, {self.in_offset});",
            "  }", "}"])

    def pixel_loop(self, pixels: int) -> list[str]:
        """Every channel block of the `pixels` pixels whose windows are in the buffer, stored at `out`."""
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
        (sh, sw), (ph, pw), main = lay.stride_hw, lay.pad_hw, lay.main_pixels
        keep, rest = max(lay.kernel_hw[1] - sw, 0), out_w % main
        lines = [f"static void tinyml_conv_{i}(const int8_t* input, int8_t* output, int16_t* buf) {{"]
        if lay.slack:
            lines.append(f"  memset(buf + {lay.kernel_hw[0] * lay.row_elements}, 0, {2 * lay.slack});")
        lines += [f"  for (int32_t oy = 0; oy < {out_h}; ++oy) {{", f"    int8_t* out = output + oy * {out_w * out_c};",
                  f"    for (int32_t ox = 0; ox < {out_w - main + 1}; ox += {main}, out += {main * out_c}) {{",
                  f"      tinyml_conv_{i}_window(input, buf, oy * {sh} - {ph}, ox * {sw} - {pw}, ox ? {keep} : 0, "
                  f"{lay.row_pixels});",
                  *("      " + b for b in self.pixel_loop(main)), "    }"]
        if rest:
            ox = out_w - rest
            lines += ["    {", f"      tinyml_conv_{i}_window(input, buf, oy * {sh} - {ph}, {ox * sw - pw}, "
                      f"{keep if ox else 0}, {(rest - 1) * sw + lay.kernel_hw[1]});",
                      *("      " + b for b in self.pixel_loop(rest)), "    }"]
        lines += ["  }", "}"]
        return self.output() + "\n\n" + self.window() + "\n\n" + "\n".join(lines)


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
