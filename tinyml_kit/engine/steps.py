"""What one op becomes in the generated C: constant arrays, constant parameter structs, a call, and what it asks of
the memory plan (scratch bytes, whether its output may take an input's place).

The C text uses placeholders the code generator fills once the static plan is known: `{t<N>}` is the address of
tensor N in the arena, `{scratch}` the op's CMSIS-NN scratch buffer, `{scratch_bytes}` its size, `{shifts}` where
its per-channel shifts are widened.
"""

import re
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CArray:
    """A `static const` array in flash."""
    name: str
    ctype: str                  # "int8_t" or "int32_t"
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * (1 if self.ctype == "int8_t" else 4)


@dataclass
class Step:
    op_index: int
    kind: str
    inputs: tuple[int, ...]          # activation tensors read (constants excluded)
    output: int
    call: str                        # C statements, returning a status on failure
    arrays: list[CArray] = field(default_factory=list)
    structs: list[str] = field(default_factory=list)   # `static const` parameter declarations
    scratch_bytes: int = 0
    scratch_check: str = ""          # C expression: CMSIS-NN's own scratch size for this call, checked at Init
    in_place: tuple[int, ...] = ()   # input tensors the output may overwrite when they die at this op
    alias: bool = False              # the output is the input's bytes, reinterpreted (RESHAPE)
    shift_channels: int = 0          # int32 shifts widened into the arena after the CMSIS-NN scratch
    overlap: int | None = None       # bytes before its dying input the output may start (convolutions)


_DIMS = re.compile(r"\bdims_(\d+)_(\d+)_(\d+)_(\d+)\b")


def dims(n: int, h: int, w: int, c: int) -> str:
    """The name of a `static const cmsis_nn_dims` holding these values. Ops share it: the code generator declares
    each name used once (`dims_declarations`), so a tensor's shape is stored once, not per op that touches it."""
    return f"dims_{n}_{h}_{w}_{c}"


def dims_declarations(code: str) -> list[str]:
    names = dict.fromkeys(m.group(0) for m in _DIMS.finditer(code))
    return [f"static const cmsis_nn_dims {name} = {{{', '.join(name.split('_')[1:])}}};" for name in names]
