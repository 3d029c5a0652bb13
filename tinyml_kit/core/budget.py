"""What a model may use on a board: flash for the model (on TFLM its compact flatbuffer), RAM for the tensor arena,
time per inference and, when asked, MACs.

The board's budgets (boards.yaml minus reserves) tightened by the user's limits; each figure says where it came
from, so reports can show it. Time is a budget of cycles on the cores tinyml-kit emulates (the limit at the board's
clock, against predicted cycles with the board's flash wait states, `core.latency`), and of MACs on the others.
"""

from dataclasses import dataclass, field

from tinyml_kit.core.boards import Board
from tinyml_kit.core.cores import emulated_core
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.latency import DEFAULT_LATENCY_MS, cycle_budget, mac_budget, macs_per_cycle
from tinyml_kit.core.timing import TIMINGS, memory_timing
from tinyml_kit.core.verdict import Verdict, fits


@dataclass
class Budget:
    flash_bytes: int
    arena_bytes: int
    macs: int | None                  # None: no MAC limit (time is limited by cycles)
    notes: dict[str, str] = field(default_factory=dict)
    cycles: int | None = None         # None: the core is not emulated, time is limited by MACs
    latency_ms: float | None = None   # the time limit both derive from
    instructions: int | None = None   # only read from a record written before the cycle model, which limited time
                                      # by instructions: it is judged as it was, on its predicted instructions

    def verdict(self, flash_bytes: int, arena_alloc_bytes: int, macs: int, cycles: int | None = None) -> Verdict:
        """A model's measured flash, arena (with headroom), MACs and predicted cycles (flash wait states included;
        its predicted instructions against an old record's instruction budget) against this budget."""
        limits = {"flash": (flash_bytes, self.flash_bytes), "arena": (arena_alloc_bytes, self.arena_bytes)}
        if self.macs is not None:
            limits["macs"] = (macs, self.macs)
        time = self.cycles if self.cycles is not None else self.instructions
        if time is not None and cycles is not None:
            limits["latency"] = (cycles, time)
        return fits(**limits)

    def time_limit(self) -> str:
        """The time limit in words: cycles where the core is emulated, else MACs; and MACs when given."""
        parts = []
        if self.cycles is not None:
            parts.append(f"{self.latency_ms:g} ms ({self.cycles:,} cycles)")
        if self.macs is not None:
            parts.append(f"{self.macs:,} MACs")
        return " / ".join(parts)

    def to_dict(self) -> dict:
        return {"flash_bytes": self.flash_bytes, "arena_bytes": self.arena_bytes, "macs": self.macs,
                "cycles": self.cycles, "latency_ms": self.latency_ms, "sources": self.notes}


def model_ram_bytes(board: Board, budget: Budget | None = None) -> int:
    """The RAM a model may take on `board` (the C engine's arena and, of what it leaves, weights copied to RAM):
    the board's arena budget, or a run's own when it was given a tighter limit."""
    ram = board.arena_budget_bytes
    return min(ram, budget.arena_bytes) if budget is not None else ram


def _require_positive(value: int | float | None, what: str, unit: str, option: str) -> None:
    if value is not None and not value > 0:
        raise UserError(f"{what} {value:g} {unit} is not positive: give a limit above zero", option)


def make_budget(board: Board, max_flash: int | None = None, max_ram: int | None = None,
                max_macs: int | None = None, max_latency_ms: float | None = None) -> Budget:
    """The board's derived budgets, tightened by the user's limits. Time: `max_latency_ms` (default 100 ms) as
    cycles at the board's clock where the core is emulated, else as MACs at its estimated
    throughput. `max_macs` adds a MAC limit; without `max_latency_ms` it replaces the 100 ms default."""
    _require_positive(max_flash, "flash limit", "B", "max_flash")
    _require_positive(max_ram, "arena limit", "B", "max_ram")
    _require_positive(max_macs, "MAC limit", "MACs", "max_macs")
    _require_positive(max_latency_ms, "latency limit", "ms", "max_latency_ms")
    notes = {
        "flash": f"{board.flash_linked_bytes} linked - {board.flash_reserve_bytes} reserved for runtime and app",
        "arena": f"{board.ram_linked_bytes} linked - {board.ram_reserve_bytes} reserved for stack, heap and app",
    }
    flash, arena = board.flash_budget_bytes, board.arena_budget_bytes
    if max_flash is not None and max_flash < flash:
        flash, notes["flash"] = max_flash, f"limit given: {max_flash} B"
    if max_ram is not None and max_ram < arena:
        arena, notes["arena"] = max_ram, f"limit given: {max_ram} B"
    if max_macs is not None and max_latency_ms is None:   # an explicit MAC limit replaces the 100 ms default
        return Budget(flash, arena, max_macs, notes | {"macs": f"limit given: {max_macs} MACs"})
    latency = DEFAULT_LATENCY_MS if max_latency_ms is None else max_latency_ms
    given = "limit given: " if max_latency_ms is not None else "~"
    cycles = cycle_budget(board.core, board.clock_mhz, latency)
    if cycles is not None:
        notes["latency"] = (f"{given}{latency:g} ms at {board.clock_mhz:g} MHz: {cycles:,} cycles "
                            f"({_cycle_model(board)})")
        if max_macs is not None:
            notes["macs"] = f"limit given: {max_macs} MACs"
        return Budget(flash, arena, max_macs, notes, cycles, latency)
    macs = mac_budget(board.core, board.clock_mhz, latency)
    notes["macs"] = (f"{given}{latency:g} ms at {macs_per_cycle(board.core)} MAC/cycle on {board.core} @ "
                     f"{board.clock_mhz:g} MHz (estimate; no emulated core stands for it)")
    if max_macs is not None and max_macs < macs:
        macs, notes["macs"] = max_macs, f"limit given: {max_macs} MACs"
    return Budget(flash, arena, macs, notes, None, latency)


def _cycle_model(board: Board) -> str:
    """What the cycles a budget is compared with rest on: the core's timing table and the board's flash."""
    emulated = emulated_core(board.core)
    timing = TIMINGS[emulated.id] if emulated else None
    model = f"cycle model: {timing.source}{'' if timing.validated else ' (not validated)'}" if timing else ""
    return f"{model}; flash: {memory_timing(board).what}"
