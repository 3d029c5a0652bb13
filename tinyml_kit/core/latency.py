"""MACs a board can afford in a given time, from its clock and a per-core throughput.

Sustained int8 MACs per cycle with CMSIS-NN (or the reference kernels where no SIMD exists). These are
starting values from ../shared/docs/boards-reference.md §3, not measurements of ours: SMLAD gives a peak of
2 MAC/cycle on M4/M7/M33 (https://doc.rust-lang.org/core/arch/arm/fn.__smlad.html), CMSIS-NN is ~4.6x the
reference kernels (https://arxiv.org/abs/1801.06601), and the MLPerf Tiny reference run on an L4R5 without
CMSIS-NN reaches ~0.15 MAC/cycle.
"""

MACS_PER_CYCLE = {
    "Cortex-M0+": 0.05,
    "Cortex-M4F": 0.5,
    "Cortex-M33": 0.5,
    "Cortex-M7": 1.0,
    "Cortex-M55": 2.0,
    "Xtensa LX7": 0.5,
}
DEFAULT_MACS_PER_CYCLE = 0.15
DEFAULT_LATENCY_MS = 100.0


def macs_per_cycle(core: str) -> float:
    return MACS_PER_CYCLE.get(core, DEFAULT_MACS_PER_CYCLE)


def mac_budget(core: str, clock_mhz: float, latency_ms: float = DEFAULT_LATENCY_MS) -> int:
    """MACs that fit in `latency_ms` on this core (an estimate until measured on the board)."""
    return int(macs_per_cycle(core) * clock_mhz * 1e6 * latency_ms / 1000.0)


def latency_ms(macs: int, core: str, clock_mhz: float) -> float:
    return macs / (macs_per_cycle(core) * clock_mhz * 1e6) * 1000.0
