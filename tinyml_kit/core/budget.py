"""What a model may use on a board: flash for the .tflite, RAM for the tensor arena, MACs per inference.

The board's budgets (boards.yaml minus reserves) tightened by the user's limits; each figure says where it came
from, so reports can show it.
"""

from dataclasses import dataclass, field

from tinyml_kit.core.boards import Board
from tinyml_kit.core.latency import DEFAULT_LATENCY_MS, mac_budget, macs_per_cycle


@dataclass
class Budget:
    flash_bytes: int
    arena_bytes: int
    macs: int
    notes: dict[str, str] = field(default_factory=dict)


def make_budget(board: Board, max_flash: int | None = None, max_ram: int | None = None,
                max_macs: int | None = None, max_latency_ms: float | None = None) -> Budget:
    """The board's derived budgets, tightened by the user's limits. MACs: --max-macs, or what --max-latency-ms
    (default 100 ms) allows at the core's estimated throughput, or the smaller of the two when both are given."""
    notes = {
        "flash": f"{board.flash_linked_bytes} linked - {board.flash_reserve_bytes} reserved for runtime and app",
        "arena": f"{board.ram_linked_bytes} linked - {board.ram_reserve_bytes} reserved for stack, heap and app",
    }
    flash, arena = board.flash_budget_bytes, board.arena_budget_bytes
    if max_flash is not None and max_flash < flash:
        flash, notes["flash"] = max_flash, "--max-flash"
    if max_ram is not None and max_ram < arena:
        arena, notes["arena"] = max_ram, "--max-ram"
    if max_macs is not None and max_latency_ms is None:   # an explicit MAC limit replaces the 100 ms default
        return Budget(flash, arena, max_macs, notes | {"macs": "--max-macs"})
    latency = DEFAULT_LATENCY_MS if max_latency_ms is None else max_latency_ms
    macs = mac_budget(board.core, board.clock_mhz, latency)
    notes["macs"] = (f"{'--max-latency-ms ' if max_latency_ms is not None else '~'}{latency:g} ms at "
                     f"{macs_per_cycle(board.core)} MAC/cycle on {board.core} @ {board.clock_mhz:g} MHz (estimate)")
    if max_macs is not None and max_macs < macs:
        macs, notes["macs"] = max_macs, "--max-macs"
    return Budget(flash, arena, macs, notes)
