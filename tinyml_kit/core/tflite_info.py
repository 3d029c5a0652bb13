"""Read a .tflite flatbuffer without TensorFlow: ops, inputs, outputs, quantization, and the whole graph.

Uses the flatbuffer schema bundled with the tflite-micro package, so `inspect`, `export` and `analyze` stay light.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.graph import Graph, Op, Tensor

if TYPE_CHECKING:
    from tinyml_kit.core.graph import Graph

TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    scale: float | None
    zero_point: int | None

    @property
    def sample_size(self) -> int:
        """Values per sample (the shape without its batch dimension): for the output, the number of classes."""
        return int(np.prod(self.shape[1:], dtype=np.int64))

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return np.clip(np.round(values / self.scale) + self.zero_point, -128, 127).astype(np.int8)


@dataclass
class ModelInfo:
    size_bytes: int
    ops: list[str]             # distinct builtin op names, in order of first use
    op_count: int              # operators in the graph
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @property
    def is_int8(self) -> bool:
        return all(t.dtype == "int8" for t in self.inputs + self.outputs)


def schema():
    """The TFLite flatbuffer schema's generated Python classes (bundled with tflite-micro, no TensorFlow)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def builtin_code(code) -> int:
    """An operator code's builtin operator: the larger of its two fields (older writers set only the deprecated
    int8 one; newer ones set both, that one capped at 127)."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def op_names() -> dict[int, str]:
    ops = schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_")}


def model_object(data: bytes, name: str = "model"):
    """The flatbuffer as the schema's object tree (`ModelT`), to read or rewrite; not a .tflite: a UserError."""
    s = schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{name} is not a TFLite flatbuffer (no TFL3 identifier): pass a .tflite file")
    try:
        return s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    except Exception as e:
        raise UserError(f"{name} is a corrupt TFLite flatbuffer ({type(e).__name__}): re-export it") from None


def read_model(data: bytes, name: str = "model") -> ModelInfo:
    """Parse `data`; a file that is not a TFLite flatbuffer raises a UserError."""
    model = model_object(data, name)
    try:
        graph = model.subgraphs[0]
        names = op_names()
        ops, seen = [], set()
        for op in graph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = builtin_code(code)
            op_name = names.get(builtin, f"BUILTIN_{builtin}")
            if op_name == "CUSTOM":
                op_name = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
            if op_name not in seen:
                seen.add(op_name)
                ops.append(op_name)

        def tensor(i: int) -> TensorInfo:
            t = graph.tensors[i]
            q = t.quantization
            scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
            zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
            tname = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            return TensorInfo(tname, [int(d) for d in t.shape], TENSOR_TYPES.get(t.type, f"type{t.type}"), scale, zp)

        return ModelInfo(len(data), ops, len(graph.operators or []), [tensor(i) for i in graph.inputs],
                         [tensor(i) for i in graph.outputs])
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{name} is a corrupt TFLite flatbuffer ({type(e).__name__}): re-export it") from None


def read_graph(data: bytes, name: str = "model") -> "Graph":
    """The whole first subgraph as a `graph.Graph` (tensors with shapes, dtypes and constant payloads, ops in
    execution order), so TFLM's memory plan can be replayed on any .tflite, not only on a predicted PhiNet."""
    read_model(data, name)    # a clear error for anything that is not a readable flatbuffer
    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    sub, names = model.subgraphs[0], op_names()
    if len(sub.inputs) != 1 or len(sub.outputs) != 1:
        raise UserError(f"{name} has {len(sub.inputs)} inputs and {len(sub.outputs)} outputs: tinyml-kit analyzes "
                        f"single-input, single-output classifiers")
    owner: dict[int, str] = {}
    tensors = []
    for t in sub.tensors:
        tname = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        payload = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        size = 0 if payload is None else len(payload)
        shared = owner.get(t.buffer, "") if size else ""
        if size and not shared:
            owner[t.buffer] = tname
        q = t.quantization
        channels = len(q.scale) if q is not None and q.scale is not None else 0
        tensors.append(Tensor(tname, tuple(int(d) for d in (t.shape if t.shape is not None else [])),
                              TENSOR_TYPES.get(t.type, f"type{t.type}"), 0 if shared else size, channels,
                              q.quantizedDimension if q is not None else 0, shared))
    ops = []
    for op in sub.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(builtin_code(code), "CUSTOM")
        inputs = tuple(int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0)
        outputs = tuple(int(i) for i in (op.outputs if op.outputs is not None else []) if i >= 0)
        options = op.builtinOptions
        stride, stride_w = (int(getattr(options, f"stride{d}", 1) or 1) for d in "HW")
        weighted = kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(inputs) > 1
        kernel, kernel_w = (tensors[inputs[1]].shape[1:3] if weighted else
                            (int(getattr(options, f"filter{d}", 1) or 1) for d in ("Height", "Width")))
        ops.append(Op(kind, inputs, outputs, stride, kernel, stride_w if stride_w != stride else None,
                      kernel_w if kernel_w != kernel else None))
    return Graph(name, tensors, ops, input=int(sub.inputs[0]), output=int(sub.outputs[0]))


def read_model_file(path: str | Path) -> tuple[bytes, ModelInfo]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} not found")
    data = path.read_bytes()
    return data, read_model(data, str(path))


def require_int8(info: ModelInfo, name: str) -> None:
    if not info.is_int8:
        kinds = sorted({t.dtype for t in info.inputs + info.outputs})
        if "int16" in kinds:   # quantized already, with 16-bit activations: "quantize it" would mislead
            raise UserError(f"{name} is quantized to int16 activations ({', '.join(kinds)} inputs/outputs), which "
                            f"neither the C engine nor tinyml-kit's TFLM build runs (int8 only): quantize the float "
                            f"model to full-integer int8 (tinyml-kit fit does)")
        raise UserError(f"{name} has {', '.join(kinds)} inputs/outputs, not int8: quantize it first "
                        f"(tinyml-kit fit does full-integer int8)")


_WEIGHTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def int8_weight_sparsity(data: bytes) -> float:
    """Fraction of exact zeros among the int8 weights of convolutions and fully connected layers, as stored in
    the file: what magnitude pruning left after quantization (QAT can move pruned weights off zero)."""
    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    graph, names = model.subgraphs[0], op_names()
    zeros = total = 0
    for op in graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        if names.get(builtin_code(code)) not in _WEIGHTED_OPS:
            continue
        weights = graph.tensors[op.inputs[1]]
        buffer = model.buffers[weights.buffer].data
        if weights.type == 9 and buffer is not None and len(buffer):
            values = np.asarray(buffer, dtype=np.uint8)
            zeros += int(np.sum(values == 0))   # int8 0 is byte 0
            total += values.size
    return zeros / total if total else 0.0
