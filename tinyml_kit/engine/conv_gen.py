"""CONV_2D as a C function generated for its layer: shapes, strides, paddings, offsets and the requantization path
are constants of the text, so the loops have fixed trip counts and every load an immediate offset.

The kernel walks each output row in groups of 3 pixels (`ConvLayout.main_pixels`); the group's windows are
widened to int16 with the input offset added into a small buffer (`solve.conv_layout`: padding is 0 there,
TFLite's zero point after the offset). Per pair of output channels it then accumulates a block of 2 channels x 3
pixels: per word of 4 int8 weights (reordered at export as w0 w2 w1 w3, so SXTB16 and SXTB16 ROR 8 give the pairs
(w0,w1) and (w2,w3)), two int16 pairs of each pixel's window and 12 SMLADs, as inline assembly on GCC-compatible
compilers with the DSP extension (`engine.conv_support`: 21 instructions per 24 MACs with LDRD). Where the plan
put the layer's constants in RAM (`ConvLayout.weights_in_ram`) the weights are int16 there, both channels' words
side by side in one stream: one LDM per word and no SXTB16 (16 instructions per 24 MACs). A kernel row of
a block is straight-line code (the engine's C is built with -Os, which does not unroll), wide rows in a loop of
equal chunks; a row's last 1 or 2 pixels and an odd channel take smaller blocks. The accumulators start at the
bias; each output is requantized as TFLite's MultiplyByQuantizedMultiplier (double rounding, bit-exact), offset,
clamped to the activation range and stored. Without the DSP extension (the host) the same text runs as C loops
over portable versions of the intrinsics. On Helium (MVE) builds the support code refuses to compile: those
cores keep CMSIS-NN's kernels (not planned here yet). A convolution inside a residual block run row by row
(`engine.residual`) is the same text as a function of one output row, its input rows possibly in a ring
(`RowAccess`). Layers of one layout share one function (`Sharing`): each call passes the layer's constants and
the values its layers differ in (on the emulated Cortex-M4F: +96 instructions a call on MobileNetV1 small, whose
shared layers agree on their offsets; +1 % of MobileNetV2 small's, whose output offsets differ, for 14.9 KB of
flash less).
"""

from dataclasses import dataclass, replace

import numpy as np

from tinyml_kit.engine.conv_support import SUPPORT, SUPPORT_C
from tinyml_kit.engine.ir import Arg, Cast, Const, Function, Lit, Scratch, Tensor
from tinyml_kit.engine.ir import Call as CCall
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
    if layout.weights_in_ram:   # per channel pair, kernel row and word: both channels' 4 weights, in order
        pairs = out_c // 2 * 2
        stream = padded[:pairs].reshape(pairs // 2, 2, kh, layout.words, 4).transpose(0, 2, 3, 1, 4)
        return np.concatenate([stream.reshape(-1), padded[pairs:].reshape(-1)])
    return padded.reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)


def _read(array: str, i: int, layout: ConvLayout) -> str:
    """The C name of the copy of layer i's constant `array` (w, b, m or s) its kernel reads: the RAM one where the
    plan put the layer's constants there (`generated_kernel`)."""
    return f"{array}{i}{'_ram' if layout.weights_in_ram else ''}"


@dataclass(frozen=True)
class RowAccess:
    """A kernel that computes one output row per call, for a block run row by row (`engine.residual`), its
    input rows in a ring of `ring_rows` (0: the whole input)."""
    ring_rows: int = 0


@dataclass(frozen=True)
class ConvQuant:
    """What a layer's kernel text takes from its quantization: the input and output offsets, the activation range,
    whether it adds a bias and whether every shift is a right shift (the faster requantization)."""
    in_offset: int
    out_offset: int
    act: tuple[int, int]
    bias: bool
    right_only: bool


@dataclass(frozen=True)
class Sharing:
    """The layers (op indices) of one layout that run one generated function, named by the first, and their
    quantizations: a value they all have is a constant of the text, one that differs a parameter of the function,
    as are the layers' constants where there are several layers (`LayerKernel.share`: the key a graph knows; the
    layout's `weights_in_ram` is the function's too, `kernel_choice.sharing`)."""
    ops: tuple[int, ...]
    quants: tuple[ConvQuant, ...]

    def same(self, field: str) -> bool:
        return len({getattr(q, field) for q in self.quants}) == 1


class _Kernel:
    """The C text of the kernel of one layer, or of the layers of a `Sharing`."""

    def __init__(self, layout: ConvLayout, sharing: Sharing, rows: RowAccess | None = None):
        first, i = sharing.quants[0], sharing.ops[0]
        self.i, self.lay, self.rows, self.shared = i, layout, rows, len(sharing.ops) > 1
        self.bias, self.right_only = first.bias, all(q.right_only for q in sharing.quants)
        self.clamped = any(q.act != (-128, 127) for q in sharing.quants)
        self.w, self.b, self.m, self.s = ("w", "b", "m", "s") if self.shared else (_read(a, i, layout) for a in "wbms")
        # the parameters (C declaration, name) the layers' values differ in, the others' values as literals
        varying = {"in_offset": not sharing.same("in_offset"), "out_offset": not sharing.same("out_offset"),
                   "act": not sharing.same("act")}
        self.in_offset = "in_offset" if varying["in_offset"] else str(first.in_offset)
        self.out_offset = "out_offset" if varying["out_offset"] else str(first.out_offset)
        self.act = ("lo", "hi") if varying["act"] else tuple(str(v) for v in first.act)
        self.scalars = [n for n in ("in_offset", "out_offset") if varying[n]] + (["lo", "hi"] if varying["act"]
                                                                                 else [])
        self.kch = layout.channel_bytes     # weights per output channel
        self.pixel = layout.window_step     # int16 elements between adjacent windows

    def out_args(self) -> tuple[str, str]:
        """The output function's extra parameters and the arguments its calls pass (shared kernels only)."""
        if not self.shared:
            return "", ""
        names = [n for n in self.scalars if n != "in_offset"]
        return ("".join([", const int32_t* m, const int8_t* s", *(f", int32_t {n}" for n in names)]),
                "".join([", m, s", *(f", {n}" for n in names)]))

    def layer_args(self) -> str:
        """The main function's parameters beyond the input, output and window buffer (shared kernels only)."""
        if not self.shared:
            return ""
        pointers = f", const {'int16_t' if self.lay.weights_in_ram else 'int8_t'}* w" + \
            (", const int32_t* b" if self.bias else "") + \
            ", const int32_t* m, const int8_t* s"
        return pointers + "".join(f", int32_t {n}" for n in self.scalars)

    def block(self, chans: int, pixels: int) -> list[str]:
        """`chans` output channels x `pixels` pixels from channel `oc`, their windows in the window buffer,
        stored at `out`."""
        lay, i, wide = self.lay, self.i, self.lay.weights_in_ram
        # int16 weights in RAM are one stream `wr` runs along; int8 ones are read at offsets from each row's start
        lines = [f"const int16_t* wr = {self.w} + oc * {self.kch};" if wide else
                 f"const int8_t* wk = {self.w} + oc * {self.kch};"]
        for c in range(chans):
            start = f"{self.b}[oc + {c}]" if self.bias else "0"
            lines.append("int32_t " + ", ".join(f"acc{c}{p} = {start}" for p in range(pixels)) + ";")
        body = self.asm_row(pixels) if chans == 2 and pixels > 1 else self.c_row(chans, pixels)
        row_weights = [] if wide else ["  const int8_t* wr = wk;"]
        if chans == 2 and pixels == lay.main_pixels and lay.unrolled:
            for ky in range(lay.kernel_hw[0]):
                lines += ["{", f"  const int16_t* xk = buf + {ky * lay.row_elements};",
                          *([] if wide else [f"  const int8_t* wr = wk + {ky * lay.padded_window_row};"]),
                          *("  " + b for b in body), "}"]
        else:
            lines += ["const int16_t* xr = buf;",
                      f"for (int32_t ky = 0; ky < {lay.kernel_hw[0]}; ++ky, xr += {lay.row_elements}"
                      f"{'' if wide else f', wk += {lay.padded_window_row}'}) {{",
                      "  const int16_t* xk = xr;", *row_weights, *("  " + b for b in body), "}"]
        for c in range(chans):
            for p in range(pixels):
                lines.append(f"out[{p * lay.out_hwc[2]} + oc + {c}] = tinyml_conv_{i}_out(acc{c}{p}, oc + {c}"
                             f"{self.out_args()[1]});")
        return ["{", *("  " + line for line in lines), "}"]

    def c_row(self, chans: int, pixels: int) -> list[str]:
        """One kernel row of a block in C (intrinsics or their portable versions), a loop over the weight
        words: the tails and builds without the assembly, where size matters more than speed."""
        wide = self.lay.weights_in_ram
        body = [f"for (int32_t q = 0; q < {self.lay.words}; ++q, xk += 4, wr += {4 * chans if wide else 4}) {{"]
        for p in range(pixels):
            body.append(f"  const uint32_t x{p}a = tinyml_rd32(xk + {p * self.pixel}), "
                        f"x{p}b = tinyml_rd32(xk + {p * self.pixel + 2});")
        for c in range(chans):
            body.append(f"  {{ const uint32_t lo = tinyml_rd32(wr + {4 * c}), hi = tinyml_rd32(wr + {4 * c + 2});"
                        if wide else f"  {{ const uint32_t v = tinyml_rd32(wr + {c * self.kch}); "
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
        words, chunk, wide = self.lay.words, self.lay.chunk_words, self.lay.weights_in_ram
        aligned = self.lay.aligned(pixels)
        if not self.lay.assembly(pixels):
            return self.c_row(2, pixels)
        macro = f"TINYML_Q2{pixels}{'W' if wide else ''}{'D' if aligned else 'U' if wide else ''}"

        def quads(count: int) -> list[str]:   # wide: the weights' offsets are the stream's (LDM writeback)
            return [f"{macro}(xk, wr, " + ", ".join(str(2 * p * self.pixel + 8 * q) for p in range(pixels)) +
                    ("" if wide else f", {4 * q}, {self.kch + 4 * q}") + ");" for q in range(count)]
        temps = "t4, t5" if wide else "t0, t1, t2, t3, t4, t5"
        body = ["#if defined(TINYML_CONV_ASM)", f"uint32_t {temps};"]
        if words // chunk > 1:
            body += [f"for (int32_t n = 0; n < {words // chunk}; ++n, xk += {4 * chunk}"
                     f"{'' if wide else f', wr += {4 * chunk}'}) {{",
                     *("  " + q for q in quads(chunk)), "}", *quads(words % chunk)]
        else:
            body += quads(words)
        return [*body, "#else", *self.c_row(2, pixels), "#endif"]

    def output(self) -> str:
        i, (lo, hi), m, s = self.i, self.act, self.m, self.s
        rq = (f"tinyml_cv_requantize_right(acc, {m}[c], -{s}[c])" if self.right_only
              else f"tinyml_cv_requantize(acc, {m}[c], {s}[c])")
        clamp = (f"  v = v < {lo} ? {lo} : v;\n  return (int8_t)(v > {hi} ? {hi} : v);" if self.clamped else
                 "  return tinyml_cv_sat8(v);")
        return (f"__STATIC_FORCEINLINE int8_t tinyml_conv_{i}_out(int32_t acc, int32_t c{self.out_args()[0]}) {{\n"
                f"  {'' if self.clamped else 'const '}int32_t v = {rq} + {self.out_offset};\n"
                f"{clamp}\n}}")

    def window(self) -> str:
        """`tinyml_conv_<i>_window`: the kernel rows of the next pixels' windows into the window buffer, `cols`
        columns from input column `x0`; the first `keep` columns are the previous group's last ones, moved to
        the front (its windows overlap these by kw - stride columns), the others widened from the input."""
        lay = self.lay
        (in_h, in_w, in_c), pixel_step = lay.in_hwc, lay.main_pixels * lay.stride_hw[1] * lay.in_hwc[2]
        return "\n".join([
            f"static void tinyml_conv_{self.i}_window(const int8_t* input, int16_t* buf, int32_t iy, int32_t x0, "
            f"int32_t keep, int32_t cols{', int32_t in_offset' if self.in_offset == 'in_offset' else ''}) {{",
            f"  for (int32_t ky = 0; ky < {lay.kernel_hw[0]}; ++ky, ++iy, buf += {lay.row_elements}) {{",
            f"    if (keep) tinyml_cv_move(buf, buf + {pixel_step}, keep * {in_c});",
            f"    const int8_t* row = iy >= 0 && iy < {in_h} ? input + {self.input_row()} : NULL;",
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

    def input_row(self) -> str:
        """Where input row `iy` starts: in the whole input, or in a ring of the rows a fused block keeps."""
        row = self.lay.in_hwc[1] * self.lay.in_hwc[2]
        ring = self.rows.ring_rows if self.rows is not None else 0
        return f"(iy % {ring}) * {row}" if ring else f"iy * {row}"

    def row_body(self) -> list[str]:
        """Output row `oy` from `out` on."""
        lay, i = self.lay, self.i
        out_w, out_c = lay.out_hwc[1:]
        (sh, sw), (ph, pw), main = lay.stride_hw, lay.pad_hw, lay.main_pixels
        keep, rest = max(lay.kernel_hw[1] - sw, 0), out_w % main
        offset = ", in_offset" if self.in_offset == "in_offset" else ""
        lines = [f"for (int32_t ox = 0; ox < {out_w - main + 1}; ox += {main}, out += {main * out_c}) {{",
                 f"  tinyml_conv_{i}_window(input, buf, oy * {sh} - {ph}, ox * {sw} - {pw}, ox ? {keep} : 0, "
                 f"{lay.row_pixels}{offset});",
                 *("  " + b for b in self.pixel_loop(main)), "}"]
        if rest:
            ox = out_w - rest
            lines += ["{", f"  tinyml_conv_{i}_window(input, buf, oy * {sh} - {ph}, {ox * sw - pw}, "
                      f"{keep if ox else 0}, {(rest - 1) * sw + lay.kernel_hw[1]}{offset});",
                      *("  " + b for b in self.pixel_loop(rest)), "}"]
        return lines

    def definition(self) -> str:
        """The whole layer (`tinyml_conv_<i>`), or for a fused block one output row (`tinyml_conv_<i>_row`)."""
        lay, i = self.lay, self.i
        out_h, out_w, out_c = lay.out_hwc
        slack = [f"  memset(buf + {lay.kernel_hw[0] * lay.row_elements}, 0, {2 * lay.slack});"] if lay.slack else []
        if self.rows is None:
            lines = [f"static void tinyml_conv_{i}(const int8_t* input, int8_t* output, int16_t* buf"
                     f"{self.layer_args()}) {{", *slack,
                     f"  for (int32_t oy = 0; oy < {out_h}; ++oy) {{",
                     f"    int8_t* out = output + oy * {out_w * out_c};",
                     *("    " + b for b in self.row_body()), "  }", "}"]
        else:
            lines = [f"static void tinyml_conv_{i}_row(const int8_t* input, int8_t* out, int16_t* buf, int32_t oy) {{",
                     *slack, *("  " + b for b in self.row_body()), "}"]
        return "\n\n".join([self.output(), self.window(), "\n".join(lines)])


def conv_quant(model: Model, op: Operator, act: tuple[int, int], arrays: list[CArray]) -> ConvQuant:
    """A CONV_2D's `ConvQuant`, from its tensors and its constants as the CMSIS-NN lowering stores them."""
    i = op.index
    shifts = next(a.values for a in arrays if a.name == f"s{i}")
    return ConvQuant(-model.tensor(op, 0).zero_point, model.tensor(op, 0, outputs=True).zero_point, act,
                     any(a.name == f"b{i}" for a in arrays), bool(np.all(np.asarray(shifts) < 0)))


def generated_kernel(model: Model, op: Operator, layout: ConvLayout, arrays: list[CArray], sharing: Sharing,
                     rows: RowAccess | None = None) -> tuple[list[CArray], Function]:
    """A CONV_2D's generated function (the one of `sharing`, which holds this layer) and its constants (`arrays`:
    its weights, multipliers, shifts and bias as the CMSIS-NN lowering stores them; the weights are replaced by
    their reordered copy)."""
    i = op.index
    arrays = [CArray(f"w{i}", "int8_t", reordered_weights(model.constant(op, 1), layout)) if a.name == f"w{i}"
              else a for a in arrays]
    if layout.weights_in_ram:   # the weights widened, the per-channel constants as they are
        arrays = [replace(a, ram_ctype="int16_t" if a.name == f"w{i}" else a.ctype) for a in arrays]
    kernel = _Kernel(layout, sharing, rows)
    return arrays, Function(f"tinyml_conv_{sharing.ops[0]}{'' if rows is None else '_row'}", kernel.definition())


def conv_2d_generated(model: Model, op: Operator, layout: ConvLayout, arrays: list[CArray],
                      sharing: Sharing) -> Step:
    """The step of a CONV_2D run by the generated kernel of `sharing`: the layer's constants and the values its
    layers differ in passed where several share it."""
    i, inp, out = op.index, model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    arrays, function = generated_kernel(model, op, layout, arrays, sharing)
    kernel = _Kernel(layout, sharing)
    args: list[Arg] = [Tensor(inp.index), Tensor(out.index), Cast("int16_t *", Scratch(i))]
    if kernel.shared:
        quant = sharing.quants[sharing.ops.index(i)]
        values = dict(in_offset=quant.in_offset, out_offset=quant.out_offset, lo=quant.act[0], hi=quant.act[1])
        args += [Const(_read(a, i, layout)) for a in ("wbms" if kernel.bias else "wms")]
        args += [Lit(values[n]) for n in kernel.scalars]
    call = CCall(function.name, tuple(args))
    return Step(i, op.kind, (inp.index,), out.index, [(call,)], arrays, [], layout.scratch_bytes, None,
                overlap=layout.overlap, functions=[Function(SUPPORT, SUPPORT_C), function])
