"""Ops that move int8 values without arithmetic: CONCATENATION (a copy per input, or none where the static plan
puts the input inside its output: `solve.concat_plan`).

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
