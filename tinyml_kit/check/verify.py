"""Proof on an emulated Cortex-M4F: the exported model API, compiled with arm-none-eabi-gcc against real TFLM
kernels, run under QEMU (`mps2-an386`) on validation images and compared with LiteRT's reference kernels.

What a board user cannot get from the host alone comes from the ELF and the emulated core: flash and static RAM
from the sections, the arena `arena_used_bytes()` reports on a 32-bit build, the stack high-water mark, and the
instructions each inference takes. The sources are the ones `export` writes, byte for byte.
"""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.export.toolchain import (
    CORTEX_M4F,
    CXX_FLAGS,
    TFLM_DEFINES,
    TflmDir,
    compile_all,
    elf_sizes,
    find_tflm_dir,
    require_tool,
    run_tool,
)

Log = Callable[[str], None]
KERNELS = ("ref", "cmsis_nn")
PLATFORM = TEMPLATES_DIR / "qemu"
QEMU_SECONDS_PER_IMAGE = 30.0   # generous: it stops a hung firmware, not a slow model

_OUTPUT = re.compile(r"^TINYML_OUTPUT (\d+) (\d+)((?: -?\d+)+)$", re.M)
_ARENA = re.compile(r"^TINYML_ARENA (\d+) (\d+)$", re.M)
_STACK = re.compile(r"^TINYML_STACK (\d+)$", re.M)
_ERROR = re.compile(r"^TINYML_ERROR (\d+) (.*)$", re.M)


def compile_for_qemu(sources: list[Path], tflm: TflmDir, build: Path, flags: list[str] = ()) -> list[Path]:
    """Compile C and C++ sources for the emulated Cortex-M4F with -Wall -Wextra -Werror; returns the objects."""
    gxx, gcc = require_tool("arm-none-eabi-g++"), require_tool("arm-none-eabi-gcc")
    jobs, objects = [], []
    for source in sources:
        obj = build / f"{source.name}.o"
        if source.suffix == ".c":
            cmd = [gcc, *CORTEX_M4F, "-std=c17", "-Os", "-Wall", "-Wextra", "-Werror"]
        else:
            cmd = [gxx, *CORTEX_M4F, *CXX_FLAGS, "-Os", *TFLM_DEFINES, *flags, "-I", str(source.parent),
                   *tflm.includes()]
        jobs.append(([*cmd, "-c", str(source), "-o", str(obj)], f"compiling {source.name}"))
        objects.append(obj)
    compile_all(jobs)
    return objects


def link_for_qemu(objects: list[Path], tflm: TflmDir, kernels: str, build: Path) -> Path:
    """Link with the QEMU startup code and linker script, newlib-nano and semihosting; returns the ELF."""
    shutil.copy(PLATFORM / "mps2_an386.ld", build / "mps2_an386.ld")
    elf = build / "firmware.elf"
    run_tool([require_tool("arm-none-eabi-g++"), *CORTEX_M4F, "-T", str(build / "mps2_an386.ld"), "-nostartfiles",
              "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections", *map(str, objects),
              str(tflm.library(kernels)), "-lm", "-o", str(elf)], "linking the firmware")
    return elf


def build_firmware(src: ModelSource, tflm: TflmDir, kernels: str, build: Path, arena_bytes: int | None = None) -> Path:
    """The model API as `export` writes it, with the QEMU runner and startup code; returns the ELF."""
    sources = src.write_api(build)
    for name in ("startup.c", "verify_main.cc"):
        shutil.copy(PLATFORM / name, build / name)
    arena = [f"-DTINYML_ARENA_BYTES={arena_bytes}"] if arena_bytes else []
    compiled = [p for p in sources if p.suffix == ".cc"] + [build / "startup.c", build / "verify_main.cc"]
    return link_for_qemu(compile_for_qemu(compiled, tflm, build, arena), tflm, kernels, build)


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
                        f"pass fewer --images or use --kernels cmsis_nn") from None
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


def preflight(tflm_dir: str | Path | None = None) -> TflmDir:
    """Everything verify needs from the machine, checked before any slow work: the toolchain, QEMU, TFLM."""
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    return find_tflm_dir(tflm_dir)


def verify_model(src: ModelSource, images: np.ndarray, board, kernels: str = "ref",
                 tflm_dir: str | Path | None = None, arena_bytes: int | None = None, log: Log = print) -> dict:
    """Build, run and compare; `images` are int8 model inputs, `board` the board whose budgets are checked."""
    from tinyml_kit.check.litert import LiteRtModel
    from tinyml_kit.export.op_resolver import resolver_methods, tree_builtins

    if kernels not in KERNELS:
        raise UserError(f"--kernels {kernels} is unknown: choose ref or cmsis_nn")
    tflm = preflight(tflm_dir)
    resolver_methods(src.info.ops, tree_builtins(tflm.tree))   # this tree can run every op, or the op is named
    model, arena_measured = src.model, src.arena_measured
    arena = arena_bytes or src.arena_alloc
    with tempfile.TemporaryDirectory(prefix="tinyml_verify_") as tmp:
        log(f"building the firmware for the Cortex-M4F (mps2-an386) with TFLM {kernels} kernels, arena {arena:,} B ...")
        elf = build_firmware(src, tflm, kernels, Path(tmp), arena_bytes)
        sizes = elf_sizes(elf)
        log(f"running {len(images)} validation images under QEMU ...")
        printed = run_firmware(elf, images, timeout=30 + QEMU_SECONDS_PER_IMAGE * len(images))
    error = _ERROR.search(printed)
    if error and int(error.group(1)) == 3:   # tinyml::kArenaTooSmall
        raise UserError(_arena_error(arena, arena_measured))
    if error:
        raise UserError(f"the firmware failed under QEMU: {error.group(2)}")
    outputs = {int(m.group(1)): (int(m.group(2)), [int(v) for v in m.group(3).split()])
               for m in _OUTPUT.finditer(printed)}
    arena_line, stack_line = _ARENA.search(printed), _STACK.search(printed)
    if "TINYML_FAULT" in printed or len(outputs) != len(images) or not (arena_line and stack_line):
        tail = " | ".join(printed.strip().splitlines()[-3:])
        raise UserError(f"the firmware stopped after {len(outputs)} of {len(images)} images under QEMU: {tail}")
    device = np.array([outputs[i][1] for i in range(len(images))], dtype=np.int32)
    host = LiteRtModel(model).predict(images).astype(np.int32)
    diff = np.abs(device - host)
    instructions = [outputs[i][0] for i in range(len(images))]
    stack = int(stack_line.group(1))
    arena_used = int(arena_line.group(1))
    result = {
        "kernels": kernels,
        "images": len(images),
        "bit_exact": bool(diff.max() == 0),
        "outputs_equal_fraction": float(np.mean(np.all(diff == 0, axis=1))),
        "max_abs_diff": int(diff.max()),
        "top1_agreement": float(np.mean(device.argmax(1) == host.argmax(1))),
        "elf_flash_bytes": sizes.flash_bytes,
        "elf_ram_bytes": sizes.ram_bytes,
        "elf_sections": {"text": sizes.text, "data": sizes.data, "bss": sizes.bss},
        "model_bytes": len(model),
        "arena_used_bytes": arena_used,
        "arena_reserved_bytes": arena,
        "arena_host_bytes": arena_measured,
        "stack_used_bytes": stack,
        "instructions_per_inference": int(np.median(instructions)),
        "instructions_range": [min(instructions), max(instructions)],
        "board": board.id,
        "board_flash_bytes": board.flash_linked_bytes,
        "board_ram_bytes": board.ram_linked_bytes,
    }
    # The ELF carries TFLM, the model API, the model and the verify harness (semihosting stdio), and no HAL: its
    # flash must fit what the board links for an application, and its static RAM plus the measured stack the
    # RAM the board links.
    result["fits_flash"] = sizes.flash_bytes <= board.flash_linked_bytes
    result["fits_ram"] = sizes.ram_bytes + stack <= board.ram_linked_bytes
    result["fits"] = result["fits_flash"] and result["fits_ram"]
    return result


def verify_run(run_dir: str | Path, kernels: str = "ref", images: int = 20, tflm_dir: str | Path | None = None,
               arena_bytes: int | None = None, log: Log = print) -> dict:
    """`verify` on a run directory: its model, its validation images, its board; saves `verify_<kernels>.json`."""
    import json
    import os

    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.tflite_info import read_model_file, require_int8
    from tinyml_kit.pipeline.runs import read_report, run_split

    run_dir = Path(run_dir)
    report = read_report(run_dir)
    if images < 1:
        raise UserError(f"--images {images}: pass at least 1")
    model, info = read_model_file(run_dir / "model.tflite")
    require_int8(info, str(run_dir / "model.tflite"))
    preflight(tflm_dir)
    val = run_split(report, tuple(info.inputs[0].shape[1:]), log).val
    chosen = val.x[:images].astype(np.float32)
    src = ModelSource(model, info, report["data"]["classes"], report["arena_bytes"], report["arena_alloc_bytes"])
    result = verify_model(src, info.inputs[0].quantize(chosen), get_board(report["board"]["id"]), kernels=kernels,
                          tflm_dir=tflm_dir, arena_bytes=arena_bytes, log=log)
    result["run_dir"] = str(run_dir.absolute())
    if len(chosen) < images:
        log(f"the validation split has {len(chosen)} images: verified all of them")
    target = run_dir / f"verify_{kernels}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, target)
    return result
