"""The C engine's scratch plan beside what CMSIS-NN asks on the core it was planned for, measured on the host.

A generated model's `tinyml_init` asks CMSIS-NN for each op's scratch size and refuses a smaller plan, but only in
a build for the target's core (an MVE build runs on no host). CMSIS-NN also compiles every kernel family's size
function into any build (`arm_convolve_wrapper_s8_get_buffer_size_mve`, `..._dsp`), so a small host program calls
the family's own functions with the model's parameter structs and prints what each op would be asked for.
"""

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.check.c_host import host_cmsis_nn
from tinyml_kit.engine.codegen import CProgram
from tinyml_kit.export.toolchain import HOST_CC, require_tool, run_tool


@dataclass(frozen=True)
class ScratchSize:
    op: int
    kind: str
    planned: int      # what the static plan gives the op's CMSIS-NN call (arena or flash)
    asked: int        # what CMSIS-NN's size function of the program's kernel family returns


def family_scratch_sizes(program: CProgram, cmsis_nn: Path) -> list[ScratchSize]:
    """Each op with a scratch check: its planned bytes and CMSIS-NN's size for `program.family`'s kernels."""
    checked = [(s, s.scratch_check) for s in program.steps if s.scratch_check is not None]
    suffix = f"_get_buffer_size_{program.family.value}("
    asks = [re.sub(r"_get_buffer_size[(]", suffix, check.expr(program.renamed)) for _, check in checked]
    lines = [f'  printf("%d\\n", (int)({ask}));' for ask in asks]
    structs = [d for d in program.struct_declarations() if d.startswith("static const cmsis_nn_")]
    source = "\n".join(['#include <stdio.h>', '#include "arm_nnfunctions.h"', *structs,
                        "int main(void) {", *lines, "  return 0;", "}", ""])
    with tempfile.TemporaryDirectory(prefix="tinyml_scratch_") as tmp:
        c_file, exe = Path(tmp) / "sizes.c", Path(tmp) / "sizes"
        c_file.write_text(source)
        run_tool([require_tool(HOST_CC), "-std=c11", "-isystem", str(cmsis_nn / "Include"), str(c_file),
                  str(host_cmsis_nn(cmsis_nn)), "-o", str(exe)], "compiling CMSIS-NN's scratch sizes for the host")
        printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    return [ScratchSize(s.op_index, s.kind, s.scratch_given, int(asked))
            for (s, _), asked in zip(checked, printed, strict=True)]
