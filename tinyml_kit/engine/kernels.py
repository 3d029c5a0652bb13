"""Convolutions, depthwise convolutions and pools as calls to CMSIS-NN's s8 kernels (fully connected layers
generated with LiteRT's rounding, `engine.dense`; convolutions generated on DSP cores), with
the parameters TFLM's `kernels/cmsis_nn/*.cc` pass them (dims, offsets, per-channel multipliers and shifts,
activation range), computed once here.

One function per op, each returning a `Step` whose code is IR (`engine.ir`): tensors, scratch and shifts by
reference, placed by the code generator.
"""

from dataclasses import replace

import numpy as np

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.engine import dense, depthwise_kernels, requantize_c
from tinyml_kit.engine.conv_gen import (
    ConvQuant,
    RowAccess,
    Sharing,
    conv_2d_generated,
    conv_quant,
    generated_kernel,
)
from tinyml_kit.engine.depthwise_kernels import DepthwiseLayer, generated_depthwise
from tinyml_kit.engine.ir import (
    NULL,
    Arg,
    Call,
    Cast,
    Const,
    Dims,
    Function,
    Line,
    Lit,
    Ref,
    Scratch,
    Set,
    Struct,
    Tensor,
)
from tinyml_kit.engine.model_ir import Model, Operator
from tinyml_kit.engine.quantization import (
    activation_range,
    padding,
    per_channel_multipliers,
    quantize_multiplier,
)
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.c_size import conv_candidate, conv_dims, depthwise_candidate
from tinyml_kit.solve.cmsis_scratch import (
    avgpool_scratch_bytes,
    conv_scratch_bytes,
    depthwise_scratch_bytes,
    overlap_bytes,
)
from tinyml_kit.solve.conv_layout import ConvLayout, generated
from tinyml_kit.solve.kernel_choice import LayerKernel


def _require_int8_weights(model: Model, op: Operator, slot: int = 1) -> None:
    weights = model.optional_tensor(op, slot)
    if weights is None or weights.dtype != "int8" or weights.data is None:
        kind = "absent" if weights is None else weights.dtype
        raise UserError(f"{op.kind} (op {op.index}) has {kind} weights: the C engine runs int8 weights, "
                        f"use {param('engine', 'tflm')}", "engine")


def _window(op: Operator, inp, out, kernel_hw: tuple[int, int]) -> dict:
    """Strides, dilations and TFLM's leading paddings of a windowed op, and its fused activation range."""
    sh, sw = op.option("strideH", 1), op.option("strideW", 1)
    dh, dw = op.option("dilationHFactor", 1), op.option("dilationWFactor", 1)
    pad_h = padding(sh, dh, inp.shape[1], kernel_hw[0], out.shape[1])
    pad_w = padding(sw, dw, inp.shape[2], kernel_hw[1], out.shape[2])
    act = activation_range(op.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    return dict(stride=(sh, sw), dilation=(dh, dw), pad=(pad_h, pad_w), act=act)


def _tiles(w: dict) -> tuple:
    """stride, padding, dilation, activation as CMSIS-NN's {w, h} tiles."""
    (sh, sw), (ph, pw), (dh, dw), (lo, hi) = w["stride"], w["pad"], w["dilation"], w["act"]
    return (sw, sh), (pw, ph), (dw, dh), (lo, hi)


def _quant_arrays(i: int, model: Model, op: Operator, channels: int) -> list[CArray]:
    inp, flt, out = model.tensor(op, 0), model.tensor(op, 1), model.tensor(op, 0, outputs=True)
    mult, shift = per_channel_multipliers(inp.scale, flt.scales, out.scale, channels)
    arrays = [CArray(f"w{i}", "int8_t", model.constant(op, 1)), CArray(f"m{i}", "int32_t", np.array(mult)),
              CArray(f"s{i}", "int8_t", np.array(shift))]   # shifts are -31..30: widened in the arena per op
    bias = model.optional_tensor(op, 2)
    if bias is not None and bias.data is not None:
        arrays.append(CArray(f"b{i}", "int32_t", bias.data.astype(np.int32)))
    return arrays


def _bias(arrays: list[CArray], i: int) -> Arg:
    return Const(f"b{i}") if any(a.name == f"b{i}" for a in arrays) else NULL


def _context(i: int, scratch_bytes: int) -> Line:
    """Point CMSIS-NN's context at op i's scratch buffer, if it has one."""
    return Set("ctx.buf", Scratch(i) if scratch_bytes else NULL), Set("ctx.size", Lit(scratch_bytes))


def _quant(i: int, channels: int, struct: str = "q") -> list[Line]:
    """Widen op i's int8 shifts into the arena and point the quant params at them and at the multipliers in
    flash: 3 bytes of flash saved per output channel for 4 bytes of RAM per channel of one op."""
    shifts = Cast("int32_t *", Scratch(i, shifts=True))
    return [(Call("tinyml_widen", (Const(f"s{i}"), shifts, Lit(channels))),),
            (Set(f"{struct}.multiplier", Cast("int32_t *", Const(f"m{i}"))), Set(f"{struct}.shift", shifts))]


def conv_2d(model: Model, op: Operator, family: KernelFamily, kernel: LayerKernel | None = None,
            mates: tuple[int, ...] = ()) -> Step:
    """A CONV_2D on the kernel chosen for it (`solve.kernel_choice`; alone, generated wherever one covers it),
    a generated one shared with the layers `mates` (op indices, this one's included: `kernel_choice.sharing`)
    of the same bias presence, its weights widened into RAM at start-up where the plan chose so
    (`LayerKernel.weights_in_ram`, `codegen.compile_model`)."""
    _require_int8_weights(model, op)
    i, inp, flt, out = op.index, model.tensor(op, 0), model.tensor(op, 1), model.tensor(op, 0, outputs=True)
    _, in_h, in_w, in_c = inp.shape
    out_c, kh, kw, f_c = flt.shape
    if f_c != in_c:
        raise UserError(f"CONV_2D (op {op.index}) is a grouped convolution: the C engine runs ungrouped ones, "
                        f"use {param('engine', 'tflm')}", "engine")
    w = _window(op, inp, out, (kh, kw))
    arrays = _quant_arrays(i, model, op, out_c)
    if generated(w["dilation"], family) and (kernel is None or kernel.generated):
        layout = conv_layout(model, op, kernel is not None and kernel.weights_in_ram)
        kernel = kernel or conv_candidate(layout)
        return replace(conv_2d_generated(model, op, layout, arrays, _sharing(model, op, mates)), kernel=kernel)
    params = Struct("cmsis_nn_conv_params", f"p{i}", (-inp.zero_point, out.zero_point, *_tiles(w)))
    d_in, d_f, d_b, d_out = (Dims(*d) for d in conv_dims(inp.shape, flt.shape, out.shape, depthwise=False))
    scratch = conv_scratch_bytes((in_h, in_w, in_c), (kh, kw), w["stride"], w["pad"], w["dilation"], out.shape[2],
                                 family)
    call = Call("arm_convolve_wrapper_s8", (Ref("ctx"), params.ref, Ref("q"), d_in, Tensor(inp.index), d_f,
                                            Const(f"w{i}"), d_b, _bias(arrays, i), d_out, Tensor(out.index)), True)
    return Step(i, op.kind, (inp.index,), out.index, [_context(i, scratch), *_quant(i, out_c), (call,)], arrays,
                [params], scratch, Call("arm_convolve_wrapper_s8_get_buffer_size", (params.ref, d_in, d_f, d_out)),
                shift_channels=out_c, kernel=kernel and replace(kernel, generated=False),
                overlap=overlap_bytes(inp.hwc, out.hwc, (kh, kw), w["stride"], w["pad"], w["dilation"], family))


def conv_layout(model: Model, op: Operator, weights_in_ram: bool = False) -> ConvLayout:
    """The layout of a CONV_2D's generated kernel, from the model's shapes and TFLM's paddings (its weights read
    from RAM where the plan put them there)."""
    inp, out, flt = model.tensor(op, 0), model.tensor(op, 0, outputs=True), model.tensor(op, 1)
    kernel_hw = (flt.shape[1], flt.shape[2])
    w = _window(op, inp, out, kernel_hw)
    return ConvLayout(inp.hwc, out.hwc, kernel_hw, w["stride"], w["pad"], weights_in_ram)


def generated_layout(model: Model, op: Operator, family: KernelFamily) -> ConvLayout | None:
    """The layout of a CONV_2D's generated kernel on `family`, or None where CMSIS-NN runs it."""
    dilation = (op.option("dilationHFactor", 1), op.option("dilationWFactor", 1))
    return conv_layout(model, op) if generated(dilation, family) else None


def conv_row_kernel(model: Model, op: Operator, rows: RowAccess,
                    weights_in_ram: bool = False) -> tuple[list[CArray], Function]:
    """A CONV_2D's generated kernel computing one output row per call (a residual block's, `engine.residual`),
    with its constants (the weights widened into RAM at start-up if the plan chose so)."""
    _require_int8_weights(model, op)
    return generated_kernel(model, op, conv_layout(model, op, weights_in_ram), _conv_arrays(model, op),
                            _sharing(model, op, ()), rows)


def _conv_arrays(model: Model, op: Operator) -> list[CArray]:
    return _quant_arrays(op.index, model, op, model.tensor(op, 0, outputs=True).shape[-1])


def _conv_quant(model: Model, op: Operator) -> ConvQuant:
    act = _window(op, model.tensor(op, 0), model.tensor(op, 0, outputs=True), conv_layout(model, op).kernel_hw)
    return conv_quant(model, op, act["act"], _conv_arrays(model, op))


def _sharing(model: Model, op: Operator, mates: tuple[int, ...]) -> Sharing:
    """The layers of `mates` (op indices) whose bias presence is op's, with their quantizations: one function."""
    quants = {i: _conv_quant(model, model.ops[i]) for i in sorted({*mates, op.index})}
    kept = {i: q for i, q in quants.items() if q.bias == quants[op.index].bias}
    return Sharing(tuple(kept), tuple(kept.values()))


def dilated(model: Model, op: Operator) -> bool:
    """Whether the op's options carry a dilation (a graph does not: it assumes none)."""
    return (op.option("dilationHFactor", 1), op.option("dilationWFactor", 1)) != (1, 1)


def depthwise_conv_2d(model: Model, op: Operator, family: KernelFamily, kernel: LayerKernel | None = None) -> Step:
    """A depthwise layer on the kernel chosen for it (`solve.kernel_choice`; alone, generated wherever one covers
    it)."""
    _require_int8_weights(model, op)
    i, inp, flt, out = op.index, model.tensor(op, 0), model.tensor(op, 1), model.tensor(op, 0, outputs=True)
    _, kh, kw, out_c = flt.shape
    w = _window(op, inp, out, (kh, kw))
    arrays = _quant_arrays(i, model, op, out_c)
    if (family.generates_kernels and (kernel is None or kernel.generated) and
            generated_depthwise(inp.shape, out.shape, op.option("depthMultiplier", 1), w["dilation"])):
        kernel = kernel or depthwise_candidate(inp.hwc, out.hwc[:2], (kh, kw), w["stride"])
        return replace(_generated_depthwise(model, op, w, arrays), kernel=kernel)
    params = Struct("cmsis_nn_dw_conv_params", f"p{i}",
                    (-inp.zero_point, out.zero_point, op.option("depthMultiplier", 1), *_tiles(w)))
    d_in, d_f, d_b, d_out = (Dims(*d) for d in conv_dims(inp.shape, flt.shape, out.shape, depthwise=True))
    scratch = depthwise_scratch_bytes(inp.hwc, out.hwc, (kh, kw), w["stride"], w["pad"], w["dilation"], family)
    call = Call("arm_depthwise_conv_wrapper_s8", (Ref("ctx"), params.ref, Ref("q"), d_in, Tensor(inp.index), d_f,
                                                  Const(f"w{i}"), d_b, _bias(arrays, i), d_out, Tensor(out.index)),
                True)
    return Step(i, op.kind, (inp.index,), out.index, [_context(i, scratch), *_quant(i, out_c), (call,)], arrays,
                [params], scratch,
                Call("arm_depthwise_conv_wrapper_s8_get_buffer_size", (params.ref, d_in, d_f, d_out)),
                shift_channels=out_c, kernel=kernel and replace(kernel, generated=False),
                overlap=overlap_bytes(inp.hwc, out.hwc, (kh, kw), w["stride"], w["pad"], w["dilation"], family,
                                      depthwise=True))


def _generated_depthwise(model: Model, op: Operator, w: dict, arrays: list[CArray]) -> Step:
    """The layer as a generated function (`engine.depthwise_kernels`): its constants packed per channel group
    (with the interior's biases), the edge rectangles' biases in a table; nothing in the arena, no scratch."""
    i, inp, flt, out = op.index, model.tensor(op, 0), model.tensor(op, 1), model.tensor(op, 0, outputs=True)
    kh, kw = flt.shape[1:3]
    right = requantize_c.right_only(arrays[2].values)
    layer = DepthwiseLayer(inp.hwc, out.hwc[:2], (kh, kw), w["stride"], w["pad"], out.zero_point, w["act"], right)
    bias = model.optional_tensor(op, 2)
    biases = depthwise_kernels.class_biases(model.constant(op, 1), None if bias is None else bias.data,
                                            -inp.zero_point, layer.classes)
    shifts = requantize_c.shifts(arrays[2].values, right)
    constants = [CArray(f"k{i}", "int32_t", depthwise_kernels.packed(model.constant(op, 1), arrays[1].values,
                                                                      shifts, biases[0]))]
    edges = biases[1:].reshape(-1)
    if edges.size:
        constants.append(CArray(f"b{i}", "int32_t", edges))
    functions = depthwise_kernels.kernel(layer)
    call = Call(functions[-1].name, (Tensor(inp.index), Tensor(out.index), Const(f"k{i}"),
                                     Const(f"b{i}") if edges.size else NULL))
    return Step(i, op.kind, (inp.index,), out.index, [(call,)], constants, functions=functions,
                overlap=overlap_bytes(inp.hwc, out.hwc, (kh, kw), w["stride"], w["pad"], (1, 1), KernelFamily.DSP,
                                      depthwise=True))   # raster order, as CMSIS-NN's DSP kernels


def fully_connected(model: Model, op: Operator, family: KernelFamily) -> Step:
    """Generated with LiteRT's single rounding (`engine.dense`) on every kernel family, not CMSIS-NN's."""
    _require_int8_weights(model, op)
    i, inp, flt, out = op.index, model.tensor(op, 0), model.tensor(op, 1), model.tensor(op, 0, outputs=True)
    depth, accum = flt.shape[0], flt.shape[-1]
    per_channel = len(flt.scales) > 1
    arrays = _quant_arrays(i, model, op, depth)
    if not per_channel:   # FullyConnected's Prepare: one multiplier for the tensor
        m, s = quantize_multiplier(float(np.float32(inp.scale)) * float(flt.scales[0]) / float(np.float32(out.scale)))
        arrays[1:3] = [CArray(f"m{i}", "int32_t", np.array([m])), CArray(f"s{i}", "int8_t", np.array([s]))]
    lo, hi = activation_range(op.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    params = Struct("cmsis_nn_fc_params", f"p{i}", (-inp.zero_point, -flt.zero_point, out.zero_point, (lo, hi)))
    channels = depth if per_channel else 1
    call = Call(dense.FULLY_CONNECTED.name, (params.ref, Ref("qf"), Tensor(inp.index), Const(f"w{i}"),
                                             _bias(arrays, i), Tensor(out.index), Lit(out.elements // depth),
                                             Lit(accum), Lit(depth), Lit(int(per_channel))))
    return Step(i, op.kind, (inp.index,), out.index, [*_quant(i, channels, "qf"), (call,)], arrays, [params],
                shift_channels=channels, functions=[dense.FULLY_CONNECTED])


def pool_2d(model: Model, op: Operator, family: KernelFamily) -> Step:
    i, inp, out = op.index, model.tensor(op, 0), model.tensor(op, 0, outputs=True)
    kh, kw = op.option("filterHeight", 1), op.option("filterWidth", 1)
    w = _window(op, inp, out, (kh, kw))
    (sh, sw), (ph, pw), (lo, hi) = w["stride"], w["pad"], w["act"]
    average = op.kind == "AVERAGE_POOL_2D"
    params = Struct("cmsis_nn_pool_params", f"p{i}", ((sw, sh), (pw, ph), (lo, hi)))
    call = Call("arm_avgpool_s8" if average else "arm_max_pool_s8",
                (Ref("ctx"), params.ref, Dims(*inp.shape), Tensor(inp.index), Dims(1, kh, kw, 1), Dims(*out.shape),
                 Tensor(out.index)), True)
    scratch = avgpool_scratch_bytes(inp.shape[3], family) if average else 0
    check = Call("arm_avgpool_s8_get_buffer_size", (Lit(out.shape[2]), Lit(inp.shape[3]))) if average else None
    return Step(i, op.kind, (inp.index,), out.index, [_context(i, scratch), (call,)], [], [params], scratch, check)
