"""An int8 .tflite compiled to C: each op lowered to a CMSIS-NN call (or a lookup table, or nothing for a
reshape), the activations placed by the static plan, and the model API rendered around them.

`compile_model` does the work once and returns a `CProgram`; `CProgram.write` renders `tinyml_model.h` and
`tinyml_model.c` (the same API as the TFLM engine), which need only CMSIS-NN's headers and sources to build.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit import __version__
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.labels import check_labels
from tinyml_kit.core.templates import render
from tinyml_kit.engine import elementwise, kernels
from tinyml_kit.engine.model_ir import Model, Operator, read_int8_model
from tinyml_kit.engine.steps import CArray, Step, dims_declarations
from tinyml_kit.solve.static_plan import (
    LUT_OPS,
    PlanOp,
    StaticPlan,
    op_scratch_bytes,
    plan,
)

LOWERINGS: dict[str, Callable[[Model, Operator], Step]] = {
    "CONV_2D": kernels.conv_2d, "DEPTHWISE_CONV_2D": kernels.depthwise_conv_2d,
    "FULLY_CONNECTED": kernels.fully_connected, "AVERAGE_POOL_2D": kernels.pool_2d, "MAX_POOL_2D": kernels.pool_2d,
    "ADD": elementwise.add, "MUL": elementwise.mul, "MEAN": elementwise.mean, "PAD": elementwise.pad,
    "PADV2": elementwise.pad, "RESHAPE": elementwise.reshape, "SQUEEZE": elementwise.reshape,
    **{kind: elementwise.lookup for kind in LUT_OPS},
}
SOURCES = ("tinyml_model.h", "tinyml_model.c")
HELPERS = ("lut_s8", "mean_hw_s8", "widen", "hard_swish_s8")   # our own C helpers, emitted only where called


@dataclass
class CProgram:
    model: Model
    steps: list[Step]
    plan: StaticPlan
    arrays: list[CArray]          # deduplicated: identical lookup tables are stored once

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def constant_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def write(self, out_dir: Path, labels: list[str], source: str = "model.tflite") -> list[Path]:
        """Render `tinyml_model.h` and `tinyml_model.c` into `out_dir`; returns their paths."""
        output = self.model.tensors[self.model.output]
        output_size = output.elements
        check_labels(labels, output_size)
        inp = self.model.tensors[self.model.input]
        context = dict(
            version=__version__, source=Path(source).name, labels=labels, input=inp, output=output,
            output_size=output_size, plan_bytes=self.arena_bytes, constant_bytes=self.constant_bytes,
            ops=self.steps, kinds=sorted({s.kind for s in self.steps}),
            arrays=[_rows(a) for a in self.arrays], structs=self._structs(),
            uses={helper: any(f"tinyml_{helper}(" in s.call for s in self.steps) for helper in HELPERS},
            scratch_checks=[dict(expr=s.scratch_check, bytes=s.scratch_bytes) for s in self.steps if s.scratch_check],
            steps=[dict(index=s.op_index, kind=s.kind, lines=self._code(s).splitlines()) for s in self.ordered()
                   if not s.alias],
            input_offset=self.plan.offset_of(self.model.input), output_offset=self.plan.offset_of(self.model.output),
            plan_rows=self._plan_rows())
        out_dir = Path(out_dir)
        return render(context, [("c_engine/tinyml_model.h.j2", out_dir / SOURCES[0]),
                                ("c_engine/tinyml_model.c.j2", out_dir / SOURCES[1])])

    def ordered(self) -> list[Step]:
        """The steps in the order the plan runs them (it may run a branch first to lower the peak)."""
        return [self.steps[i] for i in self.plan.order]

    def _structs(self) -> list[str]:
        """The shared dims (each declared once), then each op's own parameter structs."""
        used = "\n".join(s.call + s.scratch_check for s in self.steps)
        return [*dims_declarations(used), *(s for step in self.steps for s in step.structs)]

    def _code(self, step: Step) -> str:
        places = {f"t{t}": f"(tinyml_arena + {self.plan.offset_of(t)})" for t in (*step.inputs, step.output)}
        region = op_scratch_bytes(step.scratch_bytes, step.shift_channels)
        base = self.plan.scratch_offset(step.op_index) if region else 0
        scratch = f"(tinyml_arena + {base})" if step.scratch_bytes else "NULL"
        shifts = f"(tinyml_arena + {base + op_scratch_bytes(step.scratch_bytes, 0)})"
        code = step.call
        for key, value in {**places, "scratch": scratch, "shifts": shifts,
                           "scratch_bytes": str(step.scratch_bytes)}.items():
            code = code.replace("{" + key + "}", value)
        return code

    def _plan_rows(self) -> list[str]:
        rows = []
        for b in sorted(self.plan.buffers, key=lambda b: b.offset):
            what = (f"scratch of op {b.scratch_op}" if b.scratch_op is not None else
                    ", ".join(self.model.tensors[t].name for t in b.tensors))
            rows.append(f"{b.offset:>7} {b.size:>7} [{b.first}, {b.last}] {what.replace('*/', '* /')}")
        return rows


def _rows(array: CArray, per_row: int = 16) -> dict:
    values = [str(int(v)) for v in np.asarray(array.values).reshape(-1)]
    rows = [", ".join(values[i:i + per_row]) + "," for i in range(0, len(values), per_row)]
    return dict(name=array.name, ctype=array.ctype, size=len(values), rows=rows)


def lower(model: Model) -> list[Step]:
    """Every op as a step, or one line naming each op the C engine cannot run."""
    missing = sorted({op.kind for op in model.ops if op.kind not in LOWERINGS})
    if missing:
        raise UserError(f"{model.name} uses {', '.join(missing)}, which the C engine does not run: "
                        f"use --engine tflm", "engine")
    return [LOWERINGS[op.kind](model, op) for op in model.ops]


def compile_model(flatbuffer: bytes, name: str = "model") -> CProgram:
    """Lower, share identical lookup tables, and place every tensor and scratch buffer."""
    model = read_int8_model(flatbuffer, name)
    steps = lower(model)
    arrays, seen = [], {}
    for step in steps:
        for a in step.arrays:
            key = (a.ctype, np.asarray(a.values).tobytes()) if a.name.startswith("lut") else None
            if key is not None and key in seen:
                step.call = step.call.replace(f"{a.name},", f"{seen[key]},")
                continue
            if key is not None:
                seen[key] = a.name
            arrays.append(a)
    sizes = {t.index: t.elements for t in model.tensors if not t.is_constant}
    static = plan(sizes, [PlanOp(s.inputs, s.output, op_scratch_bytes(s.scratch_bytes, s.shift_channels),
                                 s.in_place, s.alias, s.overlap) for s in steps], model.input, model.output)
    return CProgram(model, steps, static, arrays)
