"""The code-generation IR: what a step's C does, as typed data rendered to C text in one pass.

A step is lines of statements (`Call`, `Set`, `PerPixel`); a call's arguments are references that say what they
point at — an activation tensor, an op's scratch or widened shifts, a constant array, a parameter struct, shared
dims, or a plain literal — so the code generator never edits generated text: it places the tensors (their names
are `#define`d from the static plan) and renders. Dims are carried as values, so the shared `cmsis_nn_dims`
declarations are collected from the IR, not recovered from the text.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class _Placed(ABC):
    """Bytes in the arena, written as the name the plan `#define`s for them."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The C name: `tensor_<index>`, `scratch_<op>`, `shifts_<op>`."""

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return self.name


@dataclass(frozen=True)
class Tensor(_Placed):
    """An activation tensor."""
    index: int

    @property
    def name(self) -> str:
        return f"tensor_{self.index}"


@dataclass(frozen=True)
class Scratch(_Placed):
    """Arena bytes only op `op` uses: CMSIS-NN's scratch buffer (the lowering passes `NULL` when the op needs
    none), or with `shifts` where the op widens its int8 per-channel shifts to int32, after that buffer."""
    op: int
    shifts: bool = False

    @property
    def name(self) -> str:
        return f"{'shifts' if self.shifts else 'scratch'}_{self.op}"


@dataclass(frozen=True)
class Const:
    """A constant array in flash, by name (an identical lookup table is stored once: `renamed` maps it)."""
    name: str

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return renamed.get(self.name, self.name)


@dataclass(frozen=True)
class Ref:
    """The address of a struct: an op's `static const` parameters or one of `tinyml_invoke`'s locals."""
    name: str

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"&{self.name}"


@dataclass(frozen=True)
class Dims:
    """A `cmsis_nn_dims`, passed by address; declared once per distinct value, shared by every op using it."""
    n: int
    h: int
    w: int
    c: int

    @property
    def name(self) -> str:
        return f"dims_{self.n}_{self.h}_{self.w}_{self.c}"

    def declaration(self) -> str:
        return f"static const cmsis_nn_dims {self.name} = {{{self.n}, {self.h}, {self.w}, {self.c}}};"

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"&{self.name}"


@dataclass(frozen=True)
class Lit:
    """A plain C literal or expression that refers to nothing placed (a number, `NULL`, `n * 8`)."""
    value: int | str

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return str(self.value)


NULL = Lit("NULL")


@dataclass(frozen=True)
class Cast:
    """`(ctype)arg`: a pointer argument seen as another type."""
    ctype: str
    arg: "Arg"

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"({self.ctype}){self.arg.to_c(renamed)}"


@dataclass(frozen=True)
class At:
    """`base + offset`: a pointer `offset` elements into `base`."""
    base: "Arg"
    offset: "Arg"

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"{self.base.to_c(renamed)} + {self.offset.to_c(renamed)}"


Arg = Tensor | Scratch | Const | Ref | Dims | Lit | Cast | At


def leaves(arg: Arg) -> Iterator[Arg]:
    """`arg` and what it wraps, outermost first."""
    yield arg
    if isinstance(arg, Cast):
        yield from leaves(arg.arg)
    elif isinstance(arg, At):
        yield from leaves(arg.base)
        yield from leaves(arg.offset)


@dataclass(frozen=True)
class Struct:
    """A `static const` parameter struct; `fields` nest as the C initializer does (a tuple is a brace pair)."""
    ctype: str
    name: str
    fields: tuple

    def declaration(self) -> str:
        return f"static const {self.ctype} {self.name} = {_initializer(self.fields)};"

    @property
    def ref(self) -> Ref:
        return Ref(self.name)


def _initializer(fields: tuple) -> str:
    return "{" + ", ".join(_initializer(f) if isinstance(f, tuple) else str(f) for f in fields) + "}"


@dataclass(frozen=True)
class Function:
    """A C function generated for an op (a kernel specialised to its shapes), defined at file scope before
    `tinyml_invoke`. Ops whose generated text is identical share one definition: the name is the key, and two
    different definitions under one name are a generator bug (`engine.codegen` refuses them)."""
    name: str
    definition: str          # the whole C text: `static ... name(...) { ... }`


@dataclass(frozen=True)
class Call:
    """`function(args)`: as a statement, and with `checked` one whose CMSIS-NN status ends the run on failure."""
    function: str
    args: tuple[Arg, ...]
    checked: bool = False

    def expr(self, renamed: Mapping[str, str]) -> str:
        return f"{self.function}({', '.join(a.to_c(renamed) for a in self.args)})"

    def to_c(self, renamed: Mapping[str, str]) -> str:
        if self.checked:
            return f"if ({self.expr(renamed)} != ARM_CMSIS_NN_SUCCESS) return TINYML_INVOKE_FAILED;"
        return f"{self.expr(renamed)};"


@dataclass(frozen=True)
class Set:
    """`target = value;` on one of `tinyml_invoke`'s locals (`ctx.buf`, `q.shift`, ...)."""
    target: str
    value: Arg

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"{self.target} = {self.value.to_c(renamed)};"


@dataclass(frozen=True)
class PerPixel:
    """`body` once per pixel, `n` the pixel index."""
    pixels: int
    body: Call

    def to_c(self, renamed: Mapping[str, str]) -> str:
        return f"for (int32_t n = 0; n < {self.pixels}; ++n) {{\n  {self.body.to_c(renamed)}\n}}"


Statement = Call | Set | PerPixel
Line = tuple[Statement, ...]   # statements written on one line of C


def arguments(statement: Statement) -> Iterator[Arg]:
    """Every argument a statement passes or assigns, and what they wrap, in the order the C text names them."""
    call = statement.body if isinstance(statement, PerPixel) else statement
    for arg in call.args if isinstance(call, Call) else (call.value,):
        yield from leaves(arg)


def calls(statement: Statement) -> Iterator[Call]:
    """The functions a statement calls (what decides which of the engine's C helpers are emitted)."""
    if isinstance(statement, PerPixel):
        yield statement.body
    elif isinstance(statement, Call):
        yield statement


def render(lines: list[Line], renamed: Mapping[str, str]) -> list[str]:
    """The C lines of a step."""
    return [out for line in lines for out in " ".join(s.to_c(renamed) for s in line).splitlines()]
