"""What a model may use on a board: flash for the model (on TFLM its compact flatbuffer), RAM for the tensor arena,
MACs per inference.

The board's budgets (boards.yaml minus reserves) tightened by the user's limits; each figure says where it came
from, so reports can show it.
"""

from dataclasses import dataclass, field

from tinyml_kit.core.boards import Board
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.latency import DEFAULT_LATENCY_MS, mac_budget, macs_per_cycle
from tinyml_kit.core.verdict import Verdict, fits


@dataclass
class Budget:
    flash_bytes: int
    arena_bytes: int
    macs: int
    notes: dict[str, str] = field(default_factory=dict)

    def verdict(self, flash_bytes: int, arena_alloc_bytes: int, macs: int) -> Verdict:
        """A model's measured flash, arena (with headroom) and MACs against this budget."""
        return fits(flash=(flash_bytes, self.flash_bytes), arena=(arena_alloc_bytes, self.arena_bytes),
                    macs=(macs, self.macs))


def _require_positive(value: int | float | None, what: str, unit: str, option: str) -> None:
    if value is not None and not value > 0:
        raise UserError(f"{what} {value:g} {unit} is not positive: give a limit above zero", option)


def make_budget(board: Board, max_flash: int | None = None, max_ram: int | None = None,
                max_macs: int | None = None, max_latency_ms: float | None = None) -> Budget:
    """The board's derived budgets, tightened by the user's limits. MACs: `max_macs`, or what `max_latency_ms`
    (default 100 ms) allows at the core's estimated throughput, or the smaller of the two when both are given."""
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
    macs = mac_budget(board.core, board.clock_mhz, latency)
    notes["macs"] = (f"{'limit given: ' if max_latency_ms is not None else '~'}{latency:g} ms at "
                     f"{macs_per_cycle(board.core)} MAC/cycle on {board.core} @ {board.clock_mhz:g} MHz (estimate)")
    if max_macs is not None and max_macs < macs:
        macs, notes["macs"] = max_macs, f"limit given: {max_macs} MACs"
    return Budget(flash, arena, macs, notes)
