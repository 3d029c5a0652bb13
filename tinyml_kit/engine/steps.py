"""What one op becomes in the generated C: constant arrays, constant parameter structs, a call, and what it asks of
the memory plan (scratch bytes, whether its output may take an input's place).

The C text uses placeholders the code generator fills once the static plan is known: `{t<N>}` is the address of
tensor N in the arena, `{scratch}` the op's scratch buffer, `{scratch_bytes}` its size.
"""

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


def dims(n: int, h: int, w: int, c: int) -> str:
    return f"{{{n}, {h}, {w}, {c}}}"


def int_list(values) -> str:
    return ", ".join(str(int(v)) for v in values)
