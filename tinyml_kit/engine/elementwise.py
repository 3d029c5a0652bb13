"""ADD, MUL, PAD, RESHAPE and the lookup-table activations as C steps.

ADD (by tables, `add`) and MUL (CMSIS-NN's elementwise kernel) run once for equal shapes and once per pixel when
one input is a per-channel vector (squeeze-excitation's scale): the same integer arithmetic TFLM's reference
broadcast runs, at the speed of the vector kernel. MUL by a per-pixel map (CBAM's spatial gate) is a loop
generated once per model with the same arithmetic.
"""

from dataclasses import replace

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import ir
from tinyml_kit.engine.hard_swish import (
    hard_swish_params,
    hard_swish_struct,
    hard_swish_table,
)
from tinyml_kit.engine.lut import lookup_table
from tinyml_kit.engine.model_ir import Model, Operator, Tensor
from tinyml_kit.engine.quantization import (
    INT8_MIN,
    activation_range,
    add_input_table,
    add_params,
    quantize_multiplier,
)
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.c_size import add_candidate
from tinyml_kit.solve.kernel_choice import LayerKernel
from tinyml_kit.solve.static_plan import lut_scratch_bytes


def _broadcast_order(op: Operator, a: Tensor, b: Tensor, out: Tensor) -> tuple[bool, bool]:
    """(swapped, per_pixel): inputs in the order (full, vector) and whether the vector is per channel."""
    if a.shape == b.shape == out.shape:
        return False, False
    channels = out.shape[-1]
    for swapped, (full, vec) in ((False, (a, b)), (True, (b, a))):
        if full.shape == out.shape and vec.elements == channels and vec.shape[-1] == channels:
            return swapped, True
    raise UserError(f"{op.kind} (op {op.index}) broadcasts {list(a.shape)} with {list(b.shape)}: the C engine "
                    f"broadcasts a per-channel vector (and MUL a per-pixel map) only, use {param('engine', 'tflm')}",
                    "engine")


def _by_a_constant(model: Model, op: Operator) -> bool:
    """One input is a constant scalar: the op is then a function of the other input's int8 value alone."""
    a, b = model.tensor(op, 0), model.tensor(op, 1)
    return (a.is_constant != b.is_constant) and (a if a.is_constant else b).elements == 1


_Arguments = tuple[tuple[ir.Arg, ...], list[CArray]]   # a binary kernel's arguments after the inputs, its tables


def _binary(model: Model, op: Operator, kernel: str, arguments) -> Step:
    """ADD or MUL: inputs in (full, vector) order, the fused activation range, and the kernel call once or per
    pixel; `arguments(a, b, out, at, lo, hi)` gives the kernel's arguments after the two input pointers, `at` the
    output's pointer, and the tables they name. A CMSIS-NN kernel's status is checked; our helpers cannot fail."""
    if _by_a_constant(model, op):
        return lookup(model, op)
    out, a, b = model.tensor(op, 0, outputs=True), model.tensor(op, 0), model.tensor(op, 1)
    swapped, per_pixel = _broadcast_order(op, a, b, out)
    if swapped:
        a, b = b, a
    lo, hi = activation_range(op.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    channels = out.shape[-1]
    pixel = ir.Lit(f"n * {channels}") if per_pixel else ir.Lit(0)   # the element each call starts at
    arrays = [CArray(f"k{op.index}_{n}", "int8_t", t.data.astype(np.int8)) for n, t in enumerate((a, b))
              if t.data is not None]   # a constant operand (a per-channel bias or scale) is read from flash
    where = {t.index: ir.Const(f"k{op.index}_{n}") if t.is_constant else ir.Tensor(t.index)
             for n, t in enumerate((a, b))}
    rest, tables = arguments(a, b, out, ir.At(ir.Tensor(out.index), pixel), lo, hi)
    call = ir.Call(kernel, (ir.At(where[a.index], pixel), ir.At(where[b.index], ir.Lit(0) if per_pixel else pixel),
                            *rest, ir.Lit(channels if per_pixel else out.elements)), checked=kernel.startswith("arm_"))
    live = tuple(t.index for t in (a, b) if not t.is_constant)
    code: list[ir.Line] = [(ir.PerPixel(out.elements // channels, call),) if per_pixel else (call,)]
    return Step(op.index, op.kind, live, out.index, code, [*arrays, *tables],
                in_place=live[:1] if per_pixel else live)


def add(model: Model, op: Operator, kernel: LayerKernel | None = None) -> Step:
    """ADD as TFLite's reference int8 arithmetic with each input's rescale looked up: two 256-entry int32 tables
    (`add_input_table`, named lut* so identical ones are stored once), then one requantization per element; where
    the tables do not pay for their flash (`kernel`, `solve.kernel_choice`), CMSIS-NN's arm_elementwise_add_s8,
    which computes the same rescales per element."""
    if _by_a_constant(model, op):
        return lookup(model, op)
    kernel = kernel or add_candidate(model.tensor(op, 0, outputs=True).shape[1:])

    def tables(a: Tensor, b: Tensor, out: Tensor, at: ir.Arg, lo: int, hi: int) -> _Arguments:
        luts, after = add_arithmetic(op.index, a, b, out, (lo, hi))
        return (*(add_table(t) for t in luts), at, *(ir.Lit(x) for x in after)), luts

    def cmsis(a: Tensor, b: Tensor, out: Tensor, at: ir.Arg, lo: int, hi: int) -> _Arguments:
        p = add_params(a.scale, b.scale, out.scale)
        before = (-a.zero_point, p["input1_mult"], p["input1_shift"], -b.zero_point, p["input2_mult"],
                  p["input2_shift"], p["left_shift"])
        after = (out.zero_point, p["out_mult"], p["out_shift"], lo, hi)
        return (*(ir.Lit(x) for x in before), at, *(ir.Lit(x) for x in after)), []

    step = _binary(model, op, *(("tinyml_add_s8", tables) if kernel.generated else ("arm_elementwise_add_s8", cmsis)))
    return replace(step, kernel=kernel)


def add_arithmetic(index: int, a: Tensor, b: Tensor, out: Tensor, act: tuple[int, int]) \
        -> tuple[list[CArray], tuple[int, int, int, int, int]]:
    """ADD op `index`'s input rescale tables (a's, then b's) and what follows their sum: the output's zero point,
    multiplier and shift, and the activation range. Its step and a fused store (`conv_gen.AddStore`) share it."""
    p = add_params(a.scale, b.scale, out.scale)
    tables = [CArray(f"lut{index}_{n}", "int32_t", add_input_table(t.zero_point, p[f"input{n}_mult"],
                                                                   p[f"input{n}_shift"], p["left_shift"]))
              for n, t in ((1, a), (2, b))]
    return tables, (out.zero_point, p["out_mult"], p["out_shift"], *act)


def add_table(table: CArray) -> ir.Arg:
    """A rescale table as the ADD's C reads it: at the entry for 0, indexed by the int8 value."""
    return ir.At(ir.Const(table.name), ir.Lit(-INT8_MIN))


MUL_BY_PIXEL = ir.Function("tinyml_mul_by_pixel_s8", """\
/* MUL of a tensor by a per-pixel map broadcast over the channels (CBAM's spatial gate), as CMSIS-NN's
 * arm_elementwise_mul_s8 computes each element: the offset product requantized. p: the offsets of a, of the map
 * and of the output, the multiplier, the shift and the activation range. */
static void tinyml_mul_by_pixel_s8(const int8_t* a, const int8_t* map, int8_t* out, int32_t pixels,
                                   int32_t channels, const int32_t* p) {
  for (int32_t n = 0; n < pixels; ++n) {
    const int32_t m = map[n] + p[1];
    for (int32_t c = 0; c < channels; ++c, ++a, ++out) {
      const int32_t v = arm_nn_requantize((*a + p[0]) * m, p[3], p[4]) + p[2];
      *out = (int8_t)(v < p[5] ? p[5] : (v > p[6] ? p[6] : v));
    }
  }
}""")


def _mul_quantization(a: Tensor, b: Tensor, out: Tensor) -> tuple[int, int]:
    return quantize_multiplier(float(np.float32(a.scale)) * float(np.float32(b.scale)) / float(np.float32(out.scale)))


def _per_pixel_map(a: Tensor, b: Tensor, out: Tensor) -> Tensor | None:
    """The input that is one value per pixel of the other (shape [..., 1]) and not a constant, if any."""
    for full, vec in ((a, b), (b, a)):
        if (full.shape == out.shape and len(vec.shape) == len(out.shape) and vec.shape[-1] == 1 < out.shape[-1]
                and vec.shape[:-1] == out.shape[:-1] and not vec.is_constant and not full.is_constant):
            return vec
    return None


def mul(model: Model, op: Operator) -> Step:
    out, a, b = model.tensor(op, 0, outputs=True), model.tensor(op, 0), model.tensor(op, 1)
    vec = _per_pixel_map(a, b, out)
    if vec is not None:
        return _mul_by_pixel(op, b if vec is a else a, vec, out)

    def arguments(a: Tensor, b: Tensor, out: Tensor, at: ir.Arg, lo: int, hi: int) -> _Arguments:
        m, s = _mul_quantization(a, b, out)
        return (ir.Lit(-a.zero_point), ir.Lit(-b.zero_point), at,
                *(ir.Lit(x) for x in (out.zero_point, m, s, lo, hi))), []

    return _binary(model, op, "arm_elementwise_mul_s8", arguments)


def _mul_by_pixel(op: Operator, full: Tensor, vec: Tensor, out: Tensor) -> Step:
    m, s = _mul_quantization(full, vec, out)
    lo, hi = activation_range(op.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    params = CArray(f"mul{op.index}", "int32_t", np.array(
        [-full.zero_point, -vec.zero_point, out.zero_point, m, s, lo, hi], dtype=np.int32))
    channels = out.shape[-1]
    call = ir.Call(MUL_BY_PIXEL.name, (ir.Tensor(full.index), ir.Tensor(vec.index), ir.Tensor(out.index),
                                       ir.Lit(out.elements // channels), ir.Lit(channels), ir.Const(params.name)))
    return Step(op.index, op.kind, (full.index, vec.index), out.index, [(call,)], [params],
                functions=[MUL_BY_PIXEL], in_place=(full.index,))


def pad(model: Model, op: Operator) -> Step:
    i, inp, out = op.index, model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    paddings = model.constant(op, 1).reshape(-1, 2)
    value = model.optional_tensor(op, 2)
    fill = int(value.data.reshape(-1)[0]) if value is not None and value.data is not None else out.zero_point
    rank = len(inp.shape)
    if rank > 4:
        raise UserError(f"PAD (op {op.index}) pads a {rank}-D tensor: the C engine pads up to 4-D", "engine")
    size = [1] * (4 - rank) + list(inp.shape)
    before = [0] * (4 - rank) + [int(p) for p in paddings[:, 0]]
    after = [0] * (4 - rank) + [int(p) for p in paddings[:, 1]]
    call = ir.Call("arm_pad_s8", (ir.Tensor(inp.index), ir.Tensor(out.index), ir.Lit(fill), ir.Dims(*size),
                                  ir.Dims(*before), ir.Dims(*after)), checked=True)
    return Step(i, op.kind, (inp.index,), out.index, [(call,)])


def reshape(model: Model, op: Operator) -> Step:
    inp, out = model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    if (inp.scale, inp.zero_point) != (out.scale, out.zero_point):
        raise UserError(f"RESHAPE (op {op.index}) changes the quantization: the C engine reshapes in place, "
                        f"use {param('engine', 'tflm')}", "engine")
    return Step(op.index, op.kind, (inp.index,), out.index, [], alias=True)


def lookup(model: Model, op: Operator) -> Step:
    """Any unary int8 op (or a binary one with a constant scalar), as a table of its 256 outputs computed on
    LiteRT's reference kernels."""
    i, out = op.index, model.tensor(op, 0, outputs=True)
    inp = next(model.tensors[t] for t in op.inputs if t >= 0 and not model.tensors[t].is_constant)
    if inp.dtype != "int8" or out.dtype != "int8":
        raise UserError(f"{op.kind} (op {op.index}) maps {inp.dtype} to {out.dtype}: the C engine runs int8 "
                        f"activations, use {param('engine', 'tflm')}", "engine")
    table = lookup_table(model.flatbuffer, op.index)
    scratch = lut_scratch_bytes(op.kind, out.elements)
    if op.kind == "HARD_SWISH":
        p = hard_swish_params(inp.scale, inp.zero_point, out.scale, out.zero_point)
        if p is not None and np.array_equal(hard_swish_table(p), table):
            params = hard_swish_struct(f"hs{i}", p)
            table_at = ir.Cast("int8_t *", ir.Scratch(i)) if scratch else ir.NULL
            call = ir.Call("tinyml_hard_swish_s8", (ir.Tensor(inp.index), ir.Tensor(out.index),
                                                    ir.Lit(out.elements), params.ref, table_at))
            return Step(i, op.kind, (inp.index,), out.index, [(call,)], structs=[params], scratch_bytes=scratch,
                        in_place=(inp.index,))
    call = ir.Call("tinyml_lut_s8", (ir.Tensor(inp.index), ir.Tensor(out.index), ir.Const(f"lut{i}"),
                                     ir.Lit(out.elements)))
    return Step(i, op.kind, (inp.index,), out.index, [(call,)], [CArray(f"lut{i}", "int8_t", table)],
                scratch_bytes=scratch, in_place=(inp.index,))


