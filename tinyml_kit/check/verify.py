"""Proof on an emulated Cortex-M core: the exported model API, compiled with arm-none-eabi-gcc against real TFLM
kernels (or the C engine against CMSIS-NN), run under QEMU on validation images and compared with LiteRT's
reference kernels. The board's own core by default: Cortex-M4F, M7, M33 or M55 (`check.qemu`).

What a board user cannot get from the host alone comes from the ELF and the emulated core: flash and static RAM
from the sections, the arena `arena_used_bytes()` reports on a 32-bit build, the stack high-water mark, the
instructions each inference takes and, with `profile`, each op's share of them. The sources are the ones `export`
writes, byte for byte.
"""

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tinyml_kit.check.plugin import inference_windows, read_mix
from tinyml_kit.check.profile import parse_profile, profile_lines, profile_summary
from tinyml_kit.check.qemu import (
    compile_for_qemu,
    harness,
    link_for_qemu,
    parse_run,
    require_arena_fits,
    run_firmware,
)
from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.core import progress
from tinyml_kit.core.budget import model_ram_bytes
from tinyml_kit.core.cores import EmulatedCore, require_core
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.timing import TIMINGS, MemoryTiming, memory_timing
from tinyml_kit.core.verdict import fits
from tinyml_kit.core.verification import CycleEstimate, ElfSections, OpProfile, VerifyResult
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.export.op_resolver import resolver_methods, tree_builtins
from tinyml_kit.export.toolchain import (
    C_ENGINE_WARNINGS,
    TFLM_DEFINES,
    TflmDir,
    cmsis_nn_defines,
    cmsis_nn_library,
    elf_sizes,
    find_cmsis_nn_dir,
    find_tflm_dir,
    require_tool,
)
from tinyml_kit.solve.engines import DEFAULT, TFLM, Engine, get_engine

logger = logging.getLogger(__name__)

KERNELS = ("ref", "cmsis_nn")
QEMU_SECONDS_PER_IMAGE = 30.0   # generous: it stops a hung firmware, not a slow model


def _profile_defines(src: ModelSource, profile: bool) -> list[str]:
    """With `profile`, the hooks on and a record of exactly the model's ops."""
    return ["-DTINYML_PROFILE", f"-DTINYML_PROFILE_OPS={src.info.op_count}"] if profile else []

# The C engine's generated model: what the issue promises it compiles with, and CMSIS-NN as TFLM's makefile builds
# its kernels (-O2; the DSP extension is on for -mcpu=cortex-m4 and later), both with `cmsis_nn_defines` for the core.
ENGINE_C_FLAGS = [*C_ENGINE_WARNINGS, "-Os", "-ffunction-sections", "-fdata-sections"]
CMSIS_NN_FLAGS = ["-O2", "-ffunction-sections", "-fdata-sections"]


def build_firmware(src: ModelSource, tflm: TflmDir, kernels: str, core: EmulatedCore, build: Path,
                   arena_bytes: int | None = None, profile: bool = False) -> Path:
    """The TFLM model API as `export` writes it, with the QEMU runner and startup code; returns the ELF."""
    sources = src.write_api(build)
    defines = [f"-DTINYML_ARENA_BYTES={arena_bytes}"] if arena_bytes else []
    runner, runner_defines = harness(core, build)
    compiled = [p for p in sources if p.suffix == ".cc"] + runner
    flags = [*TFLM_DEFINES, *defines, *runner_defines, *_profile_defines(src, profile), *tflm.includes()]
    objects = compile_for_qemu(core, compiled, build, flags)
    return link_for_qemu(core, objects, [tflm.library(kernels, core.prebuilt)], build)


def build_c_firmware(src: ModelSource, cmsis_nn: Path, core: EmulatedCore, build: Path,
                     arena_bytes: int | None = None, profile: bool = False) -> Path:
    """The C engine's model as `export --engine c` writes it, CMSIS-NN compiled from source for `core` (cached),
    the QEMU runner and startup code; returns the ELF."""
    nn_defines = cmsis_nn_defines(core.gcc_flags)
    library = cmsis_nn_library(cmsis_nn, require_tool("arm-none-eabi-gcc"),
                               [*core.gcc_flags, *CMSIS_NN_FLAGS, *nn_defines], core.prebuilt)
    model_c = [p for p in src.program.write(build, src.labels) if p.suffix == ".c"]
    defines = ([f"-DTINYML_ARENA_BYTES={arena_bytes}"] if arena_bytes else []) + _profile_defines(src, profile)
    objects = compile_for_qemu(core, model_c, build,
                               c_flags=[*ENGINE_C_FLAGS, *nn_defines, "-isystem", str(cmsis_nn / "Include"), *defines])
    runner, runner_defines = harness(core, build)
    objects += compile_for_qemu(core, runner, build, ["-DTINYML_ENGINE_C", *runner_defines, *defines])
    return link_for_qemu(core, objects, [library], build)


def _arena_error(arena: int, arena_host: int, core: EmulatedCore) -> str:
    """Why the arena failed, with numbers that are true. TFLM stops at the first allocation that does not fit and
    reports only that one's shortfall, which can be a few bytes while the model needs tens of KB more, so the
    requirement given is the host's measurement of the whole arena (a 32-bit core needs no more than it)."""
    if arena < arena_host:
        need = f"the host measured {arena_host:,} bytes for the whole model: reserve at least that"
    else:   # more than the host measured and still too small: nothing in hand bounds the need
        need = f"that is no less than the {arena_host:,} bytes the host measured, yet not enough here: reserve more"
    return (f"the tensor arena of {arena:,} bytes is too small on the {core.title}: TFLM gave up at the first "
            f"allocation that did not fit; {need} (kTensorArenaSize in model_data.h)")


def preflight(tflm_dir: str | Path | None = None, engine: Engine | str = DEFAULT,
              cmsis_nn_dir: str | Path | None = None):
    """Everything verify needs from the machine, checked before any slow work: the toolchain, QEMU, and the TFLM
    tree (returned) or, for the C engine, CMSIS-NN's directory (returned)."""
    engine = get_engine(engine)
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    return engine.part(_TREES)(tflm_dir, cmsis_nn_dir)


_TREES = {"tflm": lambda tflm_dir, cmsis_nn_dir: find_tflm_dir(tflm_dir),   # what each engine's firmware builds on
          "c": lambda tflm_dir, cmsis_nn_dir: find_cmsis_nn_dir(cmsis_nn_dir, tflm_dir)}


@dataclass
class _Firmware:
    """What differs between the engines: how to build, what arena is reserved and what the host measured."""
    build: object                # Path -> ELF
    arena_reserved: int
    arena_measured: int
    kernels: str
    what: str
    ram_constants: int = 0       # bytes of constants the C engine's plan copies into RAM


def _tflm_firmware(src: ModelSource, kernels: str | None, tflm_dir, cmsis_nn_dir, arena_bytes: int | None,
                   core: EmulatedCore, profile: bool) -> _Firmware:
    kernels = kernels or "ref"
    if kernels not in KERNELS:
        raise UserError(f"kernels '{kernels}' are unknown: choose ref or cmsis_nn", "kernels")
    tflm = preflight(tflm_dir, TFLM)
    src = replace(src, engine=TFLM)   # the flatbuffer and its API, whichever engine the source was made for
    resolver_methods(src.info.ops, tree_builtins(tflm.tree))   # this tree can run every op, or the op is named
    tflm.library(kernels, core.prebuilt)   # present, or one line before any compiling
    return _Firmware(lambda build: build_firmware(src, tflm, kernels, core, build, arena_bytes, profile),
                     arena_bytes or src.arena_alloc, src.arena_measured, kernels, f"TFLM {kernels} kernels")


def _c_firmware(src: ModelSource, kernels: str | None, tflm_dir, cmsis_nn_dir, arena_bytes: int | None,
                core: EmulatedCore, profile: bool) -> _Firmware:
    if kernels not in (None, "cmsis_nn"):
        raise UserError(f"the C engine calls CMSIS-NN's kernels, not '{kernels}': drop the kernels option or use "
                        f"the TFLM engine", "kernels", "engine")
    cmsis_nn = preflight(tflm_dir, "c", cmsis_nn_dir)
    src = src.for_family(core.family)   # planned for the kernels CMSIS-NN takes on this core
    program = src.program
    if arena_bytes is not None and arena_bytes < program.arena_bytes:
        raise UserError(f"the tensor arena of {arena_bytes:,} bytes is below the C engine's static plan of "
                        f"{program.arena_bytes:,} bytes: reserve at least that", "arena_bytes")
    return _Firmware(lambda build: build_c_firmware(src, cmsis_nn, core, build, arena_bytes, profile),
                     arena_bytes or program.arena_bytes, program.arena_bytes, "cmsis_nn", "the C engine on CMSIS-NN",
                     program.ram_constant_bytes)


_FIRMWARE = {"tflm": _tflm_firmware, "c": _c_firmware}   # each engine's firmware for `verify`


def verify_model(src: ModelSource, images: np.ndarray, board, kernels: str | None = None,
                 tflm_dir: str | Path | None = None, arena_bytes: int | None = None, engine: Engine | str = DEFAULT,
                 cmsis_nn_dir: str | Path | None = None, core: str | None = None, profile: bool = False,
                 memory: MemoryTiming | None = None) -> VerifyResult:
    """Build, run and compare; `images` are int8 model inputs, `board` the board whose budgets are checked, `core`
    the emulated core (default: the board's), `profile` whether each op's instructions are counted too, `memory`
    the flash timing cycles are estimated with (default: the board's)."""
    engine = get_engine(engine)
    emulated = require_core(core, board)
    memory = memory or memory_timing(board)   # a board without memory data is refused here, before building
    src = src.for_family(src.family, src.ram_bytes or model_ram_bytes(board))   # the C engine's weights in RAM
    firmware = engine.part(_FIRMWARE)(src, kernels, tflm_dir, cmsis_nn_dir, arena_bytes, emulated, profile)
    require_arena_fits(emulated, firmware.arena_reserved, board)
    with tempfile.TemporaryDirectory(prefix="tinyml_verify_") as tmp:
        logger.info(f"building the firmware for the {emulated.title} ({emulated.machine}) with {firmware.what}, "
                    f"arena {firmware.arena_reserved:,} B ...")
        elf = firmware.build(Path(tmp))
        sizes = elf_sizes(elf)
        logger.info(f"running {len(images)} validation images under QEMU ...")
        with progress.task(f"QEMU: {len(images)} images on the {emulated.title}"):
            printed = run_firmware(emulated, elf, images, timeout=30 + QEMU_SECONDS_PER_IMAGE * len(images),
                                   mix=Path(tmp) / "mix.json", memory=memory)
        run = parse_run(printed, len(images),
                        lambda: _arena_error(firmware.arena_reserved, firmware.arena_measured, emulated))
        instructions = int(np.median(run.instructions))
        ops = parse_profile(run.printed, len(images), instructions) if profile else []
        cycles = _cycles(read_mix(Path(tmp) / "mix.json"), len(images), ops, emulated, board, memory)
    host = LiteRtModel(src.model).predict(images).astype(np.int32)
    diff = np.abs(run.outputs - host)
    # TFLM's kernels round some ops otherwise than LiteRT's (`check.op_difference`): its firmware is then held to
    # TFLM on this machine
    same_tflm = (bool(np.array_equal(run.outputs, TflmModel(src.model).predict(images)))
                 if engine.runs_flatbuffer and diff.any() else None)
    # The ELF carries the engine, the model API, the model and the verify harness (semihosting stdio), and no HAL:
    # its flash must fit what the board links for an application, and its static RAM plus the measured stack the
    # RAM the board links.
    verdict = fits(flash=(sizes.flash_bytes, board.flash_linked_bytes),
                   ram=(sizes.ram_bytes + run.stack, board.ram_linked_bytes))
    return VerifyResult(
        engine=engine.name, kernels=firmware.kernels, core=emulated.id, core_title=emulated.title,
        machine=emulated.machine, images=len(images), bit_exact=bool(diff.max() == 0),
        outputs_equal_fraction=float(np.mean(np.all(diff == 0, axis=1))), max_abs_diff=int(diff.max()),
        top1_agreement=float(np.mean(run.outputs.argmax(1) == host.argmax(1))),
        elf_flash_bytes=sizes.flash_bytes, elf_ram_bytes=sizes.ram_bytes,
        elf_sections=ElfSections(sizes.text, sizes.data, sizes.bss), model_bytes=src.device_bytes,
        arena_used_bytes=run.arena_used, arena_reserved_bytes=firmware.arena_reserved,
        arena_host_bytes=firmware.arena_measured, stack_used_bytes=run.stack, instructions_per_inference=instructions,
        instructions_range=[min(run.instructions), max(run.instructions)], board=board.id,
        board_flash_bytes=board.flash_linked_bytes, board_ram_bytes=board.ram_linked_bytes,
        fits_flash=verdict["flash"].ok, fits_ram=verdict["ram"].ok, fits=verdict.ok,
        profile=profile_summary(ops, instructions) if profile else None, cycles=cycles,
        ram_constant_bytes=firmware.ram_constants, equals_host_tflm=same_tflm)


def _cycles(mix, images: int, ops: list[OpProfile], core: EmulatedCore, board, memory: MemoryTiming
            ) -> CycleEstimate:
    """The plugin's cycle estimate per inference (median over the images) and its latency at the board's clock;
    with a profile, each op's median cycles are set on `ops`."""
    windows = inference_windows(mix, images, len(ops))
    per_image = [round(whole.cycles) for whole, _ in windows]
    for i, op in enumerate(ops):
        op.cycles = int(round(np.median([op_windows[i].cycles for _, op_windows in windows])))
        op.flash_misses = int(round(np.median([op_windows[i].flash_misses for _, op_windows in windows])))
        op.flash_loads = int(round(np.median([op_windows[i].flash_loads for _, op_windows in windows])))
    timing = TIMINGS[core.id]
    median = int(round(np.median(per_image)))
    misses = int(round(np.median([whole.flash_misses for whole, _ in windows])))
    return CycleEstimate(median, [min(per_image), max(per_image)], round(median / (board.clock_mhz * 1e3), 3),
                         board.clock_mhz, timing.validated,
                         f"{timing.validation or 'NOT validated against any chip'}; {timing.source}; flash: "
                         f"{memory.what}", misses)


def verify_lines(r: VerifyResult) -> list[str]:
    """verify's result in words: agreement with the host, the ELF against the board, arena and instructions."""
    words = get_engine(r.engine).words
    runtime = words.firmware.format(kernels=r.kernels)
    planned = words.arena_host.format(used=r.arena_host_bytes)
    lines = [
        f"{r.images} images on the {r.core_title} ({runtime}): "
        f"{'bit-exact with' if r.bit_exact else 'DIFFERENT from'} LiteRT's reference kernels "
        f"(outputs equal {r.outputs_equal_fraction:.0%}, max diff {r.max_abs_diff}, "
        f"top-1 agreement {r.top1_agreement:.0%})"
        + ("" if r.equals_host_tflm is None else
           f"; {'bit-exact with' if r.equals_host_tflm else 'DIFFERENT from'} TFLM on this machine"),
        f"  ELF{' (with the profiler)' if r.profiled else ''} flash {r.elf_flash_bytes:,} / "
        f"{r.board_flash_bytes:,} B, RAM {r.elf_ram_bytes:,} "
        f"+ stack {r.stack_used_bytes:,} / {r.board_ram_bytes:,} B ({r.board}): "
        f"{'fits' if r.fits else 'DOES NOT FIT'}"
        + (f" ({r.ram_constant_bytes:,} B of the RAM: constants copied there for speed)" if r.ram_constant_bytes
           else ""),
        f"  arena used {r.arena_used_bytes:,} of {r.arena_reserved_bytes:,} B "
        f"({planned}); {r.instructions_per_inference:,} instructions per inference",
        *cycle_lines(r),
    ]
    return lines + (profile_lines(r) if r.profiled else [])


def cycle_lines(r: VerifyResult) -> list[str]:
    """The cycle estimate and the latency it gives at the board's clock, with what it rests on."""
    c = r.cycles
    if c is None:
        return []
    return [f"  ~{c.cycles_est:,} cycles per inference est. = {c.latency_ms:g} ms at {c.clock_mhz:g} MHz ({r.board})",
            f"    timing: {c.basis}"]
