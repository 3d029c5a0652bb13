"""Time per inference on a board: predicted instructions × cycles per instruction ÷ the board's clock, on the cores
tinyml-kit emulates; MACs ÷ a MACs-per-cycle guess on the others.

Cycles per instruction of int8 inference with TFLM + CMSIS-NN, anchored on the one published CPU-only TFLM +
CMSIS-NN result on a core QEMU emulates here: MLPerf Tiny v0.7, Renesas EK-RA6M4 (Cortex-M33 @ 200 MHz, "tflite-
micro" with CMSIS), ResNet-8 in 246.2 ms = 49.24 M cycles (mlcommons/tiny_results_v0.7,
closed/renesas/results/EK-RA6M4/ic/performance/results.txt). The same network takes 30,613,150 instructions on the
emulated Cortex-M33 (bench/latency_model.py prints it), so 1.61 cycles per instruction there, flash wait states
and caches included. The other cores scale by CoreMark/MHz against the M33's 4.02 (NXP AN12284: Cortex-M4 3.40,
Cortex-M33 4.02; Cortex-M7 5.01; Cortex-M55 4.2, Arm's own figure). The M55 figure is the least certain: its Helium
kernels run fewer, multi-beat instructions, which CoreMark does not exercise.

Cores without a QEMU machine here (Cortex-M0+, Xtensa LX7) keep the MAC-throughput estimate: sustained int8 MACs
per cycle from ../shared/docs/boards-reference.md §3, not measurements of ours.
"""

import json
from functools import lru_cache

from tinyml_kit.core.cores import CORES
from tinyml_kit.core.resources import INSTRUCTION_MODEL_FILE

ANCHOR_CYCLES = 49.24e6              # ResNet-8 on EK-RA6M4 (Cortex-M33), MLPerf Tiny v0.7
ANCHOR_INSTRUCTIONS = 30_613_150     # ResNet-8, TFLM + CMSIS-NN, on the emulated Cortex-M33
ANCHOR_ENGINE = "tflm"               # the instruction table's rows for the engine the anchor ran on
COREMARK_PER_MHZ = {"Cortex-M4F": 3.40, "Cortex-M7": 5.01, "Cortex-M33": 4.02, "Cortex-M55": 4.2}
CYCLES_PER_INSTRUCTION = {core: ANCHOR_CYCLES / ANCHOR_INSTRUCTIONS * COREMARK_PER_MHZ["Cortex-M33"] / score
                          for core, score in COREMARK_PER_MHZ.items()}

MACS_PER_CYCLE = {"Cortex-M0+": 0.05, "Xtensa LX7": 0.5}
DEFAULT_MACS_PER_CYCLE = 0.15        # the MLPerf Tiny v0.5 reference on an L4R5 without optimised kernels
DEFAULT_LATENCY_MS = 100.0


def cycles_per_instruction(core: str) -> float | None:
    """None for a core whose latency is estimated from MACs: no emulated core stands for it, or the shipped
    instruction table has no profiles of it."""
    return CYCLES_PER_INSTRUCTION.get(core) if core in profiled_cores() else None


@lru_cache(maxsize=1)
def instruction_table() -> dict:
    """The shipped instruction table (`solve.instructions` costs ops with it), read once; empty if absent."""
    return json.loads(INSTRUCTION_MODEL_FILE.read_text()) if INSTRUCTION_MODEL_FILE.is_file() else {"models": []}


@lru_cache(maxsize=1)
def profiled_cores() -> frozenset[str]:
    """The board cores (boards.yaml's names) the shipped instruction table covers (TFLM's profiles)."""
    return frozenset(CORES[m["core"]].title for m in instruction_table()["models"]
                     if m["engine"] == ANCHOR_ENGINE and m["core"] in CORES)


def instruction_budget(core: str, clock_mhz: float, latency_ms: float = DEFAULT_LATENCY_MS) -> int | None:
    """Instructions that fit in `latency_ms` on this core, or None when its latency is estimated from MACs."""
    cpi = cycles_per_instruction(core)
    return None if cpi is None else int(clock_mhz * 1e6 * latency_ms / 1000.0 / cpi)


def latency_ms_from_instructions(instructions: float, core: str, clock_mhz: float) -> float:
    """On a core with a cycles-per-instruction figure: the others have no instruction count to convert."""
    cpi = cycles_per_instruction(core)
    if cpi is None:
        raise ValueError(f"{core} has no cycles per instruction: its latency is estimated from MACs")
    return instructions * cpi / (clock_mhz * 1e6) * 1000.0


def macs_per_cycle(core: str) -> float:
    return MACS_PER_CYCLE.get(core, DEFAULT_MACS_PER_CYCLE)


def mac_budget(core: str, clock_mhz: float, latency_ms: float = DEFAULT_LATENCY_MS) -> int:
    """MACs that fit in `latency_ms` on a core estimated from MACs."""
    return int(macs_per_cycle(core) * clock_mhz * 1e6 * latency_ms / 1000.0)


def latency_ms(macs: int, core: str, clock_mhz: float) -> float:
    return macs / (macs_per_cycle(core) * clock_mhz * 1e6) * 1000.0
