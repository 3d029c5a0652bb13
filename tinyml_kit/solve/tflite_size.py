"""Size of the .tflite file a graph serializes to, without converting anything.

`serialized_bytes` writes the graph with the TFLite flatbuffer schema (dummy weights, real names, shapes and
quantization vectors) and counts the bytes: it is exact for the graph it is given, and measured equal to the
converter's own file for the same tensors. `tflite_bytes` is the same count as a closed formula, ~100× faster,
for searches over thousands of configurations; the tests hold it within a few bytes of `serialized_bytes`.
"""

import numpy as np

from tinyml_kit.core.graph import Graph

# builtin code, op version, options type, options class in the schema
_OPS = {
    "CONV_2D": (3, 3, 1, "Conv2DOptionsT"),
    "DEPTHWISE_CONV_2D": (4, 3, 2, "DepthwiseConv2DOptionsT"),
    "ADD": (0, 2, 11, "AddOptionsT"),
    "MUL": (18, 2, 21, "MulOptionsT"),
    "MEAN": (40, 2, 27, "ReducerOptionsT"),
    "LOGISTIC": (14, 2, 0, None),
    "HARD_SWISH": (117, 1, 0, None),
    "RESHAPE": (22, 1, 0, None),
}
_TYPES = {"int8": 9, "int32": 2}
_METADATA = {"min_runtime_version": 16, "CONVERSION_METADATA": 96}
SIGNATURE = ("serving_default", "pixels", "flatten")


def _options(schema, op, activation_fused: bool):
    kind = op.kind
    cls = _OPS[kind][3]
    if cls is None:
        return None
    o = getattr(schema, cls)()
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o.padding = 1 if (kind == "CONV_2D" and op.kernel == 1) else 0
        o.strideW = o.strideH = op.stride
        o.fusedActivationFunction = 3 if activation_fused else 0
        if kind == "DEPTHWISE_CONV_2D":
            o.depthMultiplier = 1
    elif kind == "MEAN":
        o.keepDims = True
    elif kind == "ADD":
        o.potScaleInt16 = True
    return o


def serialized_bytes(graph: Graph, compact: bool = False) -> int:
    """Exact byte count of `graph` as a TFLite flatbuffer: what the converter writes for these tensors, or with
    `compact` what `core.tflm_flatbuffer.compact_flatbuffer` makes of it for the device."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    model.description = None if compact else b"MLIR Converted."
    model.buffers = [schema.BufferT()]
    sub = schema.SubGraphT()
    sub.name = None if compact else b"main"
    sub.tensors = _tensors(schema, graph, model.buffers, compact)
    sub.operators, codes = _operators(schema, graph)
    sub.inputs = np.array([graph.input], np.int32)
    sub.outputs = np.array([graph.output], np.int32)
    model.subgraphs = [sub]
    model.operatorCodes = []
    for kind in codes:
        code = schema.OperatorCodeT()
        code.builtinCode, code.version = _OPS[kind][0], _OPS[kind][1]
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        model.operatorCodes.append(code)
    model.metadata = []
    for name, size in _METADATA.items():
        buffer = schema.BufferT()
        buffer.data = None if compact else np.zeros(size, np.uint8)   # compact: emptied, its index kept
        model.buffers.append(buffer)
        meta = schema.MetadataT()
        meta.name, meta.buffer = name.encode(), len(model.buffers) - 1
        model.metadata.append(meta)
    model.metadata = None if compact else model.metadata
    model.signatureDefs = None if compact else [_signature(schema, graph)]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return len(builder.Output())


def _tensors(schema, graph: Graph, buffers: list, compact: bool = False) -> list:
    """Every tensor with its buffer (appended to `buffers`; a shared constant points at its first copy); `compact`:
    without names, and one zero point per per-channel tensor."""
    first_buffer: dict[str, int] = {}
    tensors = []
    for t in graph.tensors:
        tensor = schema.TensorT()
        tensor.shape = np.array(t.shape, np.int32)
        tensor.type = _TYPES[t.dtype]
        tensor.name = None if compact else t.name.encode()
        tensor.hasRank = True
        buffer = schema.BufferT()
        if t.data_bytes:
            buffer.data = np.zeros(t.data_bytes, np.uint8)
        buffers.append(buffer)
        tensor.buffer = len(buffers) - 1
        if t.shares_buffer_of:
            tensor.buffer = first_buffer[t.shares_buffer_of]
        elif t.data_bytes:
            first_buffer.setdefault(t.name, tensor.buffer)
        q = schema.QuantizationParametersT()
        if t.quant_channels:
            q.scale = np.ones(t.quant_channels, np.float32)
            q.zeroPoint = np.zeros(1 if compact and t.quant_channels > 1 else t.quant_channels, np.int64)
            q.quantizedDimension = t.quant_dim
        tensor.quantization = q
        if not t.is_constant:
            tensor.shapeSignature = np.array((-1, *t.shape[1:]), np.int32)
        tensors.append(tensor)
    return tensors


def _operators(schema, graph: Graph) -> tuple[list, list[str]]:
    """The operators, and the distinct op kinds in order of first use (the operator-code table)."""
    fused = _fused_relu6(graph)
    codes: list[str] = []
    operators = []
    for i, op in enumerate(graph.ops):
        if op.kind not in codes:
            codes.append(op.kind)
        o = schema.OperatorT()
        o.opcodeIndex = codes.index(op.kind)
        o.inputs = np.array(op.inputs, np.int32)
        o.outputs = np.array(op.outputs, np.int32)
        o.builtinOptionsType = _OPS[op.kind][2]
        o.builtinOptions = _options(schema, op, i in fused)
        operators.append(o)
    return operators, codes


def _signature(schema, graph: Graph):
    sig = schema.SignatureDefT()
    sig.signatureKey = SIGNATURE[0].encode()
    sig.inputs, sig.outputs = [schema.TensorMapT()], [schema.TensorMapT()]
    sig.inputs[0].name, sig.inputs[0].tensorIndex = SIGNATURE[1].encode(), graph.input
    sig.outputs[0].name, sig.outputs[0].tensorIndex = SIGNATURE[2].encode(), graph.output
    return sig


def _fused_relu6(graph: Graph) -> set[int]:
    """Ops whose output name says a ReLU6 was folded into them."""
    return {i for i, op in enumerate(graph.ops)
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and "/Relu6;" in graph.tensors[op.outputs[0]].name}


# Per-object bytes beyond the payloads counted exactly in `_features` (tables, vtables, alignment), fitted by
# least squares against `serialized_bytes` on 400 random PhiNet graphs: `bench/fit_tflite_size.py` reprints them.
_COEFFICIENTS = (37.62, 84.61, 26.17, 20.05, 9.76, -49.28, 20.05, -50.26, 37.07, -50.04, 37.07, -187.03, 163.51,
                 54.66, -62.83, 163.51)


# The same for the compact file (`serialized_bytes(graph, compact=True)`): `bench/fit_tflite_size.py --compact`.
_COMPACT_COEFFICIENTS = (62.32, 54.98, -1.62, 1.04, 8.5, -29.33, 1.04, -26.76, 32.39, -26.84, 32.39, -120.3, 96.19,
                         26.3, -37.62, 96.19)


def tflite_bytes(graph: Graph, compact: bool = False) -> int:
    """The .tflite file size of `graph`, or of its compact form for the device: exact payloads plus fitted
    per-object overheads (within ~150 B of `serialized_bytes` on the fitting set)."""
    features = _features(graph, compact)
    coefficients = _COMPACT_COEFFICIENTS if compact else _COEFFICIENTS
    return int(round(features[0] + sum(c * f for c, f in zip(coefficients, features[1:], strict=False))))


def _features(graph: Graph, compact: bool = False) -> list[float]:
    """Byte counts fixed by the flatbuffer layout, then object counts whose per-object overhead is fitted."""
    payload = 0
    tensors = activations = per_tensor_quant = quant_dim = data_buffers = 0
    for t in graph.tensors:
        rank = len(t.shape)
        payload += 4 + 4 * rank if compact else -(-(len(t.name) + 1) // 4) * 4 + 4 + 4 * rank   # name, shape
        if not t.is_constant:
            payload += 4 + 4 * rank                                   # shape signature
            activations += 1
        if t.quant_channels:                                          # scale (float32) + zero point (int64)
            zero_points = 1 if compact and t.quant_channels > 1 else t.quant_channels
            payload += 8 + 4 * t.quant_channels + 8 * zero_points
            per_tensor_quant += 1
            quant_dim += t.quant_dim != 0
        if t.data_bytes:
            payload += t.data_bytes + 4
            data_buffers += 1
        tensors += 1
    kinds = {k: 0 for k in _OPS}
    for op in graph.ops:
        payload += 8 + 4 * (len(op.inputs) + len(op.outputs))
        kinds[op.kind] += 1
    return [payload, tensors, activations, per_tensor_quant, quant_dim, data_buffers, *kinds.values(),
            len({op.kind for op in graph.ops}), len(_fused_relu6(graph)), 1.0]
