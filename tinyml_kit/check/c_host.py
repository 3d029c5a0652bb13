"""The C engine's generated model run natively on the host: CMSIS-NN's portable C path and the generated sources
compiled with the system compiler (`-std=c11 -Wall -Wextra -Werror -pedantic`) into a shared library, called
through ctypes. Seconds instead of QEMU's minutes, and the same integer arithmetic as a Cortex-M build (CMSIS-NN's
DSP and plain-C paths compute the same outputs; `verify` shows it on the emulated core).
"""

import ctypes
import tempfile
from pathlib import Path

import numpy as np

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import HostResult
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.engine.footprint import program_footprint
from tinyml_kit.export.toolchain import (
    C_ENGINE_WARNINGS,
    HOST_CC,
    cmsis_nn_library,
    find_cmsis_nn_dir,
    require_tool,
    run_tool,
)

HOST_FLAGS = ["-O2", "-fPIC"]


def host_cmsis_nn(root: Path) -> Path:
    """libcmsisnn.a for the host (cached)."""
    return cmsis_nn_library(root, require_tool(HOST_CC), HOST_FLAGS, "host")


def build_host_library(source_dir: Path, root: Path, out: Path) -> Path:
    """The generated sources in `source_dir` linked with CMSIS-NN into the shared library `out`."""
    run_tool([require_tool(HOST_CC), *HOST_FLAGS, *C_ENGINE_WARNINGS, "-shared", "-I", str(source_dir),
              "-isystem", str(root / "Include"), str(source_dir / "tinyml_model.c"), str(host_cmsis_nn(root)),
              "-lm", "-o", str(out)], "compiling the generated model for the host")
    return out


class HostModel:
    """The generated model loaded in this process: `predict` int8 images to int8 outputs."""

    def __init__(self, library: Path):
        self._lib = ctypes.CDLL(str(library))
        self._lib.tinyml_output.restype = ctypes.POINTER(ctypes.c_int8)
        self._lib.tinyml_input_bytes.restype = ctypes.c_size_t
        self._lib.tinyml_output_size.restype = ctypes.c_size_t
        self._lib.tinyml_run_int8.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        status = self._lib.tinyml_init()
        if status != 0:
            raise UserError(f"the generated model's init failed on the host (status {status})")

    def predict(self, images: np.ndarray) -> np.ndarray:
        size = int(self._lib.tinyml_input_bytes())
        classes = int(self._lib.tinyml_output_size())
        outputs = np.empty((len(images), classes), dtype=np.int8)
        for k, image in enumerate(images):
            data = np.ascontiguousarray(image, dtype=np.int8).reshape(-1)
            if data.size != size:
                raise UserError(f"an input of {data.size} values reached a model taking {size}")
            status = self._lib.tinyml_run_int8(data.ctypes.data, size)
            if status != 0:
                raise UserError(f"the generated model failed on the host (status {status})")
            outputs[k] = np.ctypeslib.as_array(self._lib.tinyml_output(), shape=(classes,))
        return outputs


def check_on_host(flatbuffer: bytes, images: np.ndarray, cmsis_nn_dir=None, tflm_dir=None,
                  name: str = "model", family: KernelFamily = KernelFamily.DSP) -> HostResult:
    """The C engine's generated model built for this machine (CMSIS-NN's portable C: the non-Helium plan) and run
    on `images` (int8) beside LiteRT's reference kernels: whether every output is equal, and what the build takes
    on the device, a core taking `family`'s kernels."""
    root = find_cmsis_nn_dir(cmsis_nn_dir, tflm_dir)
    program = compile_model(flatbuffer, name)
    classes = program.model.tensors[program.model.output].elements
    with tempfile.TemporaryDirectory(prefix="tinyml_c_host_") as tmp:
        program.write(Path(tmp), [f"class{i}" for i in range(classes)])
        got = HostModel(build_host_library(Path(tmp), root, Path(tmp) / "model.so")).predict(images)
    expected = LiteRtModel(flatbuffer).predict(images)
    diff = np.abs(got.astype(np.int32) - expected.astype(np.int32))
    footprint = program_footprint(program if family is program.family else compile_model(flatbuffer, name, family))
    return HostResult("c", len(images), bool(diff.max(initial=0) == 0), int(diff.max(initial=0)),
                      footprint.flash_bytes, footprint.arena_bytes)
