"""Proof on an emulated Cortex-M4F: the exported model API, compiled with arm-none-eabi-gcc against real TFLM
kernels, run under QEMU (`mps2-an386`) on validation images and compared with LiteRT's reference kernels.

What a board user cannot get from the host alone comes from the ELF and the emulated core: flash and static RAM
from the sections, the arena `arena_used_bytes()` reports on a 32-bit build, the stack high-water mark, and the
instructions each inference takes. The sources are the ones `export` writes, byte for byte.
"""

import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.core import progress
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.core.verdict import fits
from tinyml_kit.engine import require_engine
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.export.toolchain import (
    C_ENGINE_WARNINGS,
    CORTEX_M4F,
    CXX_FLAGS,
    TFLM_DEFINES,
    TflmDir,
    cmsis_nn_library,
    compile_all,
    elf_sizes,
    find_cmsis_nn_dir,
    find_tflm_dir,
    require_tool,
    run_tool,
)

logger = logging.getLogger(__name__)

KERNELS = ("ref", "cmsis_nn")
PLATFORM = TEMPLATES_DIR / "qemu"
QEMU_SECONDS_PER_IMAGE = 30.0   # generous: it stops a hung firmware, not a slow model

_OUTPUT = re.compile(r"^TINYML_OUTPUT (\d+) (\d+)((?: -?\d+)+)$", re.M)
_ARENA = re.compile(r"^TINYML_ARENA (\d+) (\d+)$", re.M)
_STACK = re.compile(r"^TINYML_STACK (\d+)$", re.M)
_ERROR = re.compile(r"^TINYML_ERROR (\d+) (.*)$", re.M)


C_FLAGS = ["-std=c17", "-Os", "-Wall", "-Wextra", "-Werror"]
# The C engine's generated model: what the issue promises it compiles with, and CMSIS-NN as TFLM's makefile builds
# its kernels (-O2; the DSP extension is on for -mcpu=cortex-m4).
ENGINE_C_FLAGS = [*C_ENGINE_WARNINGS, "-Os", "-ffunction-sections", "-fdata-sections"]
CMSIS_NN_FLAGS = [*CORTEX_M4F, "-O2", "-ffunction-sections", "-fdata-sections"]


def compile_for_qemu(sources: list[Path], build: Path, cxx_flags: list[str] = (), c_flags: list[str] = C_FLAGS
                     ) -> list[Path]:
    """Compile C and C++ sources for the emulated Cortex-M4F with -Wall -Wextra -Werror; returns the objects."""
    gxx, gcc = require_tool("arm-none-eabi-g++"), require_tool("arm-none-eabi-gcc")
    jobs, objects = [], []
    for source in sources:
        obj = build / f"{source.name}.o"
        if source.suffix == ".c":
            cmd = [gcc, *CORTEX_M4F, *c_flags, "-I", str(source.parent)]
        else:
            cmd = [gxx, *CORTEX_M4F, *CXX_FLAGS, "-Os", *cxx_flags, "-I", str(source.parent)]
        jobs.append(([*cmd, "-c", str(source), "-o", str(obj)], f"compiling {source.name}"))
        objects.append(obj)
    compile_all(jobs)
    return objects


def link_for_qemu(objects: list[Path], libraries: list[Path], build: Path) -> Path:
    """Link with the QEMU startup code and linker script, newlib-nano and semihosting; returns the ELF."""
    shutil.copy(PLATFORM / "mps2_an386.ld", build / "mps2_an386.ld")
    elf = build / "firmware.elf"
    run_tool([require_tool("arm-none-eabi-g++"), *CORTEX_M4F, "-T", str(build / "mps2_an386.ld"), "-nostartfiles",
              "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections", *map(str, objects),
              *map(str, libraries), "-lm", "-o", str(elf)], "linking the firmware")
    return elf


def _harness(build: Path) -> list[Path]:
    for name in ("startup.c", "verify_main.cc"):
        shutil.copy(PLATFORM / name, build / name)
    return [build / "startup.c", build / "verify_main.cc"]


def build_firmware(src: ModelSource, tflm: TflmDir, kernels: str, build: Path, arena_bytes: int | None = None) -> Path:
    """The TFLM model API as `export` writes it, with the QEMU runner and startup code; returns the ELF."""
    sources = src.write_api(build)
    arena = [f"-DTINYML_ARENA_BYTES={arena_bytes}"] if arena_bytes else []
    compiled = [p for p in sources if p.suffix == ".cc"] + _harness(build)
    objects = compile_for_qemu(compiled, build, [*TFLM_DEFINES, *arena, *tflm.includes()])
    return link_for_qemu(objects, [tflm.library(kernels)], build)


def build_c_firmware(program, labels: list[str], cmsis_nn: Path, build: Path, arena_bytes: int | None = None) -> Path:
    """The C engine's model as `export --engine c` writes it, CMSIS-NN compiled from source, the QEMU runner and
    startup code; returns the ELF."""
    library = cmsis_nn_library(cmsis_nn, require_tool("arm-none-eabi-gcc"), CMSIS_NN_FLAGS, "cortex-m4f")
    model_c = [p for p in program.write(build, labels) if p.suffix == ".c"]
    include = ["-isystem", str(cmsis_nn / "Include")] + ([f"-DTINYML_ARENA_BYTES={arena_bytes}"] if arena_bytes else [])
    objects = compile_for_qemu(model_c, build, c_flags=[*ENGINE_C_FLAGS, *include])
    objects += compile_for_qemu(_harness(build), build, ["-DTINYML_ENGINE_C"])
    return link_for_qemu(objects, [library], build)


def run_firmware(elf: Path, images: np.ndarray, timeout: float) -> str:
    """Run the firmware under QEMU over `images` (int8), returning what it printed."""
    qemu = require_tool("qemu-system-arm")
    path = elf.parent / "images.bin"
    path.write_bytes(np.ascontiguousarray(images, dtype=np.int8).tobytes())
    if "," in str(path) or " " in str(path):
        raise UserError(f"build directory {elf.parent} contains ',' or ' ', which QEMU's semihosting arguments "
                        f"cannot carry: set TMPDIR to a plain path")
    cmd = [qemu, "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "null",
           "-icount", "shift=0", "-semihosting-config", f"enable=on,target=native,arg=firmware.elf,arg={path}",
           "-kernel", str(elf)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"the firmware did not finish within {timeout:.0f} s under QEMU: "
                        f"verify fewer images or use the cmsis_nn kernels", "images", "kernels") from None
    return done.stdout + done.stderr


def _arena_error(arena: int, arena_host: int) -> str:
    """Why the arena failed, with numbers that are true. TFLM stops at the first allocation that does not fit and
    reports only that one's shortfall, which can be a few bytes while the model needs tens of KB more, so the
    requirement given is the host's measurement of the whole arena (a 32-bit core needs no more than it)."""
    if arena < arena_host:
        need = f"the host measured {arena_host:,} bytes for the whole model: reserve at least that"
    else:   # more than the host measured and still too small: nothing in hand bounds the need
        need = f"that is no less than the {arena_host:,} bytes the host measured, yet not enough here: reserve more"
    return (f"the tensor arena of {arena:,} bytes is too small on the Cortex-M4F: TFLM gave up at the first "
            f"allocation that did not fit; {need} (kTensorArenaSize in model_data.h)")


def preflight(tflm_dir: str | Path | None = None, engine: str = "tflm", cmsis_nn_dir: str | Path | None = None):
    """Everything verify needs from the machine, checked before any slow work: the toolchain, QEMU, and the TFLM
    tree (returned) or, for the C engine, CMSIS-NN's directory (returned)."""
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    return find_cmsis_nn_dir(cmsis_nn_dir, tflm_dir) if engine == "c" else find_tflm_dir(tflm_dir)


@dataclass
class _Firmware:
    """What differs between the engines: how to build, what arena is reserved and what the host measured."""
    build: object                # Path -> ELF
    arena_reserved: int
    arena_measured: int
    kernels: str
    what: str


def _tflm_firmware(src: ModelSource, kernels: str | None, tflm_dir, arena_bytes: int | None) -> _Firmware:
    from tinyml_kit.export.op_resolver import resolver_methods, tree_builtins

    kernels = kernels or "ref"
    if kernels not in KERNELS:
        raise UserError(f"kernels '{kernels}' are unknown: choose ref or cmsis_nn", "kernels")
    tflm = preflight(tflm_dir)
    resolver_methods(src.info.ops, tree_builtins(tflm.tree))   # this tree can run every op, or the op is named
    return _Firmware(lambda build: build_firmware(src, tflm, kernels, build, arena_bytes),
                     arena_bytes or src.arena_alloc, src.arena_measured, kernels, f"TFLM {kernels} kernels")


def _c_firmware(src: ModelSource, kernels: str | None, tflm_dir, cmsis_nn_dir, arena_bytes: int | None) -> _Firmware:
    if kernels not in (None, "cmsis_nn"):
        raise UserError(f"the C engine calls CMSIS-NN's kernels, not '{kernels}': drop the kernels option or use "
                        f"the TFLM engine", "kernels", "engine")
    cmsis_nn = preflight(tflm_dir, "c", cmsis_nn_dir)
    program = src.program
    if arena_bytes is not None and arena_bytes < program.arena_bytes:
        raise UserError(f"the tensor arena of {arena_bytes:,} bytes is below the C engine's static plan of "
                        f"{program.arena_bytes:,} bytes: reserve at least that", "arena_bytes")
    return _Firmware(lambda build: build_c_firmware(program, src.labels, cmsis_nn, build, arena_bytes),
                     arena_bytes or program.arena_bytes, program.arena_bytes, "cmsis_nn", "the C engine on CMSIS-NN")


def verify_model(src: ModelSource, images: np.ndarray, board, kernels: str | None = None,
                 tflm_dir: str | Path | None = None, arena_bytes: int | None = None, engine: str = "tflm",
                 cmsis_nn_dir: str | Path | None = None) -> dict:
    """Build, run and compare; `images` are int8 model inputs, `board` the board whose budgets are checked."""
    from tinyml_kit.core.litert import LiteRtModel

    require_engine(engine)
    firmware = (_c_firmware(src, kernels, tflm_dir, cmsis_nn_dir, arena_bytes) if engine == "c" else
                _tflm_firmware(src, kernels, tflm_dir, arena_bytes))
    with tempfile.TemporaryDirectory(prefix="tinyml_verify_") as tmp:
        logger.info(f"building the firmware for the Cortex-M4F (mps2-an386) with {firmware.what}, arena "
                    f"{firmware.arena_reserved:,} B ...")
        elf = firmware.build(Path(tmp))
        sizes = elf_sizes(elf)
        logger.info(f"running {len(images)} validation images under QEMU ...")
        with progress.task(f"QEMU: {len(images)} images on the Cortex-M4F"):
            printed = run_firmware(elf, images, timeout=30 + QEMU_SECONDS_PER_IMAGE * len(images))
    run = parse_run(printed, len(images), firmware.arena_reserved, firmware.arena_measured)
    host = LiteRtModel(src.model).predict(images).astype(np.int32)
    diff = np.abs(run.outputs - host)
    result = {
        "engine": engine,
        "kernels": firmware.kernels,
        "images": len(images),
        "bit_exact": bool(diff.max() == 0),
        "outputs_equal_fraction": float(np.mean(np.all(diff == 0, axis=1))),
        "max_abs_diff": int(diff.max()),
        "top1_agreement": float(np.mean(run.outputs.argmax(1) == host.argmax(1))),
        "elf_flash_bytes": sizes.flash_bytes,
        "elf_ram_bytes": sizes.ram_bytes,
        "elf_sections": {"text": sizes.text, "data": sizes.data, "bss": sizes.bss},
        "model_bytes": src.device_bytes,
        "arena_used_bytes": run.arena_used,
        "arena_reserved_bytes": firmware.arena_reserved,
        "arena_host_bytes": firmware.arena_measured,
        "stack_used_bytes": run.stack,
        "instructions_per_inference": int(np.median(run.instructions)),
        "instructions_range": [min(run.instructions), max(run.instructions)],
        "board": board.id,
        "board_flash_bytes": board.flash_linked_bytes,
        "board_ram_bytes": board.ram_linked_bytes,
    }
    # The ELF carries the engine, the model API, the model and the verify harness (semihosting stdio), and no HAL:
    # its flash must fit what the board links for an application, and its static RAM plus the measured stack the
    # RAM the board links.
    verdict = fits(flash=(sizes.flash_bytes, board.flash_linked_bytes),
                   ram=(sizes.ram_bytes + run.stack, board.ram_linked_bytes))
    result.update(fits_flash=verdict["flash"].ok, fits_ram=verdict["ram"].ok, fits=verdict.ok)
    return result


@dataclass
class FirmwareRun:
    """What the firmware printed under QEMU, read back: outputs per image and what the core measured."""
    outputs: np.ndarray          # int32, images x classes
    instructions: list[int]      # per image
    arena_used: int
    stack: int


def parse_run(printed: str, images: int, arena: int, arena_measured: int) -> FirmwareRun:
    """The runner's lines, or one line on why the firmware did not get through all the images."""
    error = _ERROR.search(printed)
    if error and int(error.group(1)) == 3:   # tinyml::kArenaTooSmall
        raise UserError(_arena_error(arena, arena_measured), "arena_bytes")
    if error:
        raise UserError(f"the firmware failed under QEMU: {error.group(2)}")
    outputs = {int(m.group(1)): (int(m.group(2)), [int(v) for v in m.group(3).split()])
               for m in _OUTPUT.finditer(printed)}
    arena_line, stack_line = _ARENA.search(printed), _STACK.search(printed)
    if "TINYML_FAULT" in printed or len(outputs) != images or not (arena_line and stack_line):
        tail = " | ".join(printed.strip().splitlines()[-3:])
        raise UserError(f"the firmware stopped after {len(outputs)} of {images} images under QEMU: {tail}")
    return FirmwareRun(np.array([outputs[i][1] for i in range(images)], dtype=np.int32),
                       [outputs[i][0] for i in range(images)], int(arena_line.group(1)), int(stack_line.group(1)))


def verify_lines(r: dict) -> list[str]:
    """verify's result in words: agreement with the host, the ELF against the board, arena and instructions."""
    c_engine = r.get("engine") == "c"
    runtime = "the C engine on CMSIS-NN" if c_engine else f"{r['kernels']} kernels"
    planned = f"static plan {r['arena_host_bytes']:,}" if c_engine else f"host measured {r['arena_host_bytes']:,}"
    return [
        f"{r['images']} images on the Cortex-M4F ({runtime}): "
        f"{'bit-exact with' if r['bit_exact'] else 'DIFFERENT from'} LiteRT's reference kernels "
        f"(outputs equal {r['outputs_equal_fraction']:.0%}, max diff {r['max_abs_diff']}, "
        f"top-1 agreement {r['top1_agreement']:.0%})",
        f"  ELF flash {r['elf_flash_bytes']:,} / {r['board_flash_bytes']:,} B, RAM {r['elf_ram_bytes']:,} "
        f"+ stack {r['stack_used_bytes']:,} / {r['board_ram_bytes']:,} B ({r['board']}): "
        f"{'fits' if r['fits'] else 'DOES NOT FIT'}",
        f"  arena used {r['arena_used_bytes']:,} of {r['arena_reserved_bytes']:,} B "
        f"({planned}); {r['instructions_per_inference']:,} instructions per inference",
    ]
