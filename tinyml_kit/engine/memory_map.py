"""The C engine's static plan as named buffers: what `tinyml_model.c` `#define`s (each tensor's and scratch buffer's
pointer into the arena, with a compile-time bound check) and what `plan.json` beside it records for tools, like
the memory map of TVM's Model Library Format: a schema version, the arena's bytes, the op order, and every
buffer's name, kind, offset, bytes and first and last step.

Steps are positions in `execution_order` (the op indices in the order the plan runs them; usually 0, 1, 2, ...;
a residual block run as one step (`engine.residual`) is its ADD's index, its other ops absent).
Two buffers share bytes only where the plan lets them: a RESHAPE's output is its input's bytes, and a
concatenation's input the plan put inside the output is part of the output's (`alias_of`), and an op may write its
output over an input that dies at that op (the input's last step is the output's first). Constants the plan put
in RAM beside the arena (a layer's weights widened at start-up, `codegen.compile_model`) are listed with the op
that reads them (`ram_constants`; a residual block's convolutions' with its ADD's index, the block's step); their
int8 originals stay in flash.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tinyml_kit import __version__
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.errors import UserError
from tinyml_kit.engine.ir import Scratch, Tensor
from tinyml_kit.engine.model_ir import Model
from tinyml_kit.engine.steps import Step
from tinyml_kit.solve.static_plan import ALIGN, Buffer, StaticPlan, aligned, op_scratch_bytes

SCHEMA_VERSION = 1
PLAN_FILE = "plan.json"
KINDS = ("tensor", "scratch")


@dataclass(frozen=True)
class ArenaBuffer:
    name: str                   # its C name in tinyml_model.c
    kind: str                   # "tensor" (an activation) or "scratch" (an op's CMSIS-NN buffer or widened shifts)
    offset: int                 # bytes from the arena's start
    bytes: int                  # reserved, a multiple of the alignment
    first_op: int               # the first step that needs it ...
    last_op: int                # ... and the last (the model's output lives past the last op)
    tensor: str | None = None   # a tensor's name in the .tflite
    op: int | None = None       # a scratch buffer's op index
    alias_of: str | None = None   # a RESHAPE's output, a concatenated input: the buffer whose bytes it is (in)

    @property
    def end(self) -> int:
        return self.offset + self.bytes


@dataclass(frozen=True)
class RamConstant:
    """Constants the plan copies from flash into RAM at start-up, beside the arena (a layer's widened weights)."""
    name: str                   # the RAM array's C name
    op: int                     # the op that reads it
    bytes: int


@dataclass
class MemoryMap:
    model: str
    arena_bytes: int
    execution_order: list[int]
    buffers: list[ArenaBuffer]
    kernel_family: str = KernelFamily.DSP.value   # the CMSIS-NN kernels planned for (`core.cores.KernelFamily`)
    # per layer that could run a generated kernel: op, kind, the kernel chosen, the flash its generated kernel adds
    # over CMSIS-NN's call and the instructions it saves (`solve.kernel_choice`)
    kernels: list[dict] = field(default_factory=list)
    ram_constants: list[RamConstant] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "generator": f"tinyml-kit {__version__}", "model": self.model,
                "kernel_family": self.kernel_family, "arena_bytes": self.arena_bytes, "alignment": ALIGN,
                "execution_order": self.execution_order, "kernels": self.kernels,
                "buffers": [asdict(b) for b in self.buffers],
                "ram_constants": [asdict(c) for c in self.ram_constants]}

    @classmethod
    def from_dict(cls, data: dict) -> "MemoryMap":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(f"plan.json has schema version {version}; this tinyml-kit reads version {SCHEMA_VERSION}:"
                            f" export the model again")
        return cls(data["model"], data["arena_bytes"], data["execution_order"],
                   [ArenaBuffer(**b) for b in data["buffers"]], data.get("kernel_family", KernelFamily.DSP.value),
                   data.get("kernels", []), [RamConstant(**c) for c in data.get("ram_constants", [])])

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def read(cls, path: Path) -> "MemoryMap":
        return cls.from_dict(json.loads(Path(path).read_text()))


def memory_map(model: Model, steps: list[Step], plan: StaticPlan, family: KernelFamily) -> MemoryMap:
    """Every tensor and scratch buffer of `plan` (made for `family`'s kernels) by its C name, ordered by offset; the
    model by its file name (a shipped plan names no folder of the machine that made it)."""
    aliases = {s.output: Tensor(s.inputs[0]).name for s in steps if s.alias}
    aliases.update({t: Tensor(s.output).name for s in steps for t in s.inside})
    buffers = []
    for b in plan.buffers:
        if b.scratch_op is None:
            buffers += [_tensor(model, b, t, aliases.get(t)) for t in b.tensors]
        else:
            buffers += _scratch(steps[b.scratch_op], b)
    kernels = [dict(op=s.op_index, kind=s.kind, **s.kernel.to_dict()) for step in steps for s in (step, *step.fused)
               if s.kernel is not None]
    ram = [RamConstant(f"{a.name}_ram", s.op_index, a.ram_bytes) for s in steps for a in s.arrays if a.ram_bytes]
    return MemoryMap(Path(model.name).name, plan.arena_bytes, [steps[i].op_index for i in plan.order],
                     sorted(buffers, key=lambda b: (b.offset, b.first_op, b.name)), family.value, kernels, ram)


def _tensor(model: Model, region: Buffer, t: int, alias_of: str | None) -> ArenaBuffer:
    first, last = region.spans[t]
    return ArenaBuffer(Tensor(t).name, "tensor", region.offset + region.within.get(t, 0),
                       aligned(model.tensors[t].elements), first, last, tensor=model.tensors[t].name,
                       alias_of=alias_of)


def _scratch(step: Step, region: Buffer) -> list[ArenaBuffer]:
    """An op's scratch region: CMSIS-NN's buffer, then the int32 shifts it widens (`static_plan.op_scratch_bytes`)."""
    cmsis = op_scratch_bytes(step.scratch_bytes, 0)
    shifts = op_scratch_bytes(step.scratch_bytes, step.shift_channels) - cmsis
    parts = [(Scratch(step.op_index), 0, cmsis), (Scratch(step.op_index, shifts=True), cmsis, shifts)]
    return [ArenaBuffer(ref.name, "scratch", region.offset + at, size, region.first, region.last, op=step.op_index)
            for ref, at, size in parts if size]
