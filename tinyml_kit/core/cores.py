"""The Cortex-M cores tinyml-kit emulates, as data: QEMU's MPS2/MPS3 machine for each, its memory map, its
SysTick clock and the compiler flags of the TFLM libraries prebuilt for it; and which emulated core stands for a
board's.

Memory maps were read from QEMU's hw/arm/mps2.c and mps2-tz.c and checked by running firmware at each address.
SysTick counts the machine's processor clock, so under `-icount shift=0` a tick is 1000 / MHz instructions: 40 on
the MPS2 machines at 25 MHz, 50 on AN505 at 20 MHz, 31.25 on AN547 at 32 MHz (measured: 10^8 instructions of a
two-instruction loop gave exactly 2.5 M, 2.5 M, 2.0 M and 3.2 M ticks). QEMU counts instructions, not cycles:
latency comes from them through a cycles-per-instruction figure per core (`core.latency`).
"""

from dataclasses import dataclass
from enum import Enum

from tinyml_kit.core.errors import UserError, param


class KernelFamily(Enum):
    """Which of CMSIS-NN's kernel implementations a build takes: they differ in scratch sizes and in the order they
    touch memory, so the C engine's static plan (and any kernel generated per layer) is made for one of them.
    CMSIS-NN picks from the compiler's flags: `ARM_MATH_MVEI` (Helium) or not."""
    DSP = "dsp"   # without Helium: the DSP extension's kernels (Cortex-M4F, M7, M33) and the portable C (host, M0+)
    MVE = "mve"   # Helium (M-profile Vector Extension): Cortex-M55, M85, M52

    @property
    def title(self) -> str:
        return "Helium (MVE)" if self is KernelFamily.MVE else "DSP and portable C"

    @property
    def generates_kernels(self) -> bool:
        """Whether the C engine generates its own kernels per layer for this family (convolutions, depthwise): they
        are written for the DSP extension, with a portable C path; Helium cores keep CMSIS-NN's MVE kernels."""
        return self is KernelFamily.DSP


# The cores with Helium, as boards.yaml names them: CMSIS-NN builds its MVE kernels for them.
HELIUM_CORES = frozenset({"Cortex-M52", "Cortex-M55", "Cortex-M85"})


def kernel_family(core_title: str | None) -> KernelFamily:
    """The CMSIS-NN kernels a build for this core (boards.yaml's `core`) takes; no core: the non-Helium ones."""
    return KernelFamily.MVE if core_title in HELIUM_CORES else KernelFamily.DSP


@dataclass(frozen=True)
class EmulatedCore:
    id: str                       # what --core takes
    title: str                    # the core as boards.yaml names it
    machine: str                  # QEMU -M
    cpu: str                      # QEMU -cpu
    gcc_flags: tuple[str, ...]    # the flags the TFLM tree's prebuilt libraries were built with
    prebuilt: str                 # prebuilt/<dir> in the TFLM directory
    systick_mhz: int              # the machine's processor clock, which SysTick counts
    vectors: int                  # where the core fetches its vector table at reset
    flash: tuple[int, int]        # origin, length: code, rodata, the model
    ram: tuple[int, int]          # origin, length: data, bss (the arena), heap, stack
    memory_note: str

    @property
    def family(self) -> KernelFamily:
        return kernel_family(self.title)

    @property
    def mve(self) -> bool:
        """Helium: CMSIS-NN takes its MVE kernels."""
        return self.family is KernelFamily.MVE

    def linker_context(self) -> dict:
        return dict(machine=self.machine, title=self.title, memory_note=self.memory_note,
                    vectors_origin=self.vectors, flash_origin=self.flash[0], flash_length=self.flash[1],
                    ram_origin=self.ram[0], ram_length=self.ram[1])


_MIB = 1 << 20
CORES = {c.id: c for c in (
    EmulatedCore("m4", "Cortex-M4F", "mps2-an386", "cortex-m4",
                 ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m4f", 25,
                 0x0, (0x400, 4 * _MIB - 0x400), (0x20000000, 4 * _MIB),
                 "ZBT SSRAM1 (4 MiB at 0x0) serves as flash, SSRAM2/3 (4 MiB at 0x20000000) as RAM."),
    EmulatedCore("m7", "Cortex-M7", "mps2-an500", "cortex-m7",
                 ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m7", 25,
                 0x0, (0x400, 4 * _MIB - 0x400), (0x20000000, 4 * _MIB),
                 "The AN386 map: SSRAM1 (4 MiB at 0x0) as flash, SSRAM2/3 (4 MiB at 0x20000000) as RAM."),
    EmulatedCore("m33", "Cortex-M33", "mps2-an505", "cortex-m33",
                 ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb"), "cortex-m33", 20,
                 0x10000000, (0x10000400, 4 * _MIB - 0x400), (0x38000000, 4 * _MIB),
                 "Boots Secure: SSRAM1's Secure alias (4 MiB at 0x10000000) as flash, SSRAM2+3's (4 MiB at "
                 "0x38000000) as RAM."),
    EmulatedCore("m55", "Cortex-M55", "mps3-an547", "cortex-m55",
                 ("-mcpu=cortex-m55", "-mfloat-abi=hard", "-mthumb"), "cortex-m55", 32,
                 0x10000000, (0x38000000, 8 * _MIB), (0x31000000, 4 * _MIB),
                 "Boots Secure: vectors in ITCM (Secure alias 0x10000000), code in QSPI (8 MiB read-only at "
                 "0x38000000), RAM in SRAM2 (4 MiB at 0x31000000)."),
)}
CORE_IDS = tuple(CORES)


def emulated_core(core_title: str) -> EmulatedCore | None:
    """The emulated core that stands for a board's core (boards.yaml's `core`), if any."""
    return next((c for c in CORES.values() if c.title == core_title), None)


def core_for_board(board) -> EmulatedCore:
    """The emulated core that stands for `board`'s, or one line on why its core cannot be emulated here."""
    core = emulated_core(board.core)
    if core is None:
        raise UserError(f"board '{board.id}' has a {board.core}, which no QEMU machine here emulates: verify on "
                        f"{', '.join(CORE_IDS[:-1])} or {CORE_IDS[-1]} with {param('core')}; its latency is estimated "
                        f"from its MACs alone", "core")
    return core


def require_core(core: str | None, board) -> EmulatedCore:
    if core is None:
        return core_for_board(board)
    if core not in CORES:
        raise UserError(f"core '{core}' cannot be emulated: choose {', '.join(CORE_IDS[:-1])} or {CORE_IDS[-1]}",
                        "core")
    return CORES[core]
