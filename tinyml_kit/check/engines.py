"""Each engine's part in `check` (`solve.engines` explains the split): what an int8 model measures on it (flash,
the arena it uses, the arena a firmware reserves) and its own check on this machine beside LiteRT, where it has
one (TFLM's is `evaluate`'s LiteRT-vs-TFLM run, which every model gets)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.check.analysis import EnginePlan
from tinyml_kit.check.analyze import board_fit
from tinyml_kit.check.c_host import check_on_host
from tinyml_kit.check.c_plan import c_engine_analysis
from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.core.cores import KernelFamily, kernel_family
from tinyml_kit.core.evaluation import Footprint, HostResult
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.engine.footprint import c_footprint
from tinyml_kit.export.toolchain import HOST_CC, find_cmsis_nn_dir, require_tool
from tinyml_kit.solve.engines import Engine


@dataclass(frozen=True)
class HostCheck:
    """An engine's own build for this machine, run on the same int8 images as LiteRT."""
    require: Callable[[object], None]                        # cmsis_nn_dir -> refuses a missing tool or tree
    # (flatbuffer, images, cmsis_nn_dir, name, the kernel family of the board's core)
    run: Callable[[bytes, np.ndarray, object, str, KernelFamily], HostResult]
    verdict: Callable[[HostResult], str]                     # its result in the words of `fit`'s last line


@dataclass(frozen=True)
class EngineChecks:
    footprint: Callable[[bytes, KernelFamily], Footprint]   # (flatbuffer, the board's kernel family)
    host: HostCheck | None = None           # None: `evaluate`'s LiteRT-vs-TFLM run is its check
    analysis: Callable[[bytes, str, object], EnginePlan] | None = None   # (flatbuffer, name, board) -> its plan


def _tflm_footprint(flatbuffer: bytes, family: KernelFamily) -> Footprint:
    arena = measure_arena(flatbuffer)
    return Footprint(tflm_flash_bytes(flatbuffer), arena.total_bytes, arena.alloc_bytes)


def _c_footprint(flatbuffer: bytes, family: KernelFamily) -> Footprint:
    fp = c_footprint(flatbuffer, family=family)
    return Footprint(fp.flash_bytes, fp.arena_bytes, fp.arena_bytes, fp.constant_bytes)


def _c_require_host(cmsis_nn_dir) -> None:
    require_tool(HOST_CC)
    find_cmsis_nn_dir(cmsis_nn_dir)


def _c_on_host(flatbuffer: bytes, images: np.ndarray, cmsis_nn_dir, name: str, family: KernelFamily) -> HostResult:
    return check_on_host(flatbuffer, images, cmsis_nn_dir, name=name, family=family)


def _c_analysis(flatbuffer: bytes, name: str, board) -> EnginePlan:
    """Its static plan, and the board verdict by its flash and arena (the plan is the arena: no headroom)."""
    c = c_engine_analysis(flatbuffer, name, kernel_family(board.core if board else None))
    return EnginePlan(c, board_fit(board, c.flash_bytes, c.arena_bytes, headroom=False) if board else None)


CHECKS: dict[str, EngineChecks] = {
    "tflm": EngineChecks(_tflm_footprint),
    "c": EngineChecks(_c_footprint, HostCheck(
        _c_require_host, _c_on_host,
        lambda r: f"LiteRT == the C engine built for this machine: {r.equals_litert} ({r.images} images)"),
        _c_analysis),
}


def checks(engine: Engine) -> EngineChecks:
    return engine.part(CHECKS)


def measured_footprint(flatbuffer: bytes, engine: Engine, family: KernelFamily = KernelFamily.DSP) -> Footprint:
    """What the model takes on `engine` built for a core taking `family`'s kernels (`core.cores.kernel_family`)."""
    return checks(engine).footprint(flatbuffer, family)


def host_check(flatbuffer: bytes, images: np.ndarray, engine: Engine, cmsis_nn_dir: str | Path | None = None,
               name: str = "model", family: KernelFamily = KernelFamily.DSP) -> HostResult | None:
    """The engine's own check on this machine beside LiteRT (None for an engine whose check is `evaluate`'s);
    its sizes are those of a build for a core taking `family`'s kernels."""
    host = checks(engine).host
    return host.run(flatbuffer, images, cmsis_nn_dir, name, family) if host else None
