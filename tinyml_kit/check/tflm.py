"""The int8 model on the real TFLM reference kernels, and the tensor arena it actually allocates.

`print_allocations()` writes TFLM's RecordingMicroAllocator report to C-level stderr, so fd 2 is redirected
to a file around the call. The host figure is an upper bound for a Cortex-M build: the planned activations are
the same, the persistent part is larger on a 64-bit host (pointers, the recording allocator). `verify` measured
a Cortex-M4F build's `arena_used_bytes()` 3.9 % below the host's total on the default fit (103,364 vs 107,344 B).
"""

import re

import numpy as np

from tinyml_kit.core.arena import ArenaUsage, arena_with_headroom  # noqa: F401  (re-exported)
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.stderr import captured_stderr
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.export.op_resolver import resolver_methods

_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_HEAD = re.compile(r"Arena allocation head (\d+) bytes")
_TAIL = re.compile(r"Arena allocation tail (\d+) bytes")
def _interpreter(model: bytes):
    from tflite_micro.python.tflite_micro import runtime


    resolver_methods(read_model(model).ops)   # an op TFLM lacks is named here, not reported as a failed allocation

    arena = max(8 * 1024 * 1024, 10 * len(model))
    try:
        return runtime.Interpreter.from_bytes(model, arena_size=arena)
    except Exception as e:
        raise UserError(f"TFLM cannot load the model: {str(e).splitlines()[0]}") from None


class TflmModel:
    """A TFLM interpreter over one int8 model, with batch inference and the recorded arena usage."""

    def __init__(self, model: bytes):
        self._interp = _interpreter(model)
        detail = self._interp.get_input_details(0)
        self.input_shape = tuple(int(d) for d in detail["shape"])
        self.input_dtype = detail["dtype"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Run each image of `x` (already quantized to the input dtype) and stack output 0."""
        return self.predict_all(x, 1)[0]

    def predict_all(self, x: np.ndarray, outputs: int) -> list[np.ndarray]:
        """The first `outputs` graph outputs of each image of `x`, each stacked over the images."""
        stacked: list[list[np.ndarray]] = [[] for _ in range(outputs)]
        for image in x:
            self._interp.set_input(image.reshape(self.input_shape).astype(self.input_dtype), 0)
            self._interp.invoke()
            for i, out in enumerate(stacked):
                out.append(np.array(self._interp.get_output(i)).reshape(-1))
        return [np.stack(out) for out in stacked]

    def arena(self) -> ArenaUsage:
        """Arena usage as recorded by TFLM (runs one inference first if none ran yet)."""
        self.predict(np.zeros((1, *self.input_shape[1:]), self.input_dtype))
        with captured_stderr() as captured:
            self._interp.print_allocations()
        text = captured[0]
        total, head, tail = (_TOTAL.search(text), _HEAD.search(text), _TAIL.search(text))
        if not total:
            raise RuntimeError(f"TFLM printed no arena report: {text[:200]!r}")
        return ArenaUsage(int(total.group(1)), int(head.group(1)) if head else 0, int(tail.group(1)) if tail else 0)


def measure_arena(model: bytes) -> ArenaUsage:
    return TflmModel(model).arena()
