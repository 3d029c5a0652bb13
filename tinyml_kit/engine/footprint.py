"""What the C engine's build of a .tflite takes on the device, without a cross compiler: the static arena and the
constants exactly (from the generated program), the parameter structs and code as `solve.c_size` counts them
(2-5 % under the compiled object on PhiNets since convolutions run generated kernels, bench/engine_estimates.py)."""

from dataclasses import dataclass

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.tflite_info import read_graph
from tinyml_kit.engine.codegen import CProgram, compile_model
from tinyml_kit.solve.c_size import c_engine_costs


@dataclass
class CFootprint:
    flash_bytes: int        # constants + parameter structs + code of the generated model
    arena_bytes: int        # the static plan: what the firmware reserves, exactly
    constant_bytes: int

    def to_dict(self) -> dict:
        return {"engine": "c", "flash_bytes": self.flash_bytes, "arena_bytes": self.arena_bytes,
                "arena_alloc_bytes": self.arena_bytes, "constant_bytes": self.constant_bytes}


def c_footprint(flatbuffer: bytes, name: str = "model", family: KernelFamily = KernelFamily.DSP) -> CFootprint:
    return program_footprint(compile_model(flatbuffer, name, family))


def program_footprint(program: CProgram) -> CFootprint:
    """The footprint of a program already compiled (no second compilation)."""
    costs = c_engine_costs(read_graph(program.model.flatbuffer, program.model.name), program.family)
    return CFootprint(program.constant_bytes + costs.struct_bytes + costs.code_bytes, program.arena_bytes,
                      program.constant_bytes)
