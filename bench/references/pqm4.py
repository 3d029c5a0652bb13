"""pqm4's hand-written Cortex-M4 assembly as a cycle reference for the emulated Cortex-M4F (QEMU mps2-an386): the
published STM32F407 cycle counts of a few constant-time KEMs beside the instructions the same code executes here,
counted by the instruction-mix plugin between two SysTick reads around each call. Prints one line per call and
writes bench/results/pqm4_m4.json.

    TINYML_PQM4_DIR=/path/to/pqm4 .venv/bin/python -m bench.references.pqm4     (or --pqm4-dir /path/to/pqm4)

Why pqm4: its `m4f`/`m4fspeed` implementations are mostly the authors' Thumb-2 assembly (NTTs, schoolbook
multiplications with SMLAD/SMULBB/UMLAL, Keccak-f[1600]), so the compiler that built them matters little, and
these schemes are constant time: benchmarks.md gives MIN and MAX of 100 runs within a few dozen cycles of each
other. The published numbers, the clock sentence and the compiler are read from the tree's own benchmarks.md and
README.md, never copied here.

Getting pqm4 (not copied into this repository; libopencm3 and PQClean are not needed, the harness here replaces
pqm4's HAL, and `mupq` is the one submodule it uses):

    git clone https://github.com/mupq/pqm4 && cd pqm4
    git checkout 3743a66571f899d4b9deecfab20de425267fd734 && git submodule update --init mupq

That commit (Oct 2022) is the last one that has Saber and NTRU, which pqm4 removed in 918f379 (Nov 2022) when it
kept only NIST's remaining candidates; its README says its numbers came from arm-none-eabi-gcc 10.1.0.

What is built (into the user cache, `export.toolchain.cached_build`): the scheme's .c/.S/.s files, Keccak
(mupq/common/fips202.c, common/keccakf1600.S) and bench/references/pqm4_kem.c, with pqm4's flags for its
mps2-an386 platform (mk/mps2-an386.mk, mupq/mk/config.mk: -O3 -std=gnu99, -mcpu=cortex-m4 -mthumb
-mfloat-abi=hard -mfpu=fpv4-sp-d16), linked with this project's QEMU startup and linker script.

The windows. pqm4's speed.c brackets each call with hal_get_time, which on the board (common/hal-opencm3.c) reads
SysTick's current value, 0xE000E018, the register whose reads mark the plugin's windows here, plus a count of
SysTick overflows (24-bit reload at the 24 MHz core clock, one interrupt per 2^24 cycles). MIN is taken as the
published figure: MAX exceeds it by 33-35 cycles in every row measured here, which reads as the runs an overflow
interrupt fell in (an inference, not stated by pqm4). Inside the published windows but not here: the board's RNG
behind randombytes (here a fixed xorshift stream; the schemes are constant time, and another seed gave the same
counts) and hal_get_time's own arithmetic. Inside the windows here: 5-6 harness instructions, reported per call.

The window's instruction mix: the plugin reports classes for a whole run only, so each call's mix is the run that
makes calls 1..n minus the run that makes calls 1..n-1 (the harness executes the same instructions otherwise).
"""

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.references.harness import mix_difference
from tinyml_kit.check.plugin import InstructionMix, Window, between, read_mix
from tinyml_kit.check.qemu import C_FLAGS, PLATFORM, link_for_qemu, qemu_command
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.errors import UserError
from tinyml_kit.export.toolchain import cached_build, compile_all, require_tool, run_tool

PQM4_DIR_ENV = "TINYML_PQM4_DIR"
CORE = CORES["m4"]
# (scheme, implementation) measured; each gives three windows: benchmarks.md's key generation, encapsulation and
# decapsulation columns, in the harness's call order.
SCHEMES = (("lightsaber", "m4fspeed"), ("ntruhrss701", "m4f"))
OPERATIONS = ("keypair", "enc", "dec")
# pqm4's compiler flags for mps2-an386 beyond the architecture (CORE.gcc_flags, the same four as its ARCH_FLAGS)
PQM4_FLAGS = ["-O3", "-std=gnu99", "-fno-common", "-DPQM4", "-DMUPQ", "-DMUPQ_NAMESPACE=", "-DMUPQ_ITERATIONS=1",
              "-DMPS2_AN386"]
SYMMETRIC = ("mupq/common/fips202.c", "common/keccakf1600.S")
HARNESS = Path(__file__).with_name("pqm4_kem.c")
# mupq/common/randombytes.h links into the PQClean submodule; the harness's declaration stands in for it
RANDOMBYTES_H = "#include <stddef.h>\n#include <stdint.h>\nint randombytes(uint8_t *out, size_t n);\n"
# how common/hal-opencm3.c sets up the board for CLOCK_BENCHMARK (pqm4's speed.c)
BOARD_SETUP = ("STM32F407 Discovery (pqm4's stm32f4discovery platform), common/hal-opencm3.c CLOCK_BENCHMARK: 24 MHz "
               "from the PLL, flash 0 wait states with its instruction and data caches and prefetch on; cycles from "
               "SysTick at the core clock.")
RESULT = Path(__file__).resolve().parents[1] / "results" / "pqm4_m4.json"
_ROW = re.compile(r"^\| (\S+) \((\d+) executions\) \| (\S+) \|(.*)$", re.M)
_CELL = re.compile(r"AVG: ([\d,]+) <br /> MIN: ([\d,]+) <br /> MAX: ([\d,]+)")


@dataclass(frozen=True)
class Published:
    """One cell of pqm4's speed table: cycles over `executions` runs on the board."""
    minimum: int
    average: int
    maximum: int
    executions: int


@dataclass(frozen=True)
class Reference:
    """One published measurement and the firmware that repeats it here: `elf` makes the calls up to and including
    this one, `baseline_elf` the same without it, and the call lies between marks 2 * window and 2 * window + 1."""
    name: str
    core: str
    source: str
    conditions: str
    published_cycles: int        # MIN (see the module's docstring on the windows)
    published: Published
    elf: Path
    baseline_elf: Path
    window: int


@dataclass(frozen=True)
class Measurement:
    instructions: int            # between the call's two marks
    cycles: float                # estimated by the plugin from the M4's timing table, flash at zero wait states
    harness: int                 # of them, the harness's own: the same window with the call skipped
    mix: dict                    # the call's executed instructions by class, data accesses by region (a run difference)


def find_pqm4_dir(explicit: str | None) -> Path:
    """The pqm4 tree from --pqm4-dir or TINYML_PQM4_DIR, checked for the files this bench reads."""
    given = explicit or os.environ.get(PQM4_DIR_ENV)
    if not given:
        raise UserError(f"no pqm4 tree: pass --pqm4-dir or set {PQM4_DIR_ENV} (see this script's docstring for the "
                        f"commit and the one submodule to check out)")
    root = Path(given).expanduser()
    for needed in ("benchmarks.md", "README.md", *SYMMETRIC):
        if not (root / needed).is_file():
            raise UserError(f"{root} has no {needed}: point --pqm4-dir at a pqm4 checkout with its mupq submodule "
                            f"(git submodule update --init mupq)")
    return root


def read_published(root: Path, scheme: str, implementation: str) -> tuple[Published, ...]:
    """The three cells (keypair, enc, dec) of the scheme's row in the tree's benchmarks.md speed table."""
    for row in _ROW.finditer((root / "benchmarks.md").read_text()):
        cells = _CELL.findall(row.group(4))
        if (row.group(1), row.group(3)) == (scheme, implementation) and len(cells) == 3:
            return tuple(Published(_cycles(low), _cycles(avg), _cycles(high), int(row.group(2)))
                         for avg, low, high in cells)
    raise UserError(f"{root}/benchmarks.md has no speed row for {scheme} {implementation}: check out pqm4 commit "
                    f"3743a66 (later commits removed Saber and NTRU)")


def _cycles(text: str) -> int:
    return int(text.replace(",", ""))


def read_conditions(root: Path) -> str:
    """What the tree's README says about the board's clock and the compiler behind benchmarks.md."""
    readme = (root / "README.md").read_text()
    said = [m.group(0).strip() for m in (re.search(r"All cycle counts were obtained at[^\n]*", readme),
                                         re.search(r"The numbers were obtained with[^\n]*", readme)) if m]
    return " ".join([BOARD_SETUP, *said])


def tree_commit(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown (not a git checkout)"


def _sources(root: Path, scheme: str, implementation: str) -> list[Path]:
    folder = root / "crypto_kem" / scheme / implementation
    return sorted(p for p in folder.iterdir() if p.suffix in (".c", ".S", ".s")) + [root / s for s in SYMMETRIC]


def _compile(root: Path, folder: Path, sources: list[Path], build: Path) -> list[Path]:
    """pqm4's sources at pqm4's flags; object names carry their folder, which keeps them apart."""
    gcc = require_tool("arm-none-eabi-gcc")
    includes = ["-I", str(build), "-I", str(folder), "-I", str(root / "common"), "-I", str(root / "mupq/common")]
    objects = [build / f"{s.parent.name}_{s.name}.o" for s in sources]
    compile_all([([gcc, *CORE.gcc_flags, *PQM4_FLAGS, *includes, "-c", str(s), "-o", str(o)], f"compiling {s.name}")
                 for s, o in zip(sources, objects, strict=True)])
    return objects


@functools.cache
def compiler() -> str:
    """arm-none-eabi-gcc's version line: part of the cache key and of the results."""
    gcc = require_tool("arm-none-eabi-gcc")
    return run_tool([gcc, "--version"], "arm-none-eabi-gcc --version").stdout.splitlines()[0]


def build_firmware(root: Path, scheme: str, implementation: str) -> dict[int, Path]:
    """The ELF making calls 1..n for n = 0..3, from the user cache or built now (once per source text, compiler
    and flags)."""
    folder = root / "crypto_kem" / scheme / implementation
    sources = _sources(root, scheme, implementation)
    gcc = require_tool("arm-none-eabi-gcc")
    texts = [p.read_bytes() for p in (*sources, *sorted(folder.glob("*.[hi]")), HARNESS, PLATFORM / "startup.c")]
    key = hashlib.sha256(repr((texts, compiler(), PQM4_FLAGS, CORE, RANDOMBYTES_H)).encode()).hexdigest()[:16]

    def make(build: Path) -> None:
        (build / "randombytes.h").write_text(RANDOMBYTES_H)
        shared = _compile(root, folder, sources, build)
        startup = build / "startup.c.o"
        run_tool([gcc, *CORE.gcc_flags, *C_FLAGS, "-c", str(PLATFORM / "startup.c"), "-o", str(startup)],
                 "compiling startup.c")
        for calls in range(len(OPERATIONS) + 1):
            variant = build / f"calls{calls}"
            variant.mkdir()
            harness = variant / "pqm4_kem.o"
            run_tool([gcc, *CORE.gcc_flags, *PQM4_FLAGS, f"-DPQM4_CALLS={calls}", "-I", str(build), "-I",
                      str(folder), "-c", str(HARNESS), "-o", str(harness)], "compiling pqm4_kem.c")
            link_for_qemu(CORE, [startup, harness, *shared], [], variant).rename(build / f"calls{calls}.elf")

    last = cached_build(f"pqm4-{scheme}-{implementation}-{key}", f"calls{len(OPERATIONS)}.elf", make)
    return {calls: last.with_name(f"calls{calls}.elf") for calls in range(len(OPERATIONS) + 1)}


def references(root: Path) -> list[Reference]:
    """One record per measured call of every scheme in SCHEMES, firmware built."""
    commit, conditions = tree_commit(root), read_conditions(root)
    records = []
    for scheme, implementation in SCHEMES:
        published = read_published(root, scheme, implementation)
        elfs = build_firmware(root, scheme, implementation)
        for index, operation in enumerate(OPERATIONS):
            records.append(Reference(
                f"{scheme} {implementation} {operation}", CORE.id,
                f"pqm4 (github.com/mupq/pqm4) benchmarks.md at {commit}: {scheme} {implementation}", conditions,
                published[index].minimum, published[index], elfs[index + 1], elfs[index], index))
    return records


@functools.cache
def run(elf: Path) -> tuple[InstructionMix, str]:
    """The firmware under QEMU with the instruction-mix plugin: its counts and what it printed."""
    out = elf.with_suffix(".mix.json")
    try:
        done = subprocess.run(qemu_command(CORE, elf, [], out), capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise UserError(f"{elf} did not finish within 600 s under QEMU") from None
    printed = done.stdout + done.stderr
    if "TINYML_FAULT" in printed or "PQM4_KEYS" not in printed:
        raise UserError(f"{elf} stopped under QEMU before its verdict: {printed.strip()[-200:]}")
    return read_mix(out), printed


def window(mix: InstructionMix, index: int) -> Window:
    """What the core did between the two marks bounding call `index`: the one place two marks are subtracted."""
    return between(mix.marks[2 * index], mix.marks[2 * index + 1])


def measure(reference: Reference) -> Measurement:
    """The call's window in its own firmware, its mix from the two runs, and the full run's key check (a build that
    decapsulates another key than it encapsulated measures nothing worth comparing)."""
    mix, _ = run(reference.elf)
    base, _ = run(reference.baseline_elf)
    full_elf = reference.elf.with_name(f"calls{len(OPERATIONS)}.elf")
    if "PQM4_KEYS EQUAL" not in run(full_elf)[1]:
        raise UserError(f"{full_elf} decapsulated another key than it encapsulated: the {reference.name} build is "
                        f"wrong (check the pqm4 commit and its mupq submodule)")
    measured = window(mix, reference.window)
    return Measurement(measured.instructions, measured.cycles, window(base, reference.window).instructions,
                       {k: v for k, v in dataclasses.asdict(mix_difference(mix, base)).items() if v != ()})


def row(reference: Reference, measured: Measurement) -> dict:
    p = reference.published
    return {"name": reference.name, "core": reference.core, "source": reference.source,
            "conditions": reference.conditions, "published_cycles": reference.published_cycles,
            "published": dataclasses.asdict(p), "published_spread": p.maximum - p.minimum,
            "instructions": measured.instructions, "harness_instructions_in_window": measured.harness,
            "cycles_per_instruction": round(reference.published_cycles / measured.instructions, 4),
            "cycles_est": measured.cycles,
            "error": round(measured.cycles / reference.published_cycles - 1, 4),
            "window_mix": measured.mix,
            "mix_minus_window": measured.mix["instructions"] - measured.instructions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pqm4-dir", help=f"the pqm4 checkout (default: ${PQM4_DIR_ENV})")
    args = parser.parse_args()
    try:
        root = find_pqm4_dir(args.pqm4_dir)
        start = time.monotonic()
        records = references(root)
        built = time.monotonic()
        rows = [row(r, measure(r)) for r in records]
    except UserError as e:
        sys.exit(f"error: {e}")
    ran = time.monotonic()
    print(f"{'measurement':32s} {'instructions':>12s} {'published':>10s} {'cyc/insn':>8s} {'spread':>6s} "
          f"{'estimate':>10s} {'error':>7s}")
    for r in rows:
        print(f"{r['name']:32s} {r['instructions']:12,d} {r['published_cycles']:10,d} "
              f"{r['cycles_per_instruction']:8.4f} {r['published_spread']:6d} {r['cycles_est']:10,.0f} "
              f"{r['error']:+7.1%}")
    print(f"build {built - start:.1f} s, QEMU runs {ran - built:.1f} s")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({
        "pqm4_commit": tree_commit(root), "compiler": compiler(), "flags": [*CORE.gcc_flags, *PQM4_FLAGS],
        "machine": CORE.machine,
        "window": "instructions between the plugin's marks at the SysTick reads around one call",
        "check": "each scheme's full run decapsulates the key it encapsulated (else the bench stops)",
        "window_mix_method": "whole-run counts of the firmware making calls 1..n minus those of the firmware "
                             "making calls 1..n-1",
        "build_seconds": round(built - start, 1), "build_note": "0 when the user cache already held the ELFs",
        "run_seconds": round(ran - built, 1), "measurements": rows},
        indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
