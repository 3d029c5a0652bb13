"""`analyze --engine c`: where each tensor and scratch buffer of the C engine's static plan lives, and what the
generated model takes in flash, from the same plan and counts the code generator uses."""

from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.engine.footprint import program_footprint


def c_engine_analysis(data: bytes, name: str = "model.tflite") -> dict:
    program = compile_model(data, name)
    footprint = program_footprint(program)
    names = {t.index: t.name for t in program.model.tensors}
    plan = []
    for b in sorted(program.plan.buffers, key=lambda b: (b.offset, b.first)):
        what = ([{"name": names[t], "offset": b.offset + b.within.get(t, 0)} for t in b.tensors]
                if b.scratch_op is None else [{"name": f"scratch of op {b.scratch_op}", "offset": b.offset}])
        plan.append({"offset": b.offset, "bytes": b.size, "first_op": b.first, "last_op": b.last, "holds": what})
    return {"flash_bytes": footprint.flash_bytes, "constant_bytes": footprint.constant_bytes,
            "arena_bytes": program.arena_bytes, "plan": plan}
