"""SUB, MAXIMUM and MINIMUM as loops generated once per model, each input read with a period (an index that
wraps, no division): its own size (equal shapes), its channel count (a per-channel vector broadcast over the
pixels) or 1 (a scalar).

SUB follows TFLM's reference Sub (TFLM has no CMSIS-NN one): both inputs shifted left 20 bits and rescaled to
twice the larger input scale, their difference rescaled to the output, with gemmlowp's rounding (a rounding
doubling high multiply, then a rounding right shift), written out here so no CMSIS-NN build flag changes it.
MAXIMUM and MINIMUM compare the int8 values as they are, as TFLM's kernels (CMSIS-NN's and the reference) do.
"""

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import ir
from tinyml_kit.engine.model_ir import Model, Operator, Tensor
from tinyml_kit.engine.quantization import activation_range, add_params
from tinyml_kit.engine.steps import CArray, Step

_PERIODIC = "const int8_t* a, int32_t a_period, const int8_t* b, int32_t b_period, int8_t* out, int32_t count"

SUB = ir.Function("tinyml_sub_s8", f"""\
/* x * multiplier * 2^shift (shift <= 0) as gemmlowp rounds it: MultiplyByQuantizedMultiplierSmallerThanOneExp. */
static int32_t tinyml_sub_rescale(int32_t x, int32_t multiplier, int32_t shift) {{
  const int64_t ab = (int64_t)x * multiplier;
  const int32_t high = (x == INT32_MIN && multiplier == INT32_MIN)
      ? INT32_MAX : (int32_t)((ab + (ab >= 0 ? (1LL << 30) : 1 - (1LL << 30))) / (1LL << 31));
  const int32_t mask = (int32_t)((1LL << -shift) - 1);
  const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> -shift) + ((high & mask) > threshold ? 1 : 0);
}}

/* SUB as TFLM's reference Sub. p: offsets, multipliers and shifts of a and b, the left shift, the output's
 * multiplier, shift and offset, and the activation range. */
static void tinyml_sub_s8({_PERIODIC}, const int32_t* p) {{
  for (int32_t i = 0, j = 0, k = 0; i < count; ++i) {{
    const int32_t x = tinyml_sub_rescale((a[j] + p[0]) * (1 << p[6]), p[1], p[2]);
    const int32_t y = tinyml_sub_rescale((b[k] + p[3]) * (1 << p[6]), p[4], p[5]);
    const int32_t v = tinyml_sub_rescale(x - y, p[7], p[8]) + p[9];
    out[i] = (int8_t)(v < p[10] ? p[10] : (v > p[11] ? p[11] : v));
    if (++j == a_period) j = 0;
    if (++k == b_period) k = 0;
  }}
}}""")


def _extremum(name: str, sign: str) -> ir.Function:
    return ir.Function(name, f"""\
static void {name}({_PERIODIC}) {{
  for (int32_t i = 0, j = 0, k = 0; i < count; ++i) {{
    out[i] = a[j] {sign} b[k] ? a[j] : b[k];
    if (++j == a_period) j = 0;
    if (++k == b_period) k = 0;
  }}
}}""")


EXTREMA = {"MAXIMUM": _extremum("tinyml_maximum_s8", ">"), "MINIMUM": _extremum("tinyml_minimum_s8", "<")}


def _period(op: Operator, t: Tensor, out: Tensor) -> int:
    """How many elements of `t` the output's elements cycle through."""
    channels = out.shape[-1] if out.shape else 1
    if t.elements == out.elements:
        return out.elements
    if t.elements == 1 or (t.elements == channels and t.shape[-1] == channels):
        return t.elements
    raise UserError(f"{op.kind} (op {op.index}) broadcasts {list(t.shape)} to {list(out.shape)}: the C engine "
                    f"broadcasts a scalar or a per-channel vector only, use {param('engine', 'tflm')}", "engine")


def _operands(model: Model, op: Operator, out: Tensor) -> tuple[list[ir.Arg], list[CArray], tuple[int, ...]]:
    """Each input's pointer and period (a constant one read from flash), the arrays, and the activations read."""
    args: list[ir.Arg] = []
    arrays: list[CArray] = []
    for n in (0, 1):
        t = model.tensor(op, n)
        if t.data is not None:
            arrays.append(CArray(f"k{op.index}_{n}", "int8_t", t.data.astype(np.int8)))
        args += [ir.Const(arrays[-1].name) if t.data is not None else ir.Tensor(t.index), ir.Lit(_period(op, t, out))]
    live = tuple(dict.fromkeys(t for t in op.inputs[:2] if model.tensors[t].data is None))
    return args, arrays, live


def sub(model: Model, op: Operator) -> Step:
    out, a, b = model.tensor(op, 0, outputs=True), model.tensor(op, 0), model.tensor(op, 1)
    p = add_params(a.scale, b.scale, out.scale)
    lo, hi = activation_range(op.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    params = CArray(f"sub{op.index}", "int32_t", np.array([
        -a.zero_point, p["input1_mult"], p["input1_shift"], -b.zero_point, p["input2_mult"], p["input2_shift"],
        p["left_shift"], p["out_mult"], p["out_shift"], out.zero_point, lo, hi], dtype=np.int32))
    args, arrays, live = _operands(model, op, out)
    call = ir.Call(SUB.name, (*args, ir.Tensor(out.index), ir.Lit(out.elements), ir.Const(params.name)))
    return Step(op.index, op.kind, live, out.index, [(call,)], [*arrays, params], functions=[SUB], in_place=live)


def extremum(model: Model, op: Operator) -> Step:
    """MAXIMUM or MINIMUM."""
    out = model.tensor(op, 0, outputs=True)
    args, arrays, live = _operands(model, op, out)
    function = EXTREMA[op.kind]
    call = ir.Call(function.name, (*args, ir.Tensor(out.index), ir.Lit(out.elements)))
    return Step(op.index, op.kind, live, out.index, [(call,)], arrays, functions=[function], in_place=live)
