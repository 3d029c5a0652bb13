"""`analyze --engine c`: where each tensor and scratch buffer of the C engine's static plan lives (the memory map
the generated `tinyml_model.c` names and `plan.json` records), and what the generated model takes in flash, from
the same plan and counts the code generator uses."""

from tinyml_kit.check.analysis import CEngineAnalysis
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.engine.footprint import program_footprint


def c_engine_analysis(data: bytes, name: str = "model.tflite", family: KernelFamily = KernelFamily.DSP
                      ) -> CEngineAnalysis:
    program = compile_model(data, name, family)
    footprint = program_footprint(program)
    return CEngineAnalysis(footprint.flash_bytes, footprint.constant_bytes, program.arena_bytes,
                           program.memory_map.to_dict())
