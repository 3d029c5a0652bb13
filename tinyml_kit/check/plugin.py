"""The instruction-mix plugin for QEMU (firmware_templates/qemu_plugin/insn_mix.c): built on first use with the host
compiler into the user cache, loaded into a firmware run on request, its counts read back as typed data.

It exists because QEMU's `-icount` gives one number, instructions, while time on the chip depends on which
instructions ran (an 8-register LDM, a taken branch, a UDIV all count one) and on where data came from (flash
behind wait states or SRAM). The plugin counts both per class and per memory region from the emulated core's map.
It is built from source here, never into the repository, keyed by a hash of the source and the compiler, as the
CMSIS-NN library is (`export.toolchain.cmsis_nn_library`); it is loaded into GPL-2.0-or-later QEMU and carries
that licence (see the source's header).
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.cores import EmulatedCore
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.export.toolchain import HOST_CC, cached_build, require_tool, run_tool

PLUGIN_SOURCE = TEMPLATES_DIR / "qemu_plugin" / "insn_mix.c"
PLUGIN_FLAGS = ["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]
CLASSES = ("alu", "mul", "dsp", "div", "load", "store", "load_multiple", "store_multiple", "branch", "branch_cond",
           "fpu", "other")
REGIONS = ("flash", "ram", "other")
# SysTick's current value register (the same on every Cortex-M): the runner reads it around each inference, so the
# plugin marks its count at each read and the two measurements of one window can be compared.
SYSTICK_CURRENT = 0xE000E018


def plugin_library(source: Path = PLUGIN_SOURCE) -> Path:
    """The plugin's shared object from the user cache, or compiled now: once per source text, compiler and flags."""
    cc = require_tool(HOST_CC)
    text = source.read_bytes()
    key = hashlib.sha256(repr((text, cc, PLUGIN_FLAGS)).encode()).hexdigest()[:16]
    return cached_build(f"qemu_plugin-{key}", "insn_mix.so", lambda build: run_tool(
        [cc, *PLUGIN_FLAGS, "-o", str(build / "insn_mix.so"), str(source)],
        "compiling the QEMU instruction-mix plugin"))


def plugin_options(core: EmulatedCore, out: Path) -> list[str]:
    """QEMU's `-plugin` option counting into `out`, with `core`'s flash and RAM as the regions data accesses are
    sorted into (the same address is flash on one machine and RAM on another, so the map travels with the run)."""
    if "," in str(out):
        raise UserError(f"{out} contains ',', which QEMU's -plugin arguments cannot carry: set TMPDIR to a plain path")
    regions = ",".join(f"{name}={origin:#x}:{length:#x}" for name, (origin, length)
                       in (("flash", core.flash), ("ram", core.ram)))
    return ["-plugin", f"{plugin_library()},out={out},{regions},mark={SYSTICK_CURRENT:#x}"]


@dataclass(frozen=True)
class InstructionMix:
    """What the plugin counted over a whole QEMU run (boot, every image, exit): executed instructions by class,
    the registers load/store-multiples moved, conditional branches (B<cc>, CBZ, branches in an IT block) that
    fell through, loads into PC, data accesses (one per
    register for multiples) by region, and the instructions executed at each read of SysTick's current value
    (`marks`, the first 4096)."""
    instructions: int
    classes: dict[str, int]
    regs_loaded: int
    regs_stored: int
    branch_cond_not_taken: int
    pc_loads: int                # loads that write PC (POP {pc}, LDM with PC, LDR pc), taken even in an IT block
    loads: dict[str, int]
    stores: dict[str, int]
    marks: tuple[int, ...]

    @property
    def branch_cond_taken(self) -> int:
        return self.classes["branch_cond"] - self.branch_cond_not_taken


def read_mix(path: Path) -> InstructionMix:
    """The plugin's JSON, or one line saying it wrote none (QEMU ended before its exit hooks ran)."""
    if not path.is_file():
        raise UserError(f"the QEMU instruction-mix plugin wrote no counts to {path}: QEMU ended before its exit")
    raw = json.loads(path.read_text())
    return InstructionMix(int(raw["instructions"]), {c: int(raw["classes"][c]) for c in CLASSES},
                          int(raw["regs_loaded"]), int(raw["regs_stored"]), int(raw["branch_cond_not_taken"]),
                          int(raw["pc_loads"]),
                          {r: int(raw["loads"][r]) for r in REGIONS}, {r: int(raw["stores"][r]) for r in REGIONS},
                          tuple(int(m) for m in raw["marks"]))
