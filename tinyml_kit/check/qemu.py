"""Emulated Cortex-M cores: QEMU's MPS2/MPS3 machines, how firmware is compiled, linked and run on each, and what the
firmware prints back.

Each machine has its own memory map (read from QEMU's hw/arm/mps2.c and mps2-tz.c and checked by running firmware
at each address), and its SysTick counts its own processor clock. QEMU runs with `-icount shift=0`, so every
instruction advances virtual time by 1 ns and a SysTick tick is 1000 / MHz instructions: 40 on the MPS2 machines at
25 MHz, 50 on AN505 at 20 MHz, 31.25 on AN547 at 32 MHz (measured: 10^8 instructions of a two-instruction loop
gave exactly 2.5 M, 2.5 M, 2.0 M and 3.2 M ticks). QEMU counts instructions, not cycles: latency comes from them
through a cycles-per-instruction figure per core (`core.latency`).
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.core.templates import render
from tinyml_kit.export.toolchain import CXX_FLAGS, compile_all, require_tool, run_tool

PLATFORM = TEMPLATES_DIR / "qemu"
C_FLAGS = ["-std=c17", "-Os", "-Wall", "-Wextra", "-Werror"]


@dataclass(frozen=True)
class EmulatedCore:
    id: str                       # what --core takes
    title: str                    # the core as boards.yaml names it
    machine: str                  # QEMU -M
    cpu: str                      # QEMU -cpu
    gcc_flags: tuple[str, ...]    # the flags the TFLM tree's prebuilt libraries were built with
    prebuilt: str                 # prebuilt/<dir> in the TFLM directory
    systick_mhz: int              # the machine's processor clock, which SysTick counts
    vectors: int                  # where the core fetches its vector table at reset
    flash: tuple[int, int]        # origin, length: code, rodata, the model
    ram: tuple[int, int]          # origin, length: data, bss (the arena), heap, stack
    memory_note: str
    mve: bool = False             # Helium: CMSIS-NN takes its MVE kernels

    def linker_context(self) -> dict:
        return dict(machine=self.machine, title=self.title, memory_note=self.memory_note,
                    vectors_origin=self.vectors, flash_origin=self.flash[0], flash_length=self.flash[1],
                    ram_origin=self.ram[0], ram_length=self.ram[1])


_MIB = 1 << 20
CORES = {c.id: c for c in (
    EmulatedCore("m4", "Cortex-M4F", "mps2-an386", "cortex-m4",
                 ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m4f", 25,
                 0x0, (0x400, 4 * _MIB - 0x400), (0x20000000, 4 * _MIB),
                 "ZBT SSRAM1 (4 MiB at 0x0) serves as flash, SSRAM2/3 (4 MiB at 0x20000000) as RAM."),
    EmulatedCore("m7", "Cortex-M7", "mps2-an500", "cortex-m7",
                 ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m7", 25,
                 0x0, (0x400, 4 * _MIB - 0x400), (0x20000000, 4 * _MIB),
                 "The AN386 map: SSRAM1 (4 MiB at 0x0) as flash, SSRAM2/3 (4 MiB at 0x20000000) as RAM."),
    EmulatedCore("m33", "Cortex-M33", "mps2-an505", "cortex-m33",
                 ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m33", 20,
                 0x10000000, (0x10000400, 4 * _MIB - 0x400), (0x38000000, 4 * _MIB),
                 "Boots Secure: SSRAM1's Secure alias (4 MiB at 0x10000000) as flash, SSRAM2+3's (4 MiB at "
                 "0x38000000) as RAM."),
    EmulatedCore("m55", "Cortex-M55", "mps3-an547", "cortex-m55",
                 ("-mcpu=cortex-m55", "-mfloat-abi=hard", "-mthumb"), "cortex-m55", 32,
                 0x10000000, (0x38000000, 8 * _MIB), (0x31000000, 4 * _MIB),
                 "Boots Secure: vectors in ITCM (Secure alias 0x10000000), code in QSPI (8 MiB read-only at "
                 "0x38000000), RAM in SRAM2 (4 MiB at 0x31000000).", mve=True),
)}
CORE_IDS = tuple(CORES)


def core_for_board(board) -> EmulatedCore:
    """The emulated core that stands for `board`'s, or one line on why its core cannot be emulated here."""
    for core in CORES.values():
        if core.title == board.core:
            return core
    raise UserError(f"board '{board.id}' has a {board.core}, which no QEMU machine here emulates: verify on "
                    f"{', '.join(CORE_IDS[:-1])} or {CORE_IDS[-1]} with --core; its latency is the instruction "
                    f"model's estimate alone", "core")


def require_core(core: str | None, board) -> EmulatedCore:
    if core is None:
        return core_for_board(board)
    if core not in CORES:
        raise UserError(f"core '{core}' cannot be emulated: choose {', '.join(CORE_IDS[:-1])} or {CORE_IDS[-1]}",
                        "core")
    return CORES[core]


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
              *map(str, libraries), "-lm", "-o", str(elf)], "linking the firmware")
    return elf


def run_firmware(core: EmulatedCore, elf: Path, images: np.ndarray, timeout: float) -> str:
    """Run the firmware on `core`'s machine over `images` (int8), returning what it printed."""
    qemu = require_tool("qemu-system-arm")
    path = elf.parent / "images.bin"
    path.write_bytes(np.ascontiguousarray(images, dtype=np.int8).tobytes())
    if "," in str(path) or " " in str(path):
        raise UserError(f"build directory {elf.parent} contains ',' or ' ', which QEMU's semihosting arguments "
                        f"cannot carry: set TMPDIR to a plain path")
    cmd = [qemu, "-M", core.machine, "-cpu", core.cpu, "-nographic", "-monitor", "none", "-serial", "null",
           "-icount", "shift=0", "-semihosting-config", f"enable=on,target=native,arg=firmware.elf,arg={path}",
           "-kernel", str(elf)]
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
