"""An int8 .tflite as the C engine needs it: every tensor with its quantization and constant values, every op with
its builtin options, in execution order. Read with the flatbuffer schema bundled with tflite-micro (no TensorFlow).

`core.tflite_info.read_graph` gives the sizes-only view the estimators share; this one carries the numbers code
generation bakes into C (weights, biases, scales, zero points, strides, paddings, fused activations).
"""

from dataclasses import dataclass, field

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.tflite_info import TENSOR_TYPES, builtin_code, op_names, read_model, schema

_NUMPY = {"float32": np.float32, "int32": np.int32, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
          "int64": np.int64, "bool": np.bool_, "float16": np.float16}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: np.ndarray            # float32, one per channel along `quant_dim` (empty when not quantized)
    zero_points: np.ndarray       # int64, as many as scales
    quant_dim: int = 0
    data: np.ndarray | None = None   # constant payload shaped like the tensor; None for activations

    @property
    def scale(self) -> float:
        """The per-tensor scale as the kernels read it (TfLiteTensor.params.scale: the first, as float32)."""
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def hwc(self) -> tuple[int, int, int]:
        """Height, width and channels of a 4-D NHWC activation (a convolution's input or output)."""
        _, h, w, c = self.shape
        return h, w, c

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Operator:
    index: int
    kind: str                     # TFLite builtin name
    inputs: tuple[int, ...]       # tensor indices; -1 for an absent optional input (a bias-less conv)
    outputs: tuple[int, ...]
    options: object = None        # the schema's *OptionsT object, or None

    def option(self, name: str, default=0):
        value = getattr(self.options, name, None) if self.options is not None else None
        return default if value is None else value


@dataclass
class Model:
    name: str
    tensors: list[Tensor]
    ops: list[Operator]
    input: int
    output: int
    flatbuffer: bytes = field(repr=False, default=b"")

    def tensor(self, op: Operator, slot: int, outputs: bool = False) -> Tensor:
        """The op's `slot`-th input (or output) tensor, which the op cannot run without: a model missing it is
        malformed, refused in one line."""
        tensor = self.optional_tensor(op, slot, outputs)
        if tensor is None:
            side = "output" if outputs else "input"
            raise UserError(f"{op.kind} (op {op.index}) has no {side} {slot}: the model is malformed, export it "
                            f"again")
        return tensor

    def optional_tensor(self, op: Operator, slot: int, outputs: bool = False) -> Tensor | None:
        """The op's `slot`-th input (or output) tensor, None when the slot is absent (a bias-less conv's bias)."""
        indices = op.outputs if outputs else op.inputs
        return self.tensors[indices[slot]] if slot < len(indices) and indices[slot] >= 0 else None

    def constant(self, op: Operator, slot: int) -> np.ndarray:
        """The values of the op's `slot`-th input, which must be a constant (MEAN's axes, PAD's paddings)."""
        data = self.tensor(op, slot).data
        if data is None:
            raise UserError(f"{op.kind} (op {op.index}) computes its input {slot} at run time: the C engine needs "
                            f"it constant, use {param('engine', 'tflm')}", "engine")
        return data


def read_int8_model(data: bytes, name: str = "model") -> Model:
    """Parse an int8-in, int8-out, single-subgraph classifier; anything else is one line naming the problem."""
    info = read_model(data, name)
    if not info.is_int8:
        kinds = ", ".join(sorted({t.dtype for t in info.inputs + info.outputs}))
        raise UserError(f"{name} has {kinds} inputs/outputs, not int8: the C engine runs full-integer int8 models "
                        f"(tinyml-kit fit and compress produce them)")
    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    if len(model.subgraphs) != 1:
        raise UserError(f"{name} has {len(model.subgraphs)} subgraphs: the C engine runs single-subgraph models, "
                        f"use the TFLM engine", "engine")
    sub, names = model.subgraphs[0], op_names()
    if len(sub.inputs) != 1 or len(sub.outputs) != 1:
        raise UserError(f"{name} has {len(sub.inputs)} inputs and {len(sub.outputs)} outputs: the C engine runs "
                        f"single-input, single-output classifiers")
    tensors = [_tensor(i, t, model.buffers) for i, t in enumerate(sub.tensors)]
    ops = []
    for i, op in enumerate(sub.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(builtin_code(code), "CUSTOM")
        if kind == "CUSTOM":
            kind = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
        ops.append(Operator(i, kind, tuple(int(t) for t in (op.inputs if op.inputs is not None else [])),
                            tuple(int(t) for t in (op.outputs if op.outputs is not None else [])),
                            op.builtinOptions))
    return Model(name, tensors, ops, int(sub.inputs[0]), int(sub.outputs[0]), data)


def _tensor(index: int, t, buffers) -> Tensor:
    dtype = TENSOR_TYPES.get(t.type, f"type{t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    q = t.quantization
    scales = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
    zps = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
    payload = buffers[t.buffer].data if 0 < t.buffer < len(buffers) else None
    data: np.ndarray | None = None
    if payload is not None and len(payload):
        raw = np.asarray(payload, dtype=np.uint8).tobytes()
        data = np.frombuffer(raw, dtype=_NUMPY.get(dtype, np.uint8)).reshape(shape if shape else (-1,))
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
    return Tensor(index, name, shape, dtype, scales, zps, int(q.quantizedDimension) if q is not None else 0, data)
