"""A float .tflite's depthwise convolutions of a one-channel input rewritten as ordinary convolutions.

TFLite's converter lowers a convolution of a one-channel input (a grayscale model's first layer) to a
DEPTHWISE_CONV_2D with a depth multiplier of the output channels when it comes from StableHLO, as litert-torch
converts PyTorch. The two compute the same sums, but CMSIS-NN's depthwise kernel with a large multiplier is
about three times slower than its convolution on the same layer (measured under QEMU on the Cortex-M4F: a
3x3 / 2, 1 -> 16 channel layer on 32x32, 444,195 cycles as DEPTHWISE_CONV_2D, 148,320 as CONV_2D). The filter
(1, H, W, C) becomes (C, H, W, 1); padding, strides, dilation and the fused activation stay."""

import flatbuffers
import numpy as np

from tinyml_kit.core.tflite_info import builtin_code, model_object, schema


def as_convolutions(flatbuffer: bytes) -> bytes:
    """`flatbuffer` with every DEPTHWISE_CONV_2D of a one-channel input whose filter is a float32 constant of its
    own made a CONV_2D (the same bytes when there is none)."""
    s = schema()
    model = model_object(flatbuffer)
    codes = model.operatorCodes
    depthwise = {i for i, code in enumerate(codes)
                 if builtin_code(code) == s.BuiltinOperator.DEPTHWISE_CONV_2D}
    rewritten = 0
    for sub in model.subgraphs:
        for op in sub.operators:
            if op.opcodeIndex in depthwise and _rewrite(model, sub, op, lambda: _conv_code(model)):
                rewritten += 1
    if not rewritten:
        return flatbuffer
    _drop_unused_codes(model)
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _rewrite(model, sub, op, conv_code) -> bool:
    """Make `op` a CONV_2D if it is a depthwise convolution of one channel with its own float32 filter."""
    s = schema()
    source, weights = sub.tensors[op.inputs[0]], sub.tensors[op.inputs[1]]
    data = model.buffers[weights.buffer].data if weights.buffer < len(model.buffers) else None
    shape = list(weights.shape) if weights.shape is not None else []
    shared = sum(int(t.buffer == weights.buffer) for t in sub.tensors) > 1
    if (source.shape is None or source.shape[-1] != 1 or len(shape) != 4 or shape[0] != 1 or data is None
            or weights.type != s.TensorType.FLOAT32 or len(data) != 4 * int(np.prod(shape)) or shared):
        return False
    kernel = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float32).reshape(shape)
    model.buffers[weights.buffer].data = np.frombuffer(
        np.ascontiguousarray(kernel.transpose(3, 1, 2, 0)).tobytes(), np.uint8)
    weights.shape = [shape[3], shape[1], shape[2], 1]
    weights.shapeSignature = None
    depthwise = op.builtinOptions
    options = s.Conv2DOptionsT()
    options.padding, options.strideW, options.strideH = depthwise.padding, depthwise.strideW, depthwise.strideH
    options.fusedActivationFunction = depthwise.fusedActivationFunction
    options.dilationWFactor, options.dilationHFactor = depthwise.dilationWFactor, depthwise.dilationHFactor
    op.builtinOptions, op.builtinOptionsType = options, s.BuiltinOptions.Conv2DOptions
    op.opcodeIndex = conv_code()
    return True


def _conv_code(model) -> int:
    """The index of the model's CONV_2D operator code, added if it has none."""
    s = schema()
    for i, code in enumerate(model.operatorCodes):
        if builtin_code(code) == s.BuiltinOperator.CONV_2D:
            return i
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CONV_2D
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _drop_unused_codes(model) -> None:
    """Operator codes no op uses taken out (TFLite's calibrator refuses a model listing one), the ops' indices
    renumbered."""
    used = sorted({op.opcodeIndex for sub in model.subgraphs for op in sub.operators})
    index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for sub in model.subgraphs:
        for op in sub.operators:
            op.opcodeIndex = index[op.opcodeIndex]
