"""What one op becomes in the generated C: constant arrays, constant parameter structs, its code as IR
(`engine.ir`), and what it asks of the memory plan (scratch bytes, whether its output may take an input's place).

The code names tensors, scratch and shifts by reference; the code generator gives those names their places in
the arena once the static plan is known.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from tinyml_kit.engine.ir import Arg, Call, Function, Line, Struct, arguments, calls
from tinyml_kit.solve.kernel_choice import LayerKernel

C_BYTES = {"int8_t": 1, "int16_t": 2, "int32_t": 4}


@dataclass
class CArray:
    """A `static const` array in flash; with `ram_ctype`, also copied at start-up into a RAM array of that type
    named `<name>_ram` (the values widened), which the code reads instead: no flash wait states on it."""
    name: str
    ctype: str                  # "int8_t" or "int32_t"
    values: np.ndarray
    ram_ctype: str | None = None

    @property
    def ram_bytes(self) -> int:
        return 0 if self.ram_ctype is None else int(self.values.size) * C_BYTES[self.ram_ctype]

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * C_BYTES[self.ctype]


@dataclass
class Step:
    op_index: int
    kind: str
    inputs: tuple[int, ...]          # activation tensors read (constants excluded)
    output: int
    code: list[Line]                 # C statements, returning a status on failure
    arrays: list[CArray] = field(default_factory=list)
    structs: list[Struct] = field(default_factory=list)   # `static const` parameter declarations
    scratch_bytes: int = 0
    scratch_check: Call | None = None   # CMSIS-NN's own scratch size for this call, checked at Init
    in_place: tuple[int, ...] = ()   # input tensors the output may overwrite when they die at this op
    alias: bool = False              # the output is the input's bytes, reinterpreted (RESHAPE)
    shift_channels: int = 0          # int32 shifts widened into the arena after the CMSIS-NN scratch
    overlap: int | None = None       # bytes before its dying input the output may start (convolutions)
    functions: list[Function] = field(default_factory=list)   # generated C its code calls (`ir.Function`)
    flash_scratch: int = 0           # bytes of the scratch CMSIS-NN asks for that are computed at export, in flash
    placed: tuple[tuple[int, int, int], ...] = ()   # (line, input, byte offset): that line copies the input
    #                                                 there, unless the plan placed it there (`solve.concat_plan`)
    inside: tuple[int, ...] = ()     # inputs the plan put inside the output, their copies dropped (`after`)
    kernel: LayerKernel | None = None   # a layer that could run a generated kernel: the one chosen and its cost
    fused: tuple["Step", ...] = ()   # the steps of the ops one step runs together (a residual block's), each kernel

    @property
    def scratch_given(self) -> int:
        """The scratch bytes its CMSIS-NN call is given: planned in the arena, or computed at export in flash."""
        return self.scratch_bytes + self.flash_scratch

    def after(self, offset_of) -> "Step":
        """The step as the plan leaves it: without the copies of the inputs the plan placed inside the output
        (`offset_of`: tensor -> arena offset)."""
        done = {line: t for line, t, at in self.placed if offset_of(t) == offset_of(self.output) + at}
        if not done:
            return self
        code = [line for n, line in enumerate(self.code) if n not in done]
        return replace(self, code=code, functions=self.functions if code else [], placed=(),
                       inside=tuple(done.values()))

    def arguments(self) -> Iterator[Arg]:
        """Every argument of the code and of the scratch check, in the order the C text names them."""
        for line in self.code:
            for statement in line:
                yield from arguments(statement)
        if self.scratch_check is not None:
            yield from arguments(self.scratch_check)

    def calls(self) -> Iterator[Call]:
        for line in self.code:
            for statement in line:
                yield from calls(statement)
