"""The instruction-mix and cycle plugin for QEMU (firmware_templates/qemu_plugin/insn_mix.c): built on first use with
the host compiler into the user cache, loaded into a firmware run, its counts and cycle estimate read back as typed
data.

It exists because QEMU's `-icount` gives one number, instructions, while time on the chip depends on which
instructions ran (an 8-register LDM, a taken branch, a UDIV all count one) and on where data came from (flash
behind wait states or SRAM). The plugin counts both per class and per memory region from the emulated core's map,
and sums cycles from the core's timing table and the board's flash wait states (`core.timing`).
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
from tinyml_kit.core.timing import (
    CLASSES,
    QUARTERS,
    TIMINGS,
    ZERO_WAIT,
    Counts,
    MemoryTiming,
    plugin_arguments,
)
from tinyml_kit.export.toolchain import HOST_CC, cached_build, require_tool, run_tool

PLUGIN_SOURCE = TEMPLATES_DIR / "qemu_plugin" / "insn_mix.c"
PLUGIN_FLAGS = ["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]
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


def plugin_options(core: EmulatedCore, out: Path, memory: MemoryTiming = ZERO_WAIT) -> list[str]:
    """QEMU's `-plugin` option counting into `out`, with `core`'s flash and RAM as the regions data accesses are
    sorted into (the same address is flash on one machine and RAM on another, so the map travels with the run),
    and cycles summed from the core's timing table with `memory`'s flash wait states."""
    if "," in str(out):
        raise UserError(f"{out} contains ',', which QEMU's -plugin arguments cannot carry: set TMPDIR to a plain path")
    regions = [f"{name}={origin:#x}:{length:#x}"
               for name, (origin, length) in (("flash", core.flash), ("ram", core.ram))]
    cycles = plugin_arguments(TIMINGS[core.id], memory)
    return ["-plugin", ",".join([str(plugin_library()), f"out={out}", *regions, f"mark={SYSTICK_CURRENT:#x}", *cycles])]


@dataclass(frozen=True)
class Mark:
    """The instructions executed, the cycles estimated, the flash data reads that missed the modelled cache and
    all flash data reads when the firmware read SysTick's current value."""
    instructions: int
    cycles: float
    flash_misses: int
    flash_loads: int


@dataclass(frozen=True)
class InstructionMix:
    """What the plugin counted over a whole QEMU run (boot, every image, exit): executed instructions by class,
    the registers load/store-multiples moved, conditional branches (B<cc>, CBZ, branches in an IT block) that
    fell through, loads into PC, data accesses (one per register for multiples) by region, the instructions and
    cycles at each read of SysTick's current value (`marks`), and the cycle estimate with what it was summed from:
    how often each pair rule of the timing applied and how many flash reads missed the board's cache."""
    instructions: int
    classes: dict[str, int]
    regs_loaded: int
    regs_stored: int
    branch_cond_not_taken: int
    pc_loads: int                # loads that write PC (POP {pc}, LDM with PC, LDR pc), taken even in an IT block
    loads: dict[str, int]
    stores: dict[str, int]
    marks: tuple[Mark, ...]
    cycles: float
    rule_hits: tuple[int, ...]
    flash_misses: int

    @property
    def branch_cond_taken(self) -> int:
        return self.classes["branch_cond"] - self.branch_cond_not_taken

    def counts(self) -> Counts:
        """What the cycle sum depends on, for `core.timing.cycles_from_counts`."""
        taken = self.classes["branch"] + self.branch_cond_taken + self.pc_loads
        return Counts(self.classes, self.regs_loaded + self.regs_stored, taken, self.rule_hits, self.flash_misses)


def read_mix(path: Path) -> InstructionMix:
    """The plugin's JSON, or one line saying it wrote none (QEMU ended before its exit hooks ran)."""
    if not path.is_file():
        raise UserError(f"the QEMU instruction-mix plugin wrote no counts to {path}: QEMU ended before its exit")
    raw = json.loads(path.read_text())
    return InstructionMix(int(raw["instructions"]), {c: int(raw["classes"][c]) for c in CLASSES},
                          int(raw["regs_loaded"]), int(raw["regs_stored"]), int(raw["branch_cond_not_taken"]),
                          int(raw["pc_loads"]),
                          {r: int(raw["loads"][r]) for r in REGIONS}, {r: int(raw["stores"][r]) for r in REGIONS},
                          tuple(Mark(int(i), q / QUARTERS, int(m), int(f)) for i, q, m, f in raw["marks"]),
                          raw["quarter_cycles"] / QUARTERS,
                          tuple(int(h) for h in raw["rule_hits"]), int(raw["flash_misses"]))


@dataclass(frozen=True)
class Window:
    """What ran between two reads of SysTick's current value."""
    instructions: int
    cycles: float
    flash_misses: int
    flash_loads: int


def between(start: Mark, end: Mark) -> Window:
    return Window(end.instructions - start.instructions, end.cycles - start.cycles,
                  end.flash_misses - start.flash_misses, end.flash_loads - start.flash_loads)


def inference_windows(mix: InstructionMix, images: int, ops: int = 0) -> list[tuple[Window, list[Window]]]:
    """Per image: the inference and each of its `ops` profiled ops, from the marks of the runner's SysTick reads.
    Each inference reads SysTick once before and once after, and twice per profiled op in between; what was read
    before (the runner waiting for SysTick to start) is skipped."""
    per_image = 2 + 2 * ops
    marks = mix.marks[len(mix.marks) - images * per_image:]
    if len(mix.marks) < images * per_image:
        raise UserError(f"the QEMU plugin saw {len(mix.marks)} reads of SysTick where {images} inferences with "
                        f"{ops} profiled ops read it at least {images * per_image} times: the firmware is not the "
                        f"verify runner")
    return [(between(m[0], m[-1]), [between(m[1 + 2 * i], m[2 + 2 * i]) for i in range(ops)])
            for m in (marks[k * per_image:(k + 1) * per_image] for k in range(images))]
