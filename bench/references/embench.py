"""Embench-IoT 0.5 as a cycle reference for the emulated Cortex-M4F (QEMU's mps2-an386): its 19 benchmarks rebuilt
with the published flags, run under the instruction-mix plugin, each window set beside its published cycles.

Published (Embench-IoT 0.5's own baseline, `baseline-data/speed.json`, the same numbers as embench/embench-iot-results
`details/cortexm4-armv7m-gcc-9.2-o2.mediawiki`): an STM32F407 on the STM32F4-Discovery at its reset clock (the
startup's `bl SystemInit` is commented out: HSI 16 MHz, flash 0 wait states, ART prefetch and caches off), gcc 9.2.0,
binutils 2.33.1, newlib 3.3.0 (nano), `-O2 -march=armv7-m -mcpu=cortex-m4 -mfloat-abi=soft -mthumb
-ffunction-sections`, linked `-Wl,-gc-sections -specs=nosys.specs -lm`. The number per benchmark is what
`pylib/run_stm32f4-discovery.py` decodes: DWT CYCCNT read by GDB at breakpoints on `start_trigger` and `stop_trigger`,
divided by `cpu_mhz` and by 1000 ("ms"). The build runs `benchmark_body(LOCAL_SCALE_FACTOR * CPU_MHZ)` in that
window, so with the firmware built at CPU_MHZ = 1, as here, one window (one benchmark() call: LOCAL_SCALE_FACTOR
repetitions) took value x 1000 cycles whatever CPU_MHZ the published build used (see `published_cycles`).

Here start_trigger()/stop_trigger() read SysTick's current-value register instead (`harness.reference_mark`), so the
plugin's two marks bound the same window; main() returns !verify_benchmark(), which semihosting hands to QEMU's exit
status: a benchmark that fails verification is reported and not used. Each benchmark is also built at CPU_MHZ = 2;
the two runs differ only by LOCAL_SCALE_FACTOR more repetitions in the window, so their mixes' difference is the mix
of one window's work by instruction class (the plugin counts classes over whole runs only).

What differs from the published build: the compiler (arm-none-eabi-gcc 12.2, not 9.2: no GCC 9 is packaged here;
the -O2 defaults gcc 9.2 had are restored, `GCC9_DEFAULTS`), hence libgcc's soft-float routines (cubic, minver,
nbody and st spend 75-95 % of their instructions in them and in sqrt), and the C library's build. The reference's
newlib 3.3.0 was configured for size; the toolchain's libc_nano has word-at-a-time memset/memcpy, which take 22 %,
18 %, 14 % and 12 % out of statemate's, matmult-int's, huffbench's and wikisort's windows. So the newlib functions
the benchmarks spend time in are rebuilt from newlib 3.3.0's source as that configuration had them
(`NEWLIB_SOURCES`; Debian's `newlib-source` package, or --newlib-source / TINYML_NEWLIB_SOURCE), unless
--toolchain-newlib.

The Embench tree is third-party (GPL-3.0) and never copied here: name it with --embench-dir or TINYML_EMBENCH_DIR.

    git clone https://github.com/embench/embench-iot && git -C embench-iot checkout embench-0.5
    apt-get install newlib-source
    TINYML_EMBENCH_DIR=embench-iot .venv/bin/python -m bench.references.embench [--only crc32,edn]

Prints per benchmark the window's instructions, the published cycles and their ratio; writes
bench/results/embench_m4.json.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.references.harness import Measurement, Reference, build_elf, build_library, measure, mix_difference
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.errors import UserError
from tinyml_kit.export.toolchain import cached_build, run_tool

EMBENCH_DIR_ENV = "TINYML_EMBENCH_DIR"
RESULT = Path(__file__).resolve().parents[1] / "results" / "embench_m4.json"
CORE = "m4"
FLAGS = ["-O2", "-march=armv7-m", "-mcpu=cortex-m4", "-mfloat-abi=soft", "-mthumb", "-ffunction-sections"]
# gcc 9.2's -O2 defaults that later releases changed, restored on gcc 12 (measured on the windows here): -fcommon
# (GCC 10 made -fno-common the default, which lets section anchors reach globals from one base: statemate ran 29 %
# fewer instructions), -fno-inline-functions (GCC 10 enabled it at -O2: aha-mont64 +13 %, qrduino +5 % without it),
# -fno-tree-vectorize (GCC 12 enabled it at -O2: within 2 %). The inliner's retuned limits remain a difference.
GCC9_DEFAULTS = ["-fcommon", "-fno-inline-functions", "-fno-tree-vectorize"]
LIBRARIES = ["-lm"]
NEWLIB_ENV = "TINYML_NEWLIB_SOURCE"
NEWLIB_DEBIAN = Path("/usr/src/newlib/newlib-3.3.0.tar.xz")   # Debian's newlib-source, the reference's version
# The reference's newlib was configured for size (CFLAGS_FOR_TARGET -DPREFER_SIZE_OVER_SPEED=1 -Os, --with-cpu=
# cortex-m4 --with-float=soft, and newlib's own -fno-builtin): byte-at-a-time memset/memcpy/memmove where the
# toolchain's libc_nano has word-at-a-time ones, and its soft-float sqrt compiled -Os. These are the newlib functions
# the benchmarks spend time in, as that configuration selects them (memcpy is machine/arm's memcpy-stub.c, i.e.
# string/memcpy.c; strlen is strlen-thumb2-Os.S through strlen.S; sqrt is machine/arm's e_sqrt.c, i.e.
# math/e_sqrt.c, without an FPU). The rest of libm (cubic's pow, acos, cos: under 3 % of its instructions) and
# libgcc's soft-float routines stay the toolchain's.
NEWLIB_FLAGS = ["-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-ffunction-sections", "-fno-builtin",
                "-DPREFER_SIZE_OVER_SPEED=1", "-DHAVE_GNU_LD"]
NEWLIB_SOURCES = ["libc/string/memset.c", "libc/string/memcpy.c", "libc/string/memmove.c", "libc/string/memcmp.c",
                  "libc/string/strchr.c", "libc/machine/arm/strlen.S", "libm/machine/arm/e_sqrt.c",
                  "libm/math/w_sqrt.c"]
NEWLIB_INCLUDES = ["libc/machine/arm", "libm/common"]
SOURCE = ("Embench-IoT 0.5 (github.com/embench/embench-iot tag embench-0.5) baseline-data/speed.json = "
          "embench/embench-iot-results details/cortexm4-armv7m-gcc-9.2-o2.mediawiki, 'speed' in ms at cpu_mhz=1")
CONDITIONS = ("STM32F407 (STM32F4-Discovery) at reset clocks: HSI 16 MHz, flash 0 wait states, ART prefetch and "
              "caches off; gcc 9.2.0, newlib 3.3.0 nano; " + " ".join(FLAGS) + "; DWT CYCCNT at start_trigger/"
              "stop_trigger")
# The board support Embench's STM32F4-Discovery port has, with SysTick reads where it enables and reads DWT CYCCNT.
BOARD_SUPPORT = """#include <support.h>
#include "reference_mark.h"

void initialise_board(void) { __asm__ volatile("mov r0, 0" : : : "memory"); }

void __attribute__((noinline)) __attribute__((externally_visible)) start_trigger(void) {
  __asm__ volatile("mov r0, 0" : : : "memory");
  reference_mark();
}

void __attribute__((noinline)) __attribute__((externally_visible)) stop_trigger(void) {
  __asm__ volatile("mov r0, 0" : : : "memory");
  reference_mark();
}
"""


def find_embench_dir(explicit: str | None = None) -> Path:
    """The Embench-IoT 0.5 tree, or one line on what to name."""
    where = explicit or os.environ.get(EMBENCH_DIR_ENV)
    if not where:
        raise UserError(f"no Embench-IoT tree given: pass --embench-dir or set {EMBENCH_DIR_ENV} to a checkout of "
                        f"github.com/embench/embench-iot at tag embench-0.5")
    root = Path(where).expanduser().absolute()
    if not ((root / "support" / "main.c").is_file() and (root / "baseline-data" / "speed.json").is_file()):
        raise UserError(f"{root} is not an Embench-IoT tree (no support/main.c and baseline-data/speed.json): "
                        f"check out github.com/embench/embench-iot at tag embench-0.5")
    return root


def published_ms(root: Path) -> dict[str, float]:
    """The reference platform's speed per benchmark, as the tree's own baseline records it."""
    return {name: float(ms) for name, ms in json.loads((root / "baseline-data" / "speed.json").read_text()).items()}


def published_cycles(ms: float) -> float:
    """Cycles of one benchmark() window built at CPU_MHZ = 1: Embench reports CYCCNT / cpu_mhz / 1000, and the
    window repeats the work CPU_MHZ times, so the per-repetition time at 1 MHz is value x 1000 cycles."""
    return ms * 1000


def benchmark_sources(root: Path, name: str) -> list[Path]:
    """A benchmark's own C files and Embench's main and support library; a tree whose window does not scale with
    CPU_MHZ (Embench 2.0 dropped it) would make `published_cycles` wrong, so it is refused."""
    own = sorted((root / "src" / name).glob("*.c"))
    if not any("LOCAL_SCALE_FACTOR * CPU_MHZ" in p.read_text(errors="replace") for p in own):
        raise UserError(f"{root / 'src' / name} does not run LOCAL_SCALE_FACTOR * CPU_MHZ repetitions: check out "
                        f"Embench-IoT at tag embench-0.5")
    return [*own, root / "support" / "main.c", root / "support" / "beebsc.c"]


def find_newlib(explicit: str | None = None) -> Path:
    """newlib 3.3.0's source directory (the newlib/ holding libc/ and libm/), from a tree or its tarball (unpacked
    into the user cache), or one line on how to get it."""
    where = Path(explicit or os.environ.get(NEWLIB_ENV) or NEWLIB_DEBIAN).expanduser().absolute()
    if where.is_file():
        stat = where.stat()
        key = hashlib.sha256(repr((str(where), stat.st_size, stat.st_mtime_ns)).encode()).hexdigest()[:16]
        marker = cached_build(f"newlib-{key}", "unpacked", lambda build: (
            run_tool(["tar", "-xf", str(where), "-C", str(build)], f"unpacking {where}"),
            (build / "unpacked").touch()))
        where = marker.parent
    found = sorted(where.glob("**/newlib/libc/string/memset.c"))
    if not found:
        raise UserError(f"no newlib source at {where}: `apt-get install newlib-source` (Debian's newlib 3.3.0 "
                        f"tarball, {NEWLIB_DEBIAN}) or pass --newlib-source / set {NEWLIB_ENV} to a newlib tree")
    return found[0].parents[2]


def reference_newlib(newlib: Path) -> Path:
    """The newlib functions the benchmarks spend time in, as the reference's size-configured newlib had them: a
    library linked before the toolchain's."""
    return build_library("embench_newlib", [newlib / s for s in NEWLIB_SOURCES], NEWLIB_FLAGS,
                         [newlib / d for d in NEWLIB_INCLUDES])


def build(root: Path, name: str, cpu_mhz: int, libraries: list[str]) -> Path:
    flags = [*FLAGS, *GCC9_DEFAULTS, "-I", str(root / "support"), f"-DCPU_MHZ={cpu_mhz}", "-DWARMUP_HEAT=1"]
    return build_elf(CORES[CORE], f"embench_{name}_mhz{cpu_mhz}", benchmark_sources(root, name), flags,
                     [*libraries, *LIBRARIES], {"boardsupport.c": BOARD_SUPPORT})


@dataclass(frozen=True)
class EmbenchRun:
    reference: Reference
    measured: Measurement           # built at CPU_MHZ = 1: the published window
    doubled: Measurement            # built at CPU_MHZ = 2: the window's work twice

    @property
    def verified(self) -> bool:
        """Both builds closed their window and passed verify_benchmark()."""
        return all(m.exit_status == 0 and m.window is not None for m in (self.measured, self.doubled))


def run_benchmark(root: Path, name: str, ms: float, libraries: list[str]) -> EmbenchRun:
    reference = Reference(f"embench-0.5/{name}", CORE, SOURCE, CONDITIONS, published_cycles(ms),
                          build(root, name, 1, libraries))
    doubled = Reference(f"{reference.name} (CPU_MHZ=2)", CORE, SOURCE, CONDITIONS, 2 * reference.published_cycles,
                        build(root, name, 2, libraries))
    return EmbenchRun(reference, measure(reference), measure(doubled))


def references(root: Path, newlib: Path | None, only: list[str] | None = None
               ) -> tuple[list[Reference], list[EmbenchRun]]:
    """One Reference per benchmark that passed verification, and every run (failures included); with `newlib`
    (its source), the string functions and sqrt are the reference's size-configured ones, else the toolchain's."""
    baseline = published_ms(root)
    names = only or sorted(baseline)
    unknown = [n for n in names if n not in baseline]
    if unknown:
        raise UserError(f"no Embench-IoT 0.5 benchmark named {', '.join(unknown)}: choose from {', '.join(baseline)}")
    libraries = [str(reference_newlib(newlib))] if newlib else []
    runs = [run_benchmark(root, name, baseline[name], libraries) for name in names]
    return [r.reference for r in runs if r.verified], runs


def record(run: EmbenchRun) -> dict:
    """What the cycle model needs of one benchmark: the window's instructions, its mix by class (the CPU_MHZ 2 - 1
    difference), the whole run's mix, and the published cycles."""
    window_mix = asdict(mix_difference(run.doubled.mix, run.measured.mix)) | {"marks": None} if run.verified else None
    return dict(name=run.reference.name, verified=run.verified, published_cycles=run.reference.published_cycles,
                window=asdict(run.measured.window) if run.measured.window else None,
                window_doubled=asdict(run.doubled.window) if run.doubled.window else None,
                window_mix=window_mix, run_mix=asdict(run.measured.mix))


def tree_commit(root: Path) -> str | None:
    """The Embench checkout's commit (embench-0.5 is f9b7f741a59c4b30b56f27ffc08b52a75d0d5bdf), if it is a git tree."""
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embench-dir", help=f"an Embench-IoT checkout at tag embench-0.5 (else ${EMBENCH_DIR_ENV})")
    parser.add_argument("--only", help="comma-separated benchmarks (default: all 19)")
    parser.add_argument("--newlib-source", help=f"newlib 3.3.0's tarball or tree (else ${NEWLIB_ENV}, else "
                                                    f"{NEWLIB_DEBIAN} from Debian's newlib-source)")
    parser.add_argument("--toolchain-newlib", action="store_true",
                        help="keep the toolchain's string functions and sqrt instead of the reference's")
    parser.add_argument("--out", type=Path, default=RESULT)
    return parser.parse_args(argv)


def print_table(runs: list[EmbenchRun]) -> None:
    print(f"{'benchmark':16} {'verified':>8} {'instructions':>13} {'published cyc':>14} {'cyc/instr':>9} "
          f"{'estimate':>12} {'error':>7}")
    for run in runs:
        window, published = run.measured.window, run.reference.published_cycles
        if window is None:
            print(f"{run.reference.name.rpartition('/')[2]:16} {'NO':>8}")
            continue
        print(f"{run.reference.name.rpartition('/')[2]:16} {'yes' if run.verified else 'NO':>8} "
              f"{window.instructions:13,} {published:14,.0f} {published / window.instructions:9.3f} "
              f"{window.cycles:12,.0f} {window.cycles / published - 1:+7.1%}")


def write_result(out: Path, root: Path, newlib: Path | None, runs: list[EmbenchRun], seconds: float) -> None:
    """The windows with how they were built: the Embench commit, the compiler, which newlib functions."""
    compiler = run_tool(["arm-none-eabi-gcc", "--version"], "asking arm-none-eabi-gcc its version").stdout
    newlib_functions = ("the toolchain's" if newlib is None else
                        f"{', '.join(Path(s).stem for s in NEWLIB_SOURCES)} rebuilt {' '.join(NEWLIB_FLAGS)}")
    result = dict(source=SOURCE, conditions=CONDITIONS, core=CORE, embench_commit=tree_commit(root),
                  compiler=compiler.splitlines()[0], flags=[*FLAGS, *GCC9_DEFAULTS], newlib_functions=newlib_functions,
                  seconds=round(seconds), benchmarks=[record(r) for r in runs])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        root = find_embench_dir(args.embench_dir)
        newlib = None if args.toolchain_newlib else find_newlib(args.newlib_source)
        start = time.monotonic()
        _, runs = references(root, newlib, args.only.split(",") if args.only else None)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - start
    print_table(runs)
    print(f"{len(runs)} benchmarks built and run in {seconds:.0f} s")
    write_result(args.out, root, newlib, runs, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
