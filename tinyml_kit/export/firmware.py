"""Firmware targets around the model API: an Arduino library (folder and .zip) and an STM32 Makefile project.

Both carry the same generated sources (`export.write_model_api`) that `verify` compiles for the emulated
Cortex-M4F, plus one bundled sample image with the class the host predicts for it, so the first thing a board
prints can be checked against the host.
"""

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tinyml_kit import __version__
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.templates import hex_rows, render
from tinyml_kit.core.tflite_info import ModelInfo
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.export.c_sources import write_c_sources, write_model_api
from tinyml_kit.export.op_resolver import resolver_methods
from tinyml_kit.export.toolchain import REQUANTIZE_ASM_GUARD, TFLM_DEFINES, cmsis_nn_defines
from tinyml_kit.solve.engines import TFLM, Engine


@dataclass
class ModelSource:
    """What every target is generated from: the int8 flatbuffer, its labels and its measured arena."""
    model: bytes
    info: ModelInfo
    labels: list[str]
    arena_measured: int
    arena_alloc: int
    name: str = "model"
    source: str = "model.tflite"
    engine: Engine = TFLM         # C: the model compiled to C on CMSIS-NN instead of the flatbuffer on TFLM
    family: KernelFamily = KernelFamily.DSP   # the C engine's: the CMSIS-NN kernels of the core it is built for
    ram_bytes: int = 0            # the C engine's: the board's RAM, which may take weights (`codegen.compile_model`)
    _program: object = field(default=None, repr=False, compare=False)

    @property
    def program(self):
        """The C engine's compiled program (made once)."""
        if self._program is None:
            self._program = compile_model(self.model, self.source, self.family, self.ram_bytes)
        return self._program

    def for_family(self, family: KernelFamily, ram_bytes: int | None = None) -> "ModelSource":
        """The same model for a core that takes `family`'s kernels (and a board of `ram_bytes` of RAM, if given):
        the C engine plans it again for them."""
        ram = self.ram_bytes if ram_bytes is None else ram_bytes
        if family is self.family and ram == self.ram_bytes:
            return self
        return replace(self, family=family, ram_bytes=ram, _program=None)

    @property
    def packaging(self) -> "Packaging":
        return self.engine.part(PACKAGING)

    @property
    def device_bytes(self) -> int:
        """What the model takes in the firmware's flash: the compact flatbuffer on TFLM, the constants in C."""
        return self.packaging.device_bytes(self)

    def write_api(self, out_dir: Path, cc: str = ".cc") -> list[Path]:
        """The sources every firmware target compiles (`cc`: the C++ extension; Arduino builds only `.cpp`)."""
        return self.packaging.write_api(self, Path(out_dir), cc)

    def write_model(self, out_dir: Path) -> list[Path]:
        """The model's own sources, as a run directory keeps them."""
        return self.packaging.write_model(self, Path(out_dir))


@dataclass(frozen=True)
class Packaging:
    """An engine's part in `export` (`solve.engines` explains the split): what the model takes in flash, the
    sources it is compiled from, and what the firmware templates say of it."""
    device_bytes: Callable[[ModelSource], int]
    write_api: Callable[[ModelSource, Path, str], list[Path]]
    write_model: Callable[[ModelSource, Path], list[Path]]
    arena: Callable[[ModelSource], tuple[int, int]]    # (measured, reserved), as the templates state them
    constant_bytes: Callable[[ModelSource], int]
    links_tflm: bool            # the firmware links TFLM and registers the model's ops with its resolver
    carries_cmsis_nn: bool      # an Arduino library bundles CMSIS-NN's sources, a Makefile compiles them
    template_suffix: str        # of the STM32 Makefile and README


def _tflm_device_bytes(src: ModelSource) -> int:
    return tflm_flash_bytes(src.model)


PACKAGING: dict[str, Packaging] = {
    "tflm": Packaging(
        _tflm_device_bytes,
        lambda src, out, cc: write_model_api(src.model, src.info, out, src.labels, src.arena_measured,
                                             src.arena_alloc, name=src.name, source=src.source, cc=cc),
        lambda src, out: write_c_sources(src.model, src.info, out, src.labels, src.arena_measured, src.arena_alloc,
                                         name=src.name, source=src.source),
        lambda src: (src.arena_measured, src.arena_alloc), lambda src: 0,
        links_tflm=True, carries_cmsis_nn=False, template_suffix=""),
    "c": Packaging(
        lambda src: src.program.constant_bytes,
        lambda src, out, cc: src.program.write(out, src.labels, src.source),
        lambda src, out: src.program.write(out, src.labels, src.source),
        lambda src: (src.program.arena_bytes, src.program.arena_bytes), lambda src: src.program.constant_bytes,
        links_tflm=False, carries_cmsis_nn=True, template_suffix="_c"),
}


@dataclass
class Sample:
    """One image to run first on the target, with its true class and the host's int8 prediction."""
    pixels: np.ndarray    # uint8, H x W x C
    true_label: str
    host_label: str
    origin: str           # "validation" or "synthetic (mid-grey)"


def _context(src: ModelSource, sample: Sample, **extra) -> dict:
    pixels = np.asarray(sample.pixels, dtype=np.uint8).reshape(-1)
    p = src.packaging
    measured, reserved = p.arena(src)
    return dict(
        version=__version__, source=Path(src.source).name, labels=src.labels, model_bytes=src.device_bytes,
        packaging=p, constant_bytes=p.constant_bytes(src),
        arena_measured=measured, arena_alloc=reserved, ops=src.info.ops,
        methods=resolver_methods(src.info.ops) if p.links_tflm else [], input=src.info.inputs[0],
        sample=dict(origin=sample.origin, shape=list(sample.pixels.shape), size=len(pixels),
                    true_label=sample.true_label, host_label=sample.host_label, rows=hex_rows(pixels.tobytes())),
        **extra)


def library_name(name: str) -> str:
    return f"tinyml_{name}"


EXAMPLE = "classify"


def write_arduino_library(src: ModelSource, sample: Sample, folder: Path, board=None,
                          cmsis_nn: Path | None = None) -> None:
    """An Arduino library in `folder` (named like the library): library.properties, src/ with the model API,
    and examples/classify/classify.ino. With the C engine, src/ also carries CMSIS-NN (`cmsis_nn`)."""
    library = folder.name
    context = _context(src, sample, library=library, board=board)
    src.write_api(_mkdir(folder / "src"), cc=".cpp")   # the Arduino builder compiles .cpp, not .cc
    if src.packaging.carries_cmsis_nn:
        bundle_cmsis_nn(cmsis_nn, folder / "src")
    example = folder / "examples" / EXAMPLE
    render(context, [("arduino/library.properties.j2", folder / "library.properties"),
                      ("arduino/example.ino.j2", example / f"{EXAMPLE}.ino"),
                      ("model_api/sample_input.h.j2", example / "sample_input.h")])


def bundle_cmsis_nn(root: Path, src_dir: Path) -> None:
    """CMSIS-NN inside an exported Arduino library, laid out for the Arduino builder, which compiles every
    source under src/ and puts only src/ on the include path: its headers at src/ (Internal/ beside them, as
    they include it), its sources in src/cmsis_nn/, its license with them. Only the user's export carries it. The
    builder takes no per-library flags, so the requantization define `verify` builds with (`REQUANTIZE_ASM_GUARD`)
    heads the copied arm_nnsupportfunctions.h, behind the preprocessor's test for the core."""
    for header in sorted((root / "Include").rglob("*.h")):
        dest = src_dir / header.relative_to(root / "Include")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(header, dest)
    support = src_dir / "arm_nnsupportfunctions.h"   # what CMSIS-NN's kernels and the model include alike
    support.write_text(REQUANTIZE_ASM_GUARD + support.read_text())
    for source in sorted((root / "Source").glob("*/*.c")):
        dest = src_dir / "cmsis_nn" / source.relative_to(root / "Source")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, dest)
    if (root / "LICENSE").is_file():
        shutil.copy(root / "LICENSE", src_dir / "cmsis_nn" / "LICENSE")


ZIP_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip entry can carry


def zip_folder(folder: Path, archive: Path) -> None:
    """The zip "Sketch → Include Library → Add .ZIP Library" expects: one top folder holding the library.
    Reproducible: the same folder gives the same bytes (entries sorted, one fixed time, rw-r--r-- files and
    rwxr-xr-x folders), whenever and by whomever it is exported."""
    entries = {(Path(folder.name) / p.relative_to(folder)).as_posix() + ("/" if p.is_dir() else ""): p
               for p in folder.rglob("*")}
    with zipfile.ZipFile(archive, "w") as z:
        for name, path in sorted(entries.items()):
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.external_attr = ((0o40755 if path.is_dir() else 0o100644) << 16) | (0x10 if path.is_dir() else 0)
            entry.compress_type = zipfile.ZIP_STORED if path.is_dir() else zipfile.ZIP_DEFLATED
            z.writestr(entry, b"" if path.is_dir() else path.read_bytes())


def tflm_arch(board) -> str:
    """TFLM's TARGET_ARCH for the board's core (its makefile's names: cortex-m4+fp, cortex-m33, ...)."""
    hard_fp_suffix = board.mcpu in ("cortex-m4", "cortex-m7") and board.float_abi == "hard"
    return board.mcpu + ("+fp" if hard_fp_suffix else "")


def write_stm32_project(src: ModelSource, sample: Sample, folder: Path, board, tflm_tree: Path | None = None,
                        cmsis_nn: Path | None = None) -> None:
    """A Makefile project in `folder`: tinyml/ (model API, app_tinyml C API, sample), Makefile, README.md. With
    the C engine the Makefile compiles CMSIS-NN from `cmsis_nn` (CMSIS_NN_DIR) instead of linking TFLM."""
    context = _context(src, sample, project=folder.name, board=board, cpu_flags=board.gcc_cpu_flags,
                       defines=TFLM_DEFINES, nn_defines=cmsis_nn_defines(board.gcc_cpu_flags),
                       tflm_tree=str(tflm_tree) if tflm_tree else "", tflm_arch=tflm_arch(board),
                       cmsis_nn_dir=str(cmsis_nn) if cmsis_nn else "")
    sources = _mkdir(folder / "tinyml")
    src.write_api(sources)
    suffix = src.packaging.template_suffix
    render(context, [("stm32/app_tinyml.h.j2", sources / "app_tinyml.h"),
                      ("stm32/app_tinyml.cc.j2", sources / "app_tinyml.cc"),
                      ("model_api/sample_input.h.j2", sources / "sample_input.h"),
                      (f"stm32/Makefile{suffix}.j2", folder / "Makefile"),
                      (f"stm32/README{suffix}.md.j2", folder / "README.md")])


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
