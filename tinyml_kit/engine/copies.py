"""Ops that move int8 values without arithmetic: CONCATENATION (a copy per input, or none where the static plan
puts the input inside its output: `solve.concat_plan`), STRIDED_SLICE and TRANSPOSE (one strided gather over up to
four axes, its counts and steps computed at export), RESIZE_NEAREST_NEIGHBOR (a gather of whole pixels by row and
column maps computed as TFLite's reference GetNearestNeighbor computes them, in float32).

Like TFLM's int8 kernels (concatenation.cc Prepare), they require one quantization for inputs and output: the
converter gives them one, and a model that does not is refused in one line.
"""

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import ir
from tinyml_kit.engine.model_ir import Model, Operator, Tensor
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.concat_plan import concat_offsets, placeable

COPY_ROWS = ir.Function("tinyml_copy_rows_s8", """\
/* `rows` runs of `bytes` values, read one after another and written every `stride` values: one input of a
 * concatenation into its output. */
static void tinyml_copy_rows_s8(const int8_t* in, int8_t* out, int32_t rows, int32_t bytes, int32_t stride) {
  for (int32_t r = 0; r < rows; ++r) memcpy(out + r * stride, in + r * bytes, (size_t)bytes);
}""")


def same_quantization(op: Operator, inputs: list[Tensor], out: Tensor) -> None:
    """TFLM's int8 data-movement kernels copy values as they are: every input must share the output's scale and
    zero point."""
    for t in inputs:
        if (np.float32(t.scale), t.zero_point) != (np.float32(out.scale), out.zero_point):
            raise UserError(f"{op.kind} (op {op.index}) takes an input quantized unlike its output (scale "
                            f"{t.scale:g}/{out.scale:g}, zero point {t.zero_point}/{out.zero_point}): TFLM and the "
                            f"C engine move int8 values unchanged, requantize the input first", "engine")


def concatenation(model: Model, op: Operator) -> Step:
    out = model.tensor(op, 0, outputs=True)
    inputs = [model.tensors[t] for t in op.inputs]
    same_quantization(op, inputs, out)
    if op.option("fusedActivationFunction", 0):
        raise UserError(f"CONCATENATION (op {op.index}) fuses an activation: the C engine concatenates without, use "
                        f"{param('engine', 'tflm')}", "engine")
    axis = op.option("axis", 0) % len(out.shape)
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    outer = out.elements // (out.shape[axis] * inner)
    code: list[ir.Line] = []
    arrays: list[CArray] = []
    placed: list[tuple[int, int, int]] = []
    for k, (t, offset) in enumerate(zip(inputs, concat_offsets(out.shape, [t.shape for t in inputs], axis),
                                        strict=True)):
        source: ir.Arg = ir.Tensor(t.index)
        if t.data is not None:   # a constant input is read from flash
            arrays.append(CArray(f"k{op.index}_{k}", "int8_t", t.data.astype(np.int8)))
            source = ir.Const(arrays[-1].name)
        elif placeable(out.shape, axis, offset):
            placed.append((len(code), t.index, offset))
        code.append((ir.Call(COPY_ROWS.name, (source, ir.At(ir.Tensor(out.index), ir.Lit(offset)), *(
            ir.Lit(x) for x in (outer, t.shape[axis] * inner, out.shape[axis] * inner)))),))
    live = tuple(dict.fromkeys(t.index for t in inputs if t.data is None))
    return Step(op.index, op.kind, live, out.index, code, arrays, functions=[COPY_ROWS], placed=tuple(placed))


GATHER4 = ir.Function("tinyml_gather4_s8", """\
/* out[a][b][c][d] = in[a * step[0] + b * step[1] + c * step[2] + d * step[3]] over count[4]: a strided slice or a
 * transpose. spec: count[4], then step[4] in elements. */
static void tinyml_gather4_s8(const int8_t* in, int8_t* out, const int32_t* spec) {
  for (int32_t a = 0; a < spec[0]; ++a) {
    for (int32_t b = 0; b < spec[1]; ++b) {
      for (int32_t c = 0; c < spec[2]; ++c) {
        const int8_t* row = in + a * spec[4] + b * spec[5] + c * spec[6];
        for (int32_t d = 0; d < spec[3]; ++d) *out++ = row[d * spec[7]];
      }
    }
  }
}""")

RESIZE = ir.Function("tinyml_resize_nearest_s8", """\
/* Each output pixel a copy of input pixel (ys[y], xs[x]): RESIZE_NEAREST_NEIGHBOR with its maps computed at export. */
static void tinyml_resize_nearest_s8(const int8_t* in, int8_t* out, const int32_t* ys, int32_t out_h,
                                     const int32_t* xs, int32_t out_w, int32_t in_w, int32_t channels) {
  for (int32_t y = 0; y < out_h; ++y) {
    for (int32_t x = 0; x < out_w; ++x, out += channels) {
      memcpy(out, in + (ys[y] * in_w + xs[x]) * channels, (size_t)channels);
    }
  }
}""")


def _strides(shape: tuple[int, ...]) -> list[int]:
    return [int(np.prod(shape[a + 1:], dtype=np.int64)) for a in range(len(shape))]


def _gather(op: Operator, inp: Tensor, out: Tensor, start: int, counts: list[int], steps: list[int]) -> Step:
    """The gather of `counts` elements `steps` apart from element `start` of `inp`, as up to four nested loops."""
    if len(counts) > 4:
        raise UserError(f"{op.kind} (op {op.index}) works on a {len(counts)}-D tensor: the C engine moves up to 4-D "
                        f"ones, use {param('engine', 'tflm')}", "engine")
    pad = 4 - len(counts)
    spec = CArray(f"gather{op.index}", "int32_t", np.array([1] * pad + counts + [0] * pad + steps, dtype=np.int32))
    call = ir.Call(GATHER4.name, (ir.At(ir.Tensor(inp.index), ir.Lit(start)), ir.Tensor(out.index),
                                  ir.Const(spec.name)))
    return Step(op.index, op.kind, (inp.index,), out.index, [(call,)], [spec], functions=[GATHER4])


def strided_slice(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    same_quantization(op, [inp], out)
    if op.option("ellipsisMask", 0) or op.option("newAxisMask", 0) or op.option("offset", False):
        raise UserError(f"STRIDED_SLICE (op {op.index}) uses an ellipsis, new axis or offset mask: the C engine "
                        f"slices with begin, end and shrink masks only, use {param('engine', 'tflm')}", "engine")
    begin, end, stride = (model.constant(op, n).reshape(-1).astype(int) for n in (1, 2, 3))
    start, counts, steps = 0, [], []
    for a, (dim, step) in enumerate(zip(inp.shape, _strides(inp.shape), strict=True)):
        bit = 1 << a
        if op.option("shrinkAxisMask", 0) & bit:
            axis = range(dim)[slice(int(begin[a]), None)][:1]
        else:
            axis = range(dim)[slice(None if op.option("beginMask", 0) & bit else int(begin[a]),
                                    None if op.option("endMask", 0) & bit else int(end[a]), int(stride[a]))]
        start += (axis.start if len(axis) else 0) * step
        counts.append(len(axis))
        steps.append(axis.step * step)
    return _gather(op, inp, out, start, counts, steps)


def transpose(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    same_quantization(op, [inp], out)
    perm = [int(p) % len(inp.shape) for p in model.constant(op, 1).reshape(-1)]
    strides = _strides(inp.shape)
    return _gather(op, inp, out, 0, [inp.shape[p] for p in perm], [strides[p] for p in perm])


def nearest(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """TFLite's reference GetNearestNeighbor for every output index, in its float32 arithmetic."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align_corners and out_size > 1 else f32(in_size) / f32(out_size))
    at = (np.arange(out_size, dtype=f32) + f32(0.5 if half_pixel_centers else 0.0)) * scale
    index = np.sign(at) * np.floor(np.abs(at) + f32(0.5)) if align_corners else np.floor(at)   # std::round
    index = np.minimum(index.astype(np.int64), in_size - 1)
    return np.maximum(index, 0) if half_pixel_centers else index


def resize_nearest_neighbor(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    same_quantization(op, [inp], out)
    if len(inp.shape) != 4 or inp.shape[0] != 1:
        raise UserError(f"RESIZE_NEAREST_NEIGHBOR (op {op.index}) resizes {list(inp.shape)}: the C engine resizes one "
                        f"NHWC image, use {param('engine', 'tflm')}", "engine")
    (_, in_h, in_w, c), (_, out_h, out_w, _) = inp.shape, out.shape
    corners, half = bool(op.option("alignCorners", False)), bool(op.option("halfPixelCenters", False))
    maps = [CArray(f"resize{op.index}_{axis}", "int32_t", nearest(n, m, corners, half).astype(np.int32))
            for axis, n, m in (("y", in_h, out_h), ("x", in_w, out_w))]
    call = ir.Call(RESIZE.name, (ir.Tensor(inp.index), ir.Tensor(out.index), ir.Const(maps[0].name), ir.Lit(out_h),
                                 ir.Const(maps[1].name), ir.Lit(out_w), ir.Lit(in_w), ir.Lit(c)))
    return Step(op.index, op.kind, (inp.index,), out.index, [(call,)], maps, functions=[RESIZE])
