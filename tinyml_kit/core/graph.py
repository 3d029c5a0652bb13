"""A TFLite graph as plain data: tensors (shape, dtype, constant payload, quantization) and ops in execution order.

Two producers: `core.tflite_info.read_graph` reads any .tflite into it, and `solve.phinet_graph` predicts the
graph the converter will make of a PhiNet. The size and arena estimators and `analyze` read it.
"""

from dataclasses import dataclass, field

DTYPE_BYTES = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4, "int64": 8}


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"           # int8 activations and weights, int32 biases and shape constants
    data_bytes: int = 0           # constant payload; 0 for activations
    quant_channels: int = 1       # length of the scale / zero-point vectors; 0 for shape constants
    quant_dim: int = 0
    shares_buffer_of: str = ""    # an identical constant stored once under this name; this tensor's buffer is empty

    @property
    def is_constant(self) -> bool:
        return self.data_bytes > 0 or bool(self.shares_buffer_of)

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.elements * DTYPE_BYTES.get(self.dtype, 4)


@dataclass
class Op:
    kind: str                     # TFLite builtin name
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    stride: int = 1               # along the height (and the width, unless `stride_w` says otherwise)
    kernel: int = 1
    stride_w: int | None = None   # a converted model's own width, where it differs (the solver's graphs are square)
    kernel_w: int | None = None

    @property
    def stride_hw(self) -> tuple[int, int]:
        return self.stride, self.stride if self.stride_w is None else self.stride_w

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return self.kernel, self.kernel if self.kernel_w is None else self.kernel_w


@dataclass
class Graph:
    name: str
    tensors: list[Tensor] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    input: int = 0
    output: int = 0
