"""The Arm cross toolchain and the TFLM tree that firmware is compiled against, found or refused in one line.

The TFLM tree is a third-party dependency located by `--tflm-dir` or `TINYML_TFLM_DIR`: a directory holding the
TFLM source tree in `tflm/` (with its third-party headers) and, for `verify`, libraries prebuilt for each
emulated core in `prebuilt/<core>/libtflm_{ref,cmsis_nn}.a` (cortex-m4f, cortex-m7, cortex-m33, cortex-m55).
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.errors import UserError

TFLM_DIR_ENV = "TINYML_TFLM_DIR"
CMSIS_NN_DIR_ENV = "TINYML_CMSIS_NN_DIR"
CACHE_ENV = "TINYML_CACHE_DIR"
PACKAGES = {"arm-none-eabi-g++": "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
            "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
            "arm-none-eabi-size": "binutils-arm-none-eabi",
            "qemu-system-arm": "qemu-system-arm", "gcc": "gcc"}
HOST_CC = "gcc"   # what builds this machine's side: the C engine's host check and the QEMU instruction-mix plugin
# The defines the prebuilt libraries were compiled with: TF_LITE_STATIC_MEMORY changes TfLiteTensor's layout, so
# code including TFLM headers must agree with the library it links.
TFLM_DEFINES = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DTF_LITE_MCU_DEBUG_LOG",
                "-DKERNELS_OPTIMIZED_FOR_SPEED"]
CXX_FLAGS = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-ffunction-sections",
             "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
# What the C engine's generated sources are held to, on every compiler that builds them.
C_ENGINE_WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
# CMSIS-NN's requantization (`arm_nn_requantize`, inlined from its headers into its kernels and the generated model)
# in Thumb-2 inline assembly: SMULL + carry rounding instead of a 64-bit add and a branchy divide, the same double
# rounding as TFLite (CMSIS-NN PR #171, opt-in since). It is a header macro, so CMSIS-NN and tinyml_model.c are built
# with it alike. On for the cores it was measured bit-exact on under QEMU (ResNet-8 and the ADD tests); the host's
# portable build and the Helium cores (their own MVE requantization) keep the C arithmetic.
REQUANTIZE_ASM = "CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY"
REQUANTIZE_ASM_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33")
# The same rule for a build whose core is unknown when it is written (an Arduino library): the preprocessor's view of
# REQUANTIZE_ASM_CPUS (Thumb-2 with the DSP extension, no Helium).
REQUANTIZE_ASM_GUARD = f"""/* tinyml-kit: {REQUANTIZE_ASM} on Thumb-2 cores with the DSP extension and no Helium, as the
   exported Makefile and tinyml-kit verify build CMSIS-NN for the C engine (bit-exact with TFLite's requantization) */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 2 && defined(__ARM_FEATURE_DSP) && \\
    !defined(__ARM_FEATURE_MVE) && !defined({REQUANTIZE_ASM})
#define {REQUANTIZE_ASM}
#endif
"""


def cmsis_nn_defines(cpu_flags) -> list[str]:
    """The defines CMSIS-NN and the C engine's model are compiled with for the core `cpu_flags` (-mcpu=...) names."""
    mcpu = next((f.split("=", 1)[1] for f in cpu_flags if f.startswith("-mcpu=")), "")
    return [f"-D{REQUANTIZE_ASM}"] if mcpu in REQUANTIZE_ASM_CPUS else []


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise UserError(f"{tool} not found: install it with `apt-get install {PACKAGES[tool]}`")
    return path


@dataclass(frozen=True)
class TflmDir:
    root: Path

    @property
    def tree(self) -> Path:
        return self.root / "tflm"

    def includes(self) -> list[str]:
        """-isystem for the tree and its third-party headers: their warnings are not ours to fail -Werror on."""
        tree = self.tree
        dirs = [tree, tree / "third_party/flatbuffers/include", tree / "third_party/gemmlowp",
                tree / "third_party/ruy"]
        return [flag for d in dirs for flag in ("-isystem", str(d))]

    def library(self, kernels: str, prebuilt: str = "cortex-m4f") -> Path:
        """The TFLM library prebuilt for a core (`prebuilt/<core dir>/libtflm_<kernels>.a`)."""
        lib = self.root / "prebuilt" / prebuilt / f"libtflm_{kernels}.a"
        if not lib.is_file():
            raise UserError(f"{lib} not found: the TFLM directory needs libraries prebuilt for the {prebuilt} "
                            f"(see its README: `make prebuilt`)")
        return lib


def find_tflm_dir(explicit: str | Path | None = None) -> TflmDir:
    where = explicit or os.environ.get(TFLM_DIR_ENV)
    if not where:
        raise UserError(f"no TFLM tree given: name its directory or set {TFLM_DIR_ENV} "
                        f"(e.g. ../shared/third_party/tflm-qemu)", "tflm_dir")
    root = Path(where).expanduser().absolute()
    if not (root / "tflm" / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise UserError(f"{root} is not a TFLM directory (no tflm/tensorflow/lite/micro/micro_interpreter.h): "
                        f"pass the directory holding tflm/ and prebuilt/")
    return TflmDir(root)


def find_cmsis_nn_dir(explicit: str | Path | None = None, tflm_dir: str | Path | None = None) -> Path:
    """CMSIS-NN for the C engine: `explicit`, else TINYML_CMSIS_NN_DIR, else the TFLM tree's
    `third_party/cmsis_nn` (the tree `--tflm-dir` or TINYML_TFLM_DIR names). Never copied into this repository."""
    where, named_by = explicit, ""
    if not where and os.environ.get(CMSIS_NN_DIR_ENV):
        where, named_by = os.environ[CMSIS_NN_DIR_ENV], CMSIS_NN_DIR_ENV
    if not where:
        tflm = tflm_dir or os.environ.get(TFLM_DIR_ENV)
        if not tflm:
            raise UserError(f"no CMSIS-NN directory given: name it or set {CMSIS_NN_DIR_ENV} (or name a TFLM tree, "
                            f"whose tflm/third_party/cmsis_nn is used)", "cmsis_nn_dir")
        where = Path(tflm).expanduser() / "tflm" / "third_party" / "cmsis_nn"
    root = Path(where).expanduser().absolute()
    if not (root / "Include" / "arm_nnfunctions.h").is_file() or not (root / "Source").is_dir():
        missing = "is not a CMSIS-NN directory (no Include/arm_nnfunctions.h and Source/)"
        if named_by:   # the environment named it: the fix is there, not in an option
            raise UserError(f"{root}, named by the environment variable {named_by}, {missing}: set {named_by} to "
                            f"the directory holding them, or unset it and name the directory")
        raise UserError(f"{root} {missing}: pass the directory holding them", "cmsis_nn_dir")
    return root


def cmsis_nn_sources(root: Path) -> list[Path]:
    """Every C source of CMSIS-NN: the linker keeps what the model calls (-ffunction-sections, --gc-sections)."""
    return sorted(root.glob("Source/*/*.c"))


def cmsis_nn_library(root: Path, cc: str, flags: list[str], tag: str) -> Path:
    """libcmsisnn.a compiled from `root` with `cc` and `flags`, from the user cache or built now (`cached_build`):
    once per directory, compiler and flags."""
    sources = cmsis_nn_sources(root)
    key = hashlib.sha256(repr((str(root), cc, flags, [(str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                                      for p in sources])).encode()).hexdigest()[:16]

    def make(build: Path) -> None:
        objects = [build / f"{p.parent.name}_{p.stem}.o" for p in sources]
        compile_all([([cc, *flags, "-I", str(root / "Include"), "-c", str(p), "-o", str(o)],
                      f"compiling CMSIS-NN {p.name} ({tag})") for p, o in zip(sources, objects, strict=False)])
        ar = str(Path(cc).with_name(Path(cc).name.replace("gcc", "ar"))) if "arm-none-eabi" in cc else "ar"
        run_tool([ar, "rcs", str(build / "libcmsisnn.a"), *map(str, objects)], f"archiving CMSIS-NN ({tag})")
        for o in objects:
            o.unlink()

    return cached_build(f"cmsis_nn-{tag}-{key}", "libcmsisnn.a", make)


def cached_build(folder: str, name: str, make: Callable[[Path], None]) -> Path:
    """`folder/name` from the user cache (TINYML_CACHE_DIR, else ~/.cache/tinyml-kit), or made now by
    `make(build)` in a folder beside it that is then renamed into place, so concurrent runs never see half a build.
    `folder` carries the key of everything the build depends on."""
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tinyml-kit")
    built = cache / folder / name
    if built.is_file():
        return built
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=folder.split("-")[0] + "-", dir=cache))
    try:
        make(build)
        try:
            build.rename(built.parent)
        except OSError:   # another run finished first
            pass
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return built


def run_tool(cmd: list[str], what: str, timeout: float | None = None,
             explain: Callable[[str], UserError | None] | None = None) -> subprocess.CompletedProcess:
    """Run a build step; a failure becomes one line naming the step and the compiler's first error, or the line
    `explain` makes of the tool's output when it recognises the cause."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        explained = explain(done.stderr + done.stdout) if explain else None
        if explained is not None:
            raise explained
        lines = (done.stderr + done.stdout).splitlines()
        first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "no output")
        raise UserError(f"{what} failed: {first.strip()}")
    return done


_OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


def region_overflows(output: str) -> dict[str, int]:
    """The memory regions GNU ld says did not fit ("region `RAM' overflowed by N bytes"), and by how many bytes."""
    return {m.group(1): int(m.group(2)) for m in _OVERFLOW.finditer(output)}


def compile_all(jobs: list[tuple[list[str], str]]) -> None:
    """Compile independent translation units side by side (one per core)."""
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for future in [pool.submit(run_tool, cmd, what) for cmd, what in jobs]:
            future.result()


@dataclass(frozen=True)
class ElfSizes:
    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data   # .data's initial values live in flash too

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss    # statically allocated RAM, the tensor arena included


def elf_sizes(elf: Path) -> ElfSizes:
    out = run_tool([require_tool("arm-none-eabi-size"), "-B", str(elf)], "arm-none-eabi-size").stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return ElfSizes(text, data, bss)
