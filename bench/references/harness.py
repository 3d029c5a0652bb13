"""Published cycle counts of third-party code, rebuilt for an emulated core and measured by the instruction-mix
plugin: the ground truth a cycle model is checked against.

A reference is code whose cycles on a real chip were published together with how it was built (compiler, flags,
clock, memory). It is rebuilt here with the REFERENCE's flags (not the TFLM libraries' `core.gcc_flags`: Embench,
for one, is soft-float), linked with the machine's own linker script and startup (`check.qemu`), and run under
QEMU with `-icount shift=0` and the plugin. The published window is marked in the firmware by a volatile read of
SysTick's current-value register (`reference_mark()` from `reference_mark.h`, on every build's include path): the
plugin records its counters at each such read whether or not SysTick is enabled, so two reads bound exactly the
code the published timer bounded. Builds go into the user cache (`export.toolchain.cached_build`), keyed by the
sources' text, the flags and the compiler, never into the repository.

The plugin's marks carry the instructions and the cycles estimated so far (the core's timing table, flash at the
reference's own wait states); a window is the difference of two (`check.plugin.between`).
"""

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from tinyml_kit.check.plugin import SYSTICK_CURRENT, InstructionMix, Window, between, read_mix
from tinyml_kit.check.qemu import PLATFORM, qemu_command
from tinyml_kit.core.cores import CORES, EmulatedCore
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.templates import render
from tinyml_kit.export.toolchain import cached_build, compile_all, require_tool, run_tool

MARK_HEADER = f"""/* A mark for QEMU's instruction-mix plugin: one volatile read of SysTick's current-value register,
 * which the plugin records its counters at (SysTick need not run). */
#ifndef REFERENCE_MARK_H
#define REFERENCE_MARK_H
#include <stdint.h>
static inline void reference_mark(void) {{ (void)*(volatile uint32_t*){SYSTICK_CURRENT:#x}u; }}
#endif
"""
# newlib-nano and semihosting for stdio and exit, the startup's own reset handler, unused sections dropped.
LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections"]


@dataclass(frozen=True)
class Reference:
    """One published measurement and the ELF that reproduces its window on an emulated core."""
    name: str
    core: str                    # tinyml_kit.core.cores.CORES id
    source: str                  # where the published number is (repository, file, version)
    conditions: str              # the chip, clock, memory, compiler and flags it was measured under
    published_cycles: float      # cycles of one window on the published chip
    elf: Path
    window: tuple[int, int] = (0, 1)   # which reads of SysTick (plugin marks, in order) open and close the window


@dataclass(frozen=True)
class Measurement:
    reference: Reference
    mix: InstructionMix          # the whole run: boot, the window, verification, exit
    window: Window | None         # between the two marks of `reference.window`; None: never closed
    exit_status: int             # QEMU's, from the firmware's semihosting exit
    printed: str


def mix_difference(more: InstructionMix, less: InstructionMix) -> InstructionMix:
    """Field-by-field `more - less` of two runs' mixes (counts and per-class/per-region counts; marks dropped): two
    builds that differ only in how often the window's work repeats give the mix of that work alone."""
    def minus(a, b):
        if isinstance(a, dict):
            return {k: a[k] - b[k] for k in a}
        return () if isinstance(a, tuple) else a - b
    return InstructionMix(**{f.name: minus(getattr(more, f.name), getattr(less, f.name)) for f in fields(more)})


def _key(*parts) -> str:
    """What a cached build depends on, with the cross compiler's version among it, hashed for its folder name."""
    version = run_tool([require_tool("arm-none-eabi-gcc"), "--version"], "asking arm-none-eabi-gcc its version").stdout
    return hashlib.sha256(repr((parts, version)).encode()).hexdigest()[:16]


def _compile(units: list[Path], flags: list[str], includes: list[Path], build: Path, tag: str) -> list[Path]:
    """Each C or assembler unit compiled with `flags`, its own directory and `includes` on the include path; the
    objects are numbered, since two units may share a name."""
    gcc = require_tool("arm-none-eabi-gcc")
    objects = [build / f"{i:02d}_{p.stem}.o" for i, p in enumerate(units)]
    compile_all([([gcc, *flags, *(f"-I{d}" for d in (*includes, p.parent)), "-c", str(p), "-o", str(o)],
                  f"compiling {p.name} for {tag}") for p, o in zip(units, objects, strict=True)])
    return objects


def build_library(tag: str, sources: list[Path], flags: list[str], includes: list[Path] = ()) -> Path:
    """A static library of `sources` compiled with `flags` (for code a reference linked prebuilt with flags of its
    own, such as its C library's), from the user cache or built now: once per sources' text, flags and compiler."""
    key = _key([p.read_bytes() for p in sources], flags, [str(d) for d in includes])

    def make(build: Path) -> None:
        objects = _compile(sources, flags, list(includes), build, tag)
        ar = Path(require_tool("arm-none-eabi-gcc")).with_name("arm-none-eabi-ar")   # binutils beside the compiler
        run_tool([str(ar), "rcs", str(build / f"lib{tag}.a"), *map(str, objects)],
                 f"archiving {tag}")
        for o in objects:
            o.unlink()

    return cached_build(f"reference-{tag}-{key}", f"lib{tag}.a", make)


def build_elf(core: EmulatedCore, tag: str, sources: list[Path], flags: list[str], libraries: list[str] = (),
              generated: dict[str, str] | None = None) -> Path:
    """A bare-metal ELF for `core`'s QEMU machine from C `sources`, compiled and linked with `flags` (the
    reference's, e.g. `-O2 -mcpu=cortex-m4 -mfloat-abi=soft -mthumb`), plus the machine's startup and linker
    script, then `libraries` (paths or -l options) before the toolchain's. `generated` (name -> text: board support,
    glue) is written to an include directory first, with `reference_mark.h` among it, and its .c files are
    compiled too. From the user cache, or built now: once per sources' text, flags, libraries and compiler."""
    generated = {"reference_mark.h": MARK_HEADER, **(generated or {})}
    startup = PLATFORM / "startup.c"
    linker = PLATFORM / "cortex_m.ld.j2"
    key = _key([p.read_bytes() for p in (*sources, startup, linker)], flags, list(libraries), generated, core)

    def make(build: Path) -> None:
        include = build / "include"
        include.mkdir()
        for name, text in generated.items():
            (include / name).write_text(text)
        units = [*sources, *(include / name for name in generated if name.endswith(".c")), startup]
        objects = _compile(units, flags, [include], build, tag)
        script = build / f"{core.machine}.ld"
        render(core.linker_context(), [("qemu/cortex_m.ld.j2", script)])
        run_tool([require_tool("arm-none-eabi-gcc"), *flags, "-T", str(script), *LINK_FLAGS, *map(str, objects),
                  *libraries, "-o", str(build / "firmware.elf")], f"linking {tag}")
        for o in objects:
            o.unlink()

    return cached_build(f"reference-{tag}-{key}", "firmware.elf", make)


def measure(reference: Reference, timeout: float = 600) -> Measurement:
    """Run the reference's ELF on its core's machine with the instruction-mix plugin: the whole run's mix and the
    instructions in its window (None when the firmware stopped before reading SysTick to close it), or one line on
    why the run gave no counts."""
    core = CORES[reference.core]
    with tempfile.TemporaryDirectory(prefix="reference-") as work:
        out = Path(work) / "mix.json"
        try:
            done = subprocess.run(qemu_command(core, reference.elf, [], out), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"{reference.name} did not finish within {timeout:.0f} s under QEMU") from None
        mix = read_mix(out)
    first, last = reference.window
    window = between(mix.marks[first], mix.marks[last]) if len(mix.marks) > last else None
    return Measurement(reference, mix, window, done.returncode, done.stdout + done.stderr)

