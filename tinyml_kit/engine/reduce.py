"""MEAN and REDUCE_MAX over height and width (global pooling: Keras' GlobalAveragePooling2D and
GlobalMaxPooling2D, squeeze-excitation) or over the channels (CBAM's spatial attention input), as one strided
reduction: each output element gathers `terms` inputs `term_step` apart, the next output starting `out_step`
further on.

MEAN follows TFLM's reference QuantizedMeanOrSum (an int32 sum less the zero point's share, rescaled with 1/count
folded into the multiplier). REDUCE_MAX compares the int8 values as they are, as TFLM's reference ReduceGeneric
does; TFLM (and LiteRT's converter, which gives a max the input's quantization) requires the output quantized as
the input, so one that is not is refused.
"""

from dataclasses import dataclass

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import ir
from tinyml_kit.engine.model_ir import Model, Operator, Tensor
from tinyml_kit.engine.quantization import mean_multiplier
from tinyml_kit.engine.steps import Step

_STRIDED = "const int8_t* in, int8_t* out, int32_t outputs, int32_t out_step, int32_t terms, int32_t term_step"

MEAN = ir.Function("tinyml_mean_s8", f"""\
/* MEAN as TFLM's reference QuantizedMeanOrSum: per output an int32 sum less the zero point's share, rescaled
 * with 1/terms folded into the multiplier. */
static void tinyml_mean_s8({_STRIDED}, int32_t zero_sum, int32_t multiplier, int32_t shift,
                           int32_t out_zero_point) {{
  for (int32_t o = 0; o < outputs; ++o, in += out_step) {{
    int32_t sum = 0;
    for (int32_t t = 0; t < terms; ++t) sum += in[t * term_step];
    const int32_t v = arm_nn_requantize(sum - zero_sum, multiplier, shift) + out_zero_point;
    out[o] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
  }}
}}""")

REDUCE_MAX = ir.Function("tinyml_reduce_max_s8", f"""\
/* REDUCE_MAX as TFLM's reference ReduceGeneric: the largest int8 value (input and output quantized alike). */
static void tinyml_reduce_max_s8({_STRIDED}) {{
  for (int32_t o = 0; o < outputs; ++o, in += out_step) {{
    int8_t m = in[0];
    for (int32_t t = 1; t < terms; ++t) m = in[t * term_step] > m ? in[t * term_step] : m;
    out[o] = m;
  }}
}}""")


@dataclass(frozen=True)
class Reduction:
    """Where each output's terms lie in the input (NHWC, batch 1)."""
    outputs: int
    out_step: int
    terms: int
    term_step: int

    def arguments(self) -> tuple[ir.Lit, ...]:
        return tuple(ir.Lit(x) for x in (self.outputs, self.out_step, self.terms, self.term_step))


def reduction(model: Model, op: Operator, inp: Tensor) -> Reduction:
    """Height and width (one output per channel) or the channels (one per pixel); other axes refused by name."""
    axes = sorted({int(a) % 4 for a in model.constant(op, 1).reshape(-1)}) if len(inp.shape) == 4 else []
    if axes == [1, 2] and inp.shape[0] == 1:
        _, h, w, c = inp.shape
        return Reduction(c, 1, h * w, c)
    if axes == [3]:
        n, h, w, c = inp.shape
        return Reduction(n * h * w, c, c, 1)
    raise UserError(f"{op.kind} (op {op.index}) reduces axes {axes or 'of a non-4D tensor'} of "
                    f"{list(inp.shape)}: the C engine reduces height and width (global pooling) or the channels, "
                    f"use {param('engine', 'tflm')}", "engine")


def mean(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    r = reduction(model, op, inp)
    m, s = mean_multiplier(inp.scale, out.scale, r.terms)
    call = ir.Call(MEAN.name, (ir.Tensor(inp.index), ir.Tensor(out.index), *r.arguments(),
                               *(ir.Lit(x) for x in (inp.zero_point * r.terms, m, s, out.zero_point))))
    return Step(op.index, op.kind, (inp.index,), out.index, [(call,)], functions=[MEAN])


def reduce_max(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    if (inp.scale, inp.zero_point) != (out.scale, out.zero_point):
        raise UserError(f"REDUCE_MAX (op {op.index}) changes the quantization, which TFLM's kernel refuses too: "
                        f"quantize its output as its input", "engine")
    r = reduction(model, op, inp)
    call = ir.Call(REDUCE_MAX.name, (ir.Tensor(inp.index), ir.Tensor(out.index), *r.arguments()))
    return Step(op.index, op.kind, (inp.index,), out.index, [(call,)], functions=[REDUCE_MAX])
