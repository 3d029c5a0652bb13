"""Time per inference on a board: predicted cycles ÷ the board's clock on the cores tinyml-kit emulates; MACs ÷ a
MACs-per-cycle guess on the others.

On an emulated core the cycles are predicted per op (`solve.instructions`) from profiles the QEMU plugin counted
with the core's timing table (`core.timing`), plus the board's flash wait states on the data reads they predict
(`core.timing.memory_timing`): the time limit is then a budget of cycles, the clock times the limit.

Cores without a QEMU machine here (Cortex-M0+, Xtensa LX7) keep the MAC-throughput estimate: sustained int8 MACs
per cycle from ../shared/docs/boards-reference.md §3, not measurements of ours.
"""

import json
from functools import lru_cache

from tinyml_kit.core.cores import CORES
from tinyml_kit.core.resources import INSTRUCTION_MODEL_FILE

ANCHOR_ENGINE = "tflm"               # the engine whose profiles decide which cores have a cycle model
MACS_PER_CYCLE = {"Cortex-M0+": 0.05, "Xtensa LX7": 0.5}
DEFAULT_MACS_PER_CYCLE = 0.15        # the MLPerf Tiny v0.5 reference on an L4R5 without optimised kernels
DEFAULT_LATENCY_MS = 100.0


@lru_cache(maxsize=1)
def instruction_table() -> dict:
    """The shipped per-op cost table (`solve.instructions` costs ops with it), read once; empty if absent."""
    return json.loads(INSTRUCTION_MODEL_FILE.read_text()) if INSTRUCTION_MODEL_FILE.is_file() else {"models": []}


@lru_cache(maxsize=1)
def profiled_cores() -> frozenset[str]:
    """The board cores (boards.yaml's names) the shipped table predicts cycles on (TFLM's cycle profiles)."""
    return frozenset(CORES[m["core"]].title for m in instruction_table()["models"]
                     if m["engine"] == ANCHOR_ENGINE and m["core"] in CORES and "cycles" in m)


def cycle_budget(core: str, clock_mhz: float, latency_ms: float = DEFAULT_LATENCY_MS) -> int | None:
    """Cycles that fit in `latency_ms` at the board's clock, or None when its core's latency is estimated from
    MACs."""
    return int(round(clock_mhz * 1e3 * latency_ms)) if core in profiled_cores() else None


def latency_ms_from_cycles(cycles: float, clock_mhz: float) -> float:
    return cycles / (clock_mhz * 1e3)


def macs_per_cycle(core: str) -> float:
    return MACS_PER_CYCLE.get(core, DEFAULT_MACS_PER_CYCLE)


def mac_budget(core: str, clock_mhz: float, latency_ms: float = DEFAULT_LATENCY_MS) -> int:
    """MACs that fit in `latency_ms` on a core estimated from MACs."""
    return int(macs_per_cycle(core) * clock_mhz * 1e6 * latency_ms / 1000.0)


def latency_ms(macs: int, core: str, clock_mhz: float) -> float:
    return macs / (macs_per_cycle(core) * clock_mhz * 1e6) * 1000.0
