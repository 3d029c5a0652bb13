"""Elementwise int8 ops as 256-entry lookup tables, exact by construction: the op is cut out of the model into a
one-op flatbuffer with the same quantization and options, and LiteRT's reference kernels (bit-exact with TFLM's)
run it on every int8 input once, at export.

On the device an activation is then one load per element, whatever its arithmetic (HARD_SWISH's fixed-point
polynomial, LOGISTIC's exp), and it runs in place.
"""

import copy
import functools

import numpy as np

from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.tflite_info import schema

_INPUTS = np.arange(-128, 128, dtype=np.int8)


def lookup_table(flatbuffer: bytes, op_index: int) -> np.ndarray:
    """The int8 output of op `op_index` of `flatbuffer` for each int8 input -128..127."""
    table = LiteRtModel(_single_op_model(flatbuffer, op_index)).predict(_INPUTS[None, :])[0]
    return np.asarray(table, dtype=np.int8)


def _single_op_model(flatbuffer: bytes, op_index: int) -> bytes:
    """A flatbuffer holding only op `op_index`: its one activation input and its output reshaped to [1, 256], its
    constant inputs (a scalar to add or multiply by) kept with their data."""
    import flatbuffers

    s = schema()
    model = copy.copy(_unpacked(flatbuffer))   # the copies take new lists; the unpacked model is shared
    sub = copy.copy(model.subgraphs[0])
    op = copy.deepcopy(sub.operators[op_index])
    buffers, inputs = [s.BufferT()], []
    tensors: list = []   # the schema's TensorT objects (generated code, untyped)
    for index in [*op.inputs, op.outputs[0]]:
        t = copy.deepcopy(sub.tensors[index])
        payload = model.buffers[t.buffer].data if 0 < t.buffer < len(model.buffers) else None
        if payload is not None and len(payload):
            buffers.append(copy.deepcopy(model.buffers[t.buffer]))
            t.buffer = len(buffers) - 1
        else:
            t.shape, t.shapeSignature, t.buffer = [1, 256], None, 0
        inputs.append(len(tensors))
        tensors.append(t)
    activation = next(i for i, t in zip(inputs[:-1], tensors, strict=False) if t.buffer == 0)
    op.inputs, op.outputs = inputs[:-1], [inputs[-1]]
    sub.tensors, sub.operators, sub.inputs, sub.outputs = tensors, [op], [activation], [inputs[-1]]
    model.subgraphs, model.buffers = [sub], buffers
    model.metadata, model.signatureDefs, model.metadataBuffer = None, None, None
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@functools.lru_cache(maxsize=2)
def _unpacked(flatbuffer: bytes):
    """The model as the schema's object tree, unpacked once for all of its lookup-table ops (unpacking copies every
    weight buffer: a model with 26 activations took 6 s when each op unpacked it again)."""
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(flatbuffer, 0))
