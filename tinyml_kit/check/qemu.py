"""Firmware on QEMU's Cortex-M machines (`core.cores`): how it is compiled, linked and run on each, and what it
prints back.

QEMU runs with `-icount shift=0`, so every instruction advances virtual time by 1 ns, and the runner's SysTick,
which counts the machine's processor clock, reads instructions: a tick is 1000 / MHz of them.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.check.plugin import plugin_options
from tinyml_kit.core.cores import EmulatedCore
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.core.templates import render
from tinyml_kit.core.timing import ZERO_WAIT, MemoryTiming
from tinyml_kit.export.toolchain import (
    CXX_FLAGS,
    compile_all,
    region_overflows,
    require_tool,
    run_tool,
)

PLATFORM = TEMPLATES_DIR / "qemu"
C_FLAGS = ["-std=c17", "-Os", "-Wall", "-Wextra", "-Werror"]


def compile_for_qemu(core: EmulatedCore, sources: list[Path], build: Path, cxx_flags: list[str] = (),
                     c_flags: list[str] = C_FLAGS) -> list[Path]:
    """Compile C and C++ sources for `core` with -Wall -Wextra -Werror; returns the objects."""
    gxx, gcc = require_tool("arm-none-eabi-g++"), require_tool("arm-none-eabi-gcc")
    jobs, objects = [], []
    for source in sources:
        obj = build / f"{source.name}.o"
        if source.suffix == ".c":
            cmd = [gcc, *core.gcc_flags, *c_flags, "-I", str(source.parent)]
        else:
            cmd = [gxx, *core.gcc_flags, *CXX_FLAGS, "-Os", *cxx_flags, "-I", str(source.parent)]
        jobs.append(([*cmd, "-c", str(source), "-o", str(obj)], f"compiling {source.name}"))
        objects.append(obj)
    compile_all(jobs)
    return objects


def harness(core: EmulatedCore, build: Path) -> tuple[list[Path], list[str]]:
    """The runner and startup code, and the defines the runner needs for `core`."""
    for name in ("startup.c", "verify_main.cc"):
        shutil.copy(PLATFORM / name, build / name)
    return [build / "startup.c", build / "verify_main.cc"], [f"-DTINYML_SYSTICK_MHZ={core.systick_mhz}"]


def link_for_qemu(core: EmulatedCore, objects: list[Path], libraries: list[Path], build: Path) -> Path:
    """Link with the machine's linker script, newlib-nano and semihosting; returns the ELF."""
    script = build / f"{core.machine}.ld"
    render(core.linker_context(), [("qemu/cortex_m.ld.j2", script)])
    elf = build / "firmware.elf"
    run_tool([require_tool("arm-none-eabi-g++"), *core.gcc_flags, "-T", str(script), "-nostartfiles",
              "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections", *map(str, objects),
              *map(str, libraries), "-lm", "-o", str(elf)], "linking the firmware",
             explain=lambda output: _overflow_error(core, output))
    return elf


def require_arena_fits(core: EmulatedCore, arena_bytes: int, board) -> None:
    """An arena larger than the emulated machine's RAM cannot even link: said before anything is compiled."""
    if arena_bytes > core.ram[1]:
        raise UserError(f"a tensor arena of {arena_bytes:,} bytes is larger than the RAM of QEMU's {core.machine} "
                        f"({core.ram[1]:,} bytes, the emulated {core.title}'s): reserve a smaller one; {board.id} "
                        f"links {board.ram_linked_bytes:,} bytes of RAM", "arena_bytes")


def _overflow_error(core: EmulatedCore, output: str) -> UserError | None:
    """The linker's word that the firmware does not fit the emulated machine: which region, by how much, the fix."""
    over = region_overflows(output)
    if "RAM" in over or "RAM overflow:" in output:   # the region itself, or the script's room for heap and stack
        how = (f"overflow it by {over['RAM']:,} bytes" if "RAM" in over else
               "leave too little of it for the heap and the stack")
        return UserError(f"the firmware does not fit the RAM of QEMU's {core.machine} ({core.ram[1]:,} bytes): its "
                         f"data and bss (the tensor arena with it) {how}; reserve a smaller tensor arena",
                         "arena_bytes")
    if over:
        region, bytes_over = next(iter(over.items()))
        size = f" ({core.flash[1]:,} bytes)" if region == "FLASH" else ""
        return UserError(f"the firmware does not fit the {region} region of QEMU's {core.machine}{size}: its code "
                         f"and the model overflow it by {bytes_over:,} bytes; verify a smaller model")
    return None


def qemu_command(core: EmulatedCore, elf: Path, arguments: list[str], mix: Path | None = None,
                 memory: MemoryTiming = ZERO_WAIT) -> list[str]:
    """QEMU running `elf` on `core`'s machine, one instruction per virtual ns, with semihosting (stdio, exit, and
    `arguments` as the program's argv after its name); with `mix`, the instruction-mix plugin counting into it and
    estimating cycles with `memory`'s flash timing."""
    if any("," in a or " " in a for a in arguments):
        raise UserError(f"build directory {elf.parent} contains ',' or ' ', which QEMU's semihosting arguments "
                        f"cannot carry: set TMPDIR to a plain path")
    semihosting = ",".join(["enable=on,target=native,arg=firmware.elf", *(f"arg={a}" for a in arguments)])
    return [require_tool("qemu-system-arm"), "-M", core.machine, "-cpu", core.cpu, "-nographic", "-monitor", "none",
            "-serial", "null", "-icount", "shift=0", "-semihosting-config", semihosting, "-kernel", str(elf),
            *(plugin_options(core, mix, memory) if mix is not None else [])]


def run_firmware(core: EmulatedCore, elf: Path, images: np.ndarray, timeout: float, mix: Path | None = None,
                 memory: MemoryTiming = ZERO_WAIT) -> str:
    """Run the firmware on `core`'s machine over `images` (int8), returning what it printed; with `mix`, QEMU
    loads the instruction-mix plugin, which writes its counts and cycles (with `memory`'s flash timing) there
    (`check.plugin.read_mix`)."""
    path = elf.parent / "images.bin"
    path.write_bytes(np.ascontiguousarray(images, dtype=np.int8).tobytes())
    cmd = qemu_command(core, elf, [str(path)], mix, memory)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"the firmware did not finish within {timeout:.0f} s under QEMU: "
                        f"verify fewer images or use the cmsis_nn kernels", "images", "kernels") from None
    return done.stdout + done.stderr


_OUTPUT = re.compile(r"^TINYML_OUTPUT (\d+) (\d+)((?: -?\d+)+)$", re.M)
_ARENA = re.compile(r"^TINYML_ARENA (\d+) (\d+)$", re.M)
_STACK = re.compile(r"^TINYML_STACK (\d+)$", re.M)
_ERROR = re.compile(r"^TINYML_ERROR (\d+) (.*)$", re.M)
ARENA_TOO_SMALL = 3   # tinyml::kArenaTooSmall


@dataclass
class FirmwareRun:
    """What the firmware printed under QEMU, read back: outputs per image and what the core measured."""
    outputs: np.ndarray          # int32, images x classes
    instructions: list[int]      # per image
    arena_used: int
    stack: int
    printed: str


def parse_run(printed: str, images: int, arena_error) -> FirmwareRun:
    """The runner's lines, or one line on why the firmware did not get through all the images; `arena_error()`
    gives the line for an arena that was too small."""
    error = _ERROR.search(printed)
    if error and int(error.group(1)) == ARENA_TOO_SMALL:
        raise UserError(arena_error(), "arena_bytes")
    if error:
        raise UserError(f"the firmware failed under QEMU: {error.group(2)}")
    outputs = {int(m.group(1)): (int(m.group(2)), [int(v) for v in m.group(3).split()])
               for m in _OUTPUT.finditer(printed)}
    arena_line, stack_line = _ARENA.search(printed), _STACK.search(printed)
    if "TINYML_FAULT" in printed or len(outputs) != images or not (arena_line and stack_line):
        tail = " | ".join(printed.strip().splitlines()[-3:])
        raise UserError(f"the firmware stopped after {len(outputs)} of {images} images under QEMU: {tail}")
    return FirmwareRun(np.array([outputs[i][1] for i in range(images)], dtype=np.int32),
                       [outputs[i][0] for i in range(images)], int(arena_line.group(1)), int(stack_line.group(1)),
                       printed)
