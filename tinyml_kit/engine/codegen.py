"""An int8 .tflite compiled to C: each op lowered to a CMSIS-NN call (or a lookup table, a loop generated for
it, or nothing for a reshape and for a concatenation whose inputs the plan put in its output), the activations
placed by the static plan, and the model API rendered around them.

`compile_model` does the work once and returns a `CProgram`; `CProgram.write` renders `tinyml_model.h` and
`tinyml_model.c` (the same API as the TFLM engine), which need only CMSIS-NN's headers and sources to build, and
`plan.json`, the static plan for tools (`engine.memory_map`). Each op's code is IR (`engine.ir`) rendered in one
pass; tensors and scratch buffers are named pointers into the arena, `#define`d from the plan.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from tinyml_kit import __version__
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.labels import check_labels
from tinyml_kit.core.templates import render as render_templates
from tinyml_kit.core.tflite_info import read_graph
from tinyml_kit.engine import binary, copies, elementwise, kernels, reduce, softmax
from tinyml_kit.engine.ir import Dims, Function, Tensor, render
from tinyml_kit.engine.memory_map import PLAN_FILE, MemoryMap, memory_map
from tinyml_kit.engine.model_ir import Model, Operator, read_int8_model
from tinyml_kit.engine.residual import fuse_blocks
from tinyml_kit.engine.steps import CArray, Step
from tinyml_kit.solve.c_size import model_kernels
from tinyml_kit.solve.kernel_choice import FLASH_ALLOWANCE, LayerKernel, in_ram, sharing
from tinyml_kit.solve.residual_block import residual_blocks
from tinyml_kit.solve.static_plan import (
    LUT_OPS,
    PlanOp,
    StaticPlan,
    op_scratch_bytes,
    plan,
)
from tinyml_kit.solve.weight_placement import ram_weight_ops

Lowering = Callable[[Model, Operator, KernelFamily], Step]


def same_on_every_family(lowering: Callable[[Model, Operator], Step]) -> Lowering:
    """A lowering whose code and plan do not depend on the kernel family (the C it emits runs the same on all)."""
    return lambda model, op, family: lowering(model, op)


# Each op kind's lowering, given the kernel family the program is planned for (CMSIS-NN's scratch sizes and memory
# order differ with Helium; a kernel generated for one family is chosen there).
LOWERINGS: dict[str, Lowering] = {
    "CONV_2D": kernels.conv_2d, "DEPTHWISE_CONV_2D": kernels.depthwise_conv_2d,
    "FULLY_CONNECTED": kernels.fully_connected, "AVERAGE_POOL_2D": kernels.pool_2d, "MAX_POOL_2D": kernels.pool_2d,
    **{kind: same_on_every_family(f) for kind, f in (
        ("ADD", elementwise.add), ("MUL", elementwise.mul), ("MEAN", reduce.mean), ("PAD", elementwise.pad),
        ("PADV2", elementwise.pad), ("RESHAPE", elementwise.reshape), ("SQUEEZE", elementwise.reshape),
        ("SOFTMAX", softmax.softmax), ("CONCATENATION", copies.concatenation), ("SUB", binary.sub),
        ("MAXIMUM", binary.extremum), ("MINIMUM", binary.extremum), ("STRIDED_SLICE", copies.strided_slice),
        ("TRANSPOSE", copies.transpose), ("RESIZE_NEAREST_NEIGHBOR", copies.resize_nearest_neighbor),
        ("REDUCE_MAX", reduce.reduce_max),
        *((kind, elementwise.lookup) for kind in LUT_OPS))},
}
SOURCES = ("tinyml_model.h", "tinyml_model.c")
HELPERS = ("lut_s8", "add_s8", "widen", "hard_swish_s8")   # our own C helpers, emitted only where called


@dataclass
class CProgram:
    model: Model
    steps: list[Step]
    plan: StaticPlan
    arrays: list[CArray]          # deduplicated: identical lookup tables are stored once
    family: KernelFamily          # the CMSIS-NN kernels it is planned for: the C refuses a build for the others
    renamed: dict[str, str] = field(default_factory=dict)   # a dropped duplicate table -> the one kept

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def constant_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @property
    def ram_constant_bytes(self) -> int:
        """RAM of the constants copied there at start-up (beside the arena)."""
        return sum(a.ram_bytes for a in self.arrays)

    @cached_property
    def memory_map(self) -> MemoryMap:
        return memory_map(self.model, self.steps, self.plan, self.family)

    def write(self, out_dir: Path, labels: list[str], source: str = "model.tflite") -> list[Path]:
        """Render `tinyml_model.h` and `tinyml_model.c` into `out_dir`, and the plan beside them as `plan.json`;
        returns their paths."""
        output = self.model.tensors[self.model.output]
        output_size = output.elements
        check_labels(labels, output_size)
        inp = self.model.tensors[self.model.input]
        called = {c.function for s in self.steps for c in s.calls()}
        context = dict(
            version=__version__, source=Path(source).name, mve=self.family is KernelFamily.MVE,
            family=self.family.title, labels=labels, input=inp, output=output,
            output_size=output_size, plan_bytes=self.arena_bytes, constant_bytes=self.constant_bytes,
            ops=self.steps, kinds=sorted({s.kind for s in self.steps}),
            arrays=[_rows(a) for a in self.arrays], structs=self.struct_declarations(),
            uses={helper: f"tinyml_{helper}" in called for helper in HELPERS},
            functions=[f.definition for f in self.functions],
            scratch_checks=[dict(expr=s.scratch_check.expr(self.renamed), bytes=s.scratch_given) for s in self.steps
                            if s.scratch_check],
            steps=[dict(index=s.op_index, kind=s.kind, lines=render(s.code, self.renamed)) for s in self.ordered()
                   if not s.alias],
            buffers=self.memory_map.buffers, input_name=Tensor(self.model.input).name,
            output_name=Tensor(self.model.output).name)
        out_dir = Path(out_dir)
        written = render_templates(context, [("c_engine/tinyml_model.h.j2", out_dir / SOURCES[0]),
                                             ("c_engine/tinyml_model.c.j2", out_dir / SOURCES[1])])
        return [*written, self.memory_map.write(out_dir / PLAN_FILE)]

    @cached_property
    def functions(self) -> list[Function]:
        """The generated C functions the steps call, each defined once (`ir.Function`)."""
        kept: dict[str, Function] = {}
        for f in (f for s in self.steps for f in s.functions):
            if kept.setdefault(f.name, f) != f:
                raise ValueError(f"two different generated definitions of {f.name}")
        return list(kept.values())

    def ordered(self) -> list[Step]:
        """The steps in the order the plan runs them (it may run a branch first to lower the peak)."""
        return [self.steps[i] for i in self.plan.order]

    def struct_declarations(self) -> list[str]:
        """The shared dims (each value declared once, in the order the code names them), then each op's own
        parameter structs."""
        shared = dict.fromkeys(a for s in self.steps for a in s.arguments() if isinstance(a, Dims))
        return [*(d.declaration() for d in shared), *(p.declaration() for s in self.steps for p in s.structs)]


def _rows(array: CArray, per_row: int = 16) -> dict:
    values = [str(int(v)) for v in np.asarray(array.values).reshape(-1)]
    rows = [", ".join(values[i:i + per_row]) + "," for i in range(0, len(values), per_row)]
    return dict(name=array.name, ctype=array.ctype, size=len(values), rows=rows, ram=array.ram_ctype)


# The ops whose kernel is chosen per layer (`solve.kernel_choice`): lowered with the choice of every layer (a
# generated convolution's function may be shared, `kernel_choice.sharing`).
CHOSEN: dict[str, Callable[[Model, Operator, KernelFamily, dict[int, LayerKernel]], Step]] = {
    "CONV_2D": lambda model, op, family, chosen: kernels.conv_2d(model, op, family, chosen[op.index],
                                                                  sharing(chosen, op.index)),
    "DEPTHWISE_CONV_2D": lambda model, op, family, chosen: kernels.depthwise_conv_2d(model, op, family,
                                                                                      chosen[op.index]),
    "ADD": lambda model, op, family, chosen: elementwise.add(model, op, chosen[op.index])}


def lower(model: Model, family: KernelFamily, chosen: dict[int, LayerKernel] | None = None) -> list[Step]:
    """Every op as a step for `family`'s kernels, each layer of `chosen` on the kernel chosen for it (others
    decide alone), or one line naming each op the C engine cannot run (and where it first occurs)."""
    first = {op.kind: op.index for op in reversed(model.ops) if op.kind not in LOWERINGS}
    if first:
        missing = ", ".join(f"{kind} (op {index})" for kind, index in sorted(first.items()))
        raise UserError(f"{model.name} uses {missing}, which the C engine does not run: "
                        f"use {param('engine', 'tflm')}", "engine")
    chosen = chosen or {}
    return [CHOSEN[op.kind](model, op, family, chosen) if op.index in chosen else
            LOWERINGS[op.kind](model, op, family) for op in model.ops]


def weights_in_ram(model: Model, graph: Graph, chosen: dict[int, LayerKernel], family: KernelFamily, ram_bytes: int,
                   arena_bytes: int) -> dict[int, LayerKernel]:
    """`chosen` with the generated convolutions `solve.weight_placement.ram_weight_ops` picks for a target of
    `ram_bytes` beside the arena reading their weights widened into RAM at start-up (the arena plan does not
    change: the window buffers are the same); a convolution CMSIS-NN runs after all (dilated) is none of them."""
    convs = {op.index: chosen[op.index] for op in model.ops if op.kind == "CONV_2D" and op.index in chosen
             and kernels.generated_layout(model, op, family) is not None}
    return in_ram(chosen, ram_weight_ops(graph, convs, ram_bytes, arena_bytes))


def compile_model(flatbuffer: bytes, name: str = "model", family: KernelFamily = KernelFamily.DSP,
                  ram_bytes: int = 0, allowance: float = FLASH_ALLOWANCE) -> CProgram:
    """Lower for `family`'s kernels (`core.cores.kernel_family` of the target's core; the host builds the
    non-Helium ones), each layer on the kernel the flash estimate counts (`kernel_choice.model_kernels` on the
    model's graph, generated kernels adding at most `allowance` of its flash), share identical lookup tables,
    and place every tensor and scratch buffer. `ram_bytes`: the target board's RAM, of which what the arena
    leaves may take generated convolutions' weights (0: none, `solve.conv_layout.weight_ram_budget`)."""
    model = read_int8_model(flatbuffer, name)
    graph = read_graph(flatbuffer, name)
    chosen = model_kernels(graph, family, allowance)
    blocks = residual_blocks(graph, chosen)
    lowered = lower(model, family, chosen)
    steps = fuse_blocks(model, lowered, blocks)
    sizes = {t.index: t.elements for t in model.tensors if not t.is_constant}
    static = plan(sizes, [PlanOp(s.inputs, s.output, op_scratch_bytes(s.scratch_bytes, s.shift_channels),
                                 s.in_place, s.alias, s.overlap, tuple(p[1:] for p in s.placed)) for s in steps],
                  model.input, model.output)
    if ram_bytes:   # the convolutions lowered again: layers in RAM share functions among themselves only
        chosen = weights_in_ram(model, graph, chosen, family, ram_bytes, static.arena_bytes)
        lowered = [CHOSEN[op.kind](model, op, family, chosen) if op.kind == "CONV_2D" and op.index in chosen
                   else s for op, s in zip(model.ops, lowered, strict=True)]
        steps = fuse_blocks(model, lowered, blocks, {i for i, k in chosen.items() if k.weights_in_ram})
    arrays: list[CArray] = []
    seen: dict[tuple[str, bytes], str] = {}
    renamed: dict[str, str] = {}
    for a in (a for step in steps for a in step.arrays):
        key = (a.ctype, np.asarray(a.values).tobytes()) if a.name.startswith("lut") else None
        if key is not None and key in seen:
            renamed[a.name] = seen[key]
            continue
        if key is not None:
            seen[key] = a.name
        arrays.append(a)
    return CProgram(model, [s.after(static.offset_of) for s in steps], static, arrays, family, renamed)
