"""The tensor arena as TFLM reports it, and the arena a firmware should reserve for it."""

import math
from dataclasses import dataclass

HEADROOM_FRACTION = 0.05
HEADROOM_MIN_BYTES = 1024


@dataclass
class ArenaUsage:
    total_bytes: int        # what TFLM used: planned activations (head) + persistent allocations (tail)
    head_bytes: int
    tail_bytes: int

    @property
    def alloc_bytes(self) -> int:
        """The arena to allocate on the device: measured use plus headroom for target differences
        (kernel scratch buffers differ between reference and CMSIS-NN kernels), rounded up to 16 bytes."""
        return arena_with_headroom(self.total_bytes)


def arena_with_headroom(measured: int) -> int:
    size = measured + max(HEADROOM_MIN_BYTES, math.ceil(measured * HEADROOM_FRACTION))
    return -(-size // 16) * 16
