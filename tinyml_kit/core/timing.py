"""Cycles per instruction class on each emulated core, as data with its sources, and the memory system's wait
states: what turns the instruction-mix plugin's counts into a cycle estimate (`check.plugin`).

QEMU counts instructions; a Cortex-M spends cycles. The plugin sorts every executed instruction into a class
(`CLASSES`) and sums a cost per class, per register of a load/store multiple, a pipeline refill per taken branch,
a change when one class follows another in the same basic block (the M4's pipelined loads, the M7's dual issue,
the M55's overlapping Helium beats) and flash wait states for data reads its model of the board's cache misses.
`cycles_from_counts` is the same sum in Python, so a test can hold the plugin to the table.

Sources, per core:
- Cortex-M4: Arm Cortex-M4 Technical Reference Manual (DDI 0439B), table 3-1 "Cortex-M4 instruction set
  summary" and §3.3.2 "Load/store timings", at zero wait states. P (pipeline refill) is 1-3 cycles there; 2 is
  used. SDIV/UDIV take 2-12 cycles by the operands' leading zeros, which a QEMU 7.2 plugin cannot read: 7 is used.
- Cortex-M33: Arm publishes no instruction timings for it; LLVM schedules the M33 with its Cortex-M4 model
  (llvm/lib/Target/ARM/ARMProcessors.td: ProcessorModel<"cortex-m33", CortexM4Model, ...>), and so does this table.
- Cortex-M7: GCC's scheduling description gcc/config/arm/cortex-m7.md: two issue slots, two ALUs, one load/store
  unit, one MAC, one FPU; DSP instructions only on ALU0; divide occupies every unit. Not validated: no rebuildable
  published M7 cycle count is known.
- Cortex-M55: LLVM's llvm/lib/Target/ARM/ARMScheduleM55.td: scalar code "a lot like the M4/M33"; every Helium
  instruction takes two beats on one of its pipes, and the second beat overlaps the next instruction's first when
  that uses another pipe (load/store against the others here); mispredict penalty 3. Low-overhead loop ends
  (LE/LETP) are assumed free after the first pass, as the loop-info cache intends. Not validated either.
"""

from dataclasses import dataclass

from tinyml_kit.core.boards import Board, require_memory
from tinyml_kit.core.cores import emulated_core

# The plugin's classes, in the order its cost argument and its JSON list them (firmware_templates/qemu_plugin).
CLASSES = ("alu", "mul", "dsp", "div", "load", "store", "load_multiple", "store_multiple", "branch", "branch_cond",
           "fpu", "mve_load_store", "mve_compute", "loop_end", "other")
QUARTERS = 4   # the plugin sums quarter cycles, so half-cycle costs (the M7's multiples) stay exact


@dataclass(frozen=True)
class PairRule:
    """When `then` directly follows `first` in a block, `then` costs `delta` cycles more (a saving is negative).
    A rule that `chains` applies along a run (n pipelined loads: n + 1 cycles); one that does not pairs two
    instructions and leaves the second unable to pair again (dual issue)."""
    first: str
    then: str
    delta: float
    chains: bool


@dataclass(frozen=True)
class CoreTiming:
    """One core's costs in cycles, at zero wait states."""
    core: str                          # the emulated core's id (core.cores)
    costs: dict[str, float]            # per class
    per_register: float                # each register a load/store multiple (LDM, POP, LDRD, ...) moves
    refill: float                      # a taken branch or a load into PC refills the pipeline
    pairs: tuple[PairRule, ...]
    source: str
    validation: str | None = None      # how it compares with published cycle counts of code rebuilt here

    @property
    def validated(self) -> bool:
        return self.validation is not None

    def __post_init__(self):
        for rule in self.pairs:   # the plugin sums unsigned quarters: no instruction may cost less than nothing
            if self.costs[rule.then] + rule.delta < 0:
                raise ValueError(f"{self.core}: {rule.first} then {rule.then} would cost less than 0 cycles")


@dataclass(frozen=True)
class MemoryTiming:
    """What data reads from flash cost on a board: `wait_states` cycles each time the flash data cache misses, a
    direct-mapped cache of `lines` lines of `line_bytes` (0 lines: no cache, every read waits). Instruction fetch
    is taken as hidden by the prefetch buffer or instruction cache every board with an emulated core has."""
    wait_states: int = 0
    line_bytes: int = 16
    lines: int = 0
    what: str = "zero wait states"

    def wait_cycles(self, misses: float, loads: float) -> float:
        """The wait states a board adds to data reads from flash counted (or predicted) at REFERENCE_CACHE: on
        every read (`loads`) without a data cache, else on the reference cache's `misses` scaled by its line over
        this one's (a line twice as long brings in twice as much per miss)."""
        if self.lines == 0:
            return self.wait_states * loads
        return self.wait_states * misses * REFERENCE_CACHE.line_bytes / self.line_bytes


ZERO_WAIT = MemoryTiming()
# The flash data cache profiles count misses against (bench/latency_model.py): eight lines of 16 bytes, like the
# STM32F4/L4 ART's, at zero wait states (cycles are the core's own; a board's wait states are added per miss).
REFERENCE_CACHE = MemoryTiming(0, 16, 8, "reference flash data cache: 8 lines of 16 B, no wait states")


def memory_timing(board: Board) -> MemoryTiming:
    """What flash data reads cost on `board` (boards.yaml's `memory`): with no data cache in front of the flash,
    or one the default build leaves off, every read waits; behind an ART-like data cache only its misses do, taken
    as the reference cache's misses at the board's line size. A board without the data gets one line
    (`core.boards.require_memory`), not a guess."""
    memory = require_memory(board)
    unsure = f"; unconfirmed: {', '.join(memory.unconfirmed)}" if memory.unconfirmed else ""
    if memory.flash_wait_states is None:
        return MemoryTiming(0, REFERENCE_CACHE.line_bytes, REFERENCE_CACHE.lines,
                            f"no internal flash ({memory.flash_accelerator}): external memory waits not modelled"
                            f"{unsure}")
    ws = memory.flash_wait_states
    if not memory.data_reads_cached:
        return MemoryTiming(ws, REFERENCE_CACHE.line_bytes, 0, f"{ws} wait states on every data read from flash "
                            f"({memory.flash_accelerator}{'' if memory.caches_enabled else ' off'}){unsure}")
    line = memory.data_line_bytes or REFERENCE_CACHE.line_bytes
    return MemoryTiming(ws, line, REFERENCE_CACHE.lines, f"{ws} wait states on misses of the "
                        f"{memory.flash_accelerator} data cache ({line}-B lines){unsure}")


_SCALAR_M4 = {"alu": 1, "mul": 1, "dsp": 1, "div": 7, "load": 2, "store": 1, "load_multiple": 1,
              "store_multiple": 1, "branch": 1, "branch_cond": 1, "fpu": 1, "other": 1}
# Not on the core: a cost so a stray instruction of the class still counts.
_NO_HELIUM = {"mve_load_store": 2, "mve_compute": 2, "loop_end": 1}
# "LDR [any] are pipelined when possible ... one cycle is removed from the cost of the next instruction": n
# back-to-back loads take n + 1 cycles (M4 TRM §3.3.2). STR already costs 1 (the write buffer).
_PIPELINED_LOADS = (PairRule("load", "load", -1, True),)

M4_SOURCE = "Arm Cortex-M4 TRM (DDI 0439B) table 3-1 and §3.3.2, zero wait states; P = 2, DIV = 7"


def _m7_dual_issue() -> tuple[PairRule, ...]:
    """Pairs the Cortex-M7 issues together: the two use no unit only one of them can have (GCC's cortex-m7.md)."""
    units = {"alu": {"alu"}, "mul": {"mac"}, "dsp": {"alu0"}, "load": {"lsu"}, "store": {"lsu"},
             "branch": {"branch"}, "branch_cond": {"branch"}, "fpu": {"fpu"}}
    exclusive = {"mac", "alu0", "lsu", "branch", "fpu"}
    return tuple(PairRule(a, b, -1, False) for a in units for b in units if not units[a] & units[b] & exclusive)


def _m55_beats() -> tuple[PairRule, ...]:
    """Helium: the second beat of one instruction overlaps the first of the next on another pipe."""
    return (PairRule("mve_load_store", "mve_compute", -1, True), PairRule("mve_compute", "mve_load_store", -1, True))


TIMINGS = {t.core: t for t in (
    CoreTiming("m4", {**_SCALAR_M4, **_NO_HELIUM}, 1, 2, _PIPELINED_LOADS, M4_SOURCE,
               "25 published cycle counts (pqm4's M4 assembly, Embench-IoT 0.5) rebuilt here: median |error| 4.3 %, "
               "worst 21.6 % (bench/cycle_model.py)"),
    CoreTiming("m33", {**_SCALAR_M4, **_NO_HELIUM}, 1, 2, _PIPELINED_LOADS,
               "no Arm instruction timings for the Cortex-M33: the Cortex-M4 table, as LLVM's scheduler uses "
               f"for it ({M4_SOURCE})",
               "7 published cycle counts (TFLM + CMSIS-NN on an MCXN947, microTVM + CMSIS-NN on an nRF5340) rebuilt "
               "here, flash taken at zero wait states: median |error| 5.5 %, worst 19.9 % (bench/cycle_model.py)"),
    CoreTiming("m7", {**{c: 1 for c in _SCALAR_M4}, "div": 4, **_NO_HELIUM}, 0.5, 1, _m7_dual_issue(),
               "GCC gcc/config/arm/cortex-m7.md: dual issue unless both need the one LSU, MAC, FPU, branch unit or "
               "ALU0 (DSP); divide 4; multiples two registers a cycle; refill 1 (branch predictor)"),
    CoreTiming("m55", {**_SCALAR_M4, "mve_load_store": 2, "mve_compute": 2, "loop_end": 0}, 1, 3, (
        *_PIPELINED_LOADS, *_m55_beats()),
        "LLVM llvm/lib/Target/ARM/ARMScheduleM55.td: scalar as the M4, Helium two beats per instruction "
        "overlapping across pipes, mispredict 3; loop ends assumed free in the loop-info cache"),
)}


@dataclass(frozen=True)
class Counts:
    """What the plugin counted that the cycle sum depends on."""
    classes: dict[str, int]
    registers: int                 # moved by load/store multiples, loaded and stored
    taken_branches: int            # unconditional, conditional taken, loads into PC
    rule_hits: tuple[int, ...]     # per rule of the timing, in its order
    flash_misses: int = 0


def quarters(cycles: float) -> int:
    """A cost in the plugin's unit; the tables hold only multiples of a quarter cycle."""
    q = cycles * QUARTERS
    if q != int(q):
        raise ValueError(f"{cycles} cycles is not a whole number of quarter cycles")
    return int(q)


def cycles_from_counts(counts: Counts, timing: CoreTiming, memory: MemoryTiming = ZERO_WAIT) -> float:
    """The plugin's cycle sum from its counts: the two must agree to the quarter cycle."""
    total = sum(quarters(timing.costs[c]) * n for c, n in counts.classes.items())
    total += quarters(timing.per_register) * counts.registers + quarters(timing.refill) * counts.taken_branches
    total += sum(quarters(rule.delta) * hits for rule, hits in zip(timing.pairs, counts.rule_hits, strict=True))
    total += quarters(memory.wait_states) * counts.flash_misses
    return total / QUARTERS


def plugin_arguments(timing: CoreTiming, memory: MemoryTiming = ZERO_WAIT) -> list[str]:
    """The plugin's timing arguments (name=value) for `timing` on a board with `memory`."""
    index = {c: i for i, c in enumerate(CLASSES)}
    args = ["cost=" + ":".join(str(quarters(timing.costs[c])) for c in CLASSES),
            f"reg={quarters(timing.per_register)}", f"refill={quarters(timing.refill)}"]
    args += [f"pair={index[r.first]}:{index[r.then]}:{quarters(r.delta)}:{int(r.chains)}" for r in timing.pairs]
    if memory != ZERO_WAIT:   # the flash model counts misses even at zero wait states (a profile's reference cache)
        args += [f"flash_ws={quarters(memory.wait_states)}", f"dline={memory.line_bytes}", f"dlines={memory.lines}"]
    return args


def not_validated(core_title: str) -> str:
    """The words a printed cycle figure carries when its core's timing table was never checked against published
    cycle counts (the Cortex-M7's and M55's), else nothing."""
    emulated = emulated_core(core_title)
    if emulated is None or TIMINGS[emulated.id].validated:
        return ""
    return f" (the {core_title}'s cycle timing is not validated)"
