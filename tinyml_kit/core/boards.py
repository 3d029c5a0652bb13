"""Boards and the memory they leave for a model, derived from boards.yaml's reserve rule."""

import difflib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import BOARDS_FILE

DEFAULT_BOARD = "nano33-ble-sense"


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    clock_mhz: float
    flash_bytes: int
    sram_bytes: int
    flash_linked_bytes: int
    ram_linked_bytes: int
    framework: str
    flash_reserve_bytes: int
    ram_reserve_bytes: int
    tflm_supported: bool
    source: str
    mcpu: str | None = None
    mfpu: str | None = None
    float_abi: str | None = None

    @property
    def gcc_cpu_flags(self) -> list[str]:
        """arm-none-eabi-gcc flags for this core; a board that is not an Arm Cortex-M has none."""
        if self.mcpu is None:
            raise UserError(f"board '{self.id}' ({self.core}) is not an Arm Cortex-M: arm-none-eabi-gcc cannot "
                            f"build for it; export for the arduino or c target instead", "target")
        flags = [f"-mcpu={self.mcpu}", "-mthumb", f"-mfloat-abi={self.float_abi or 'soft'}"]
        if self.mfpu:
            flags.insert(1, f"-mfpu={self.mfpu}")
        return flags

    @property
    def flash_budget_bytes(self) -> int:
        """Flash left for the model flatbuffer once runtime code, HAL and application are counted."""
        return max(0, self.flash_linked_bytes - self.flash_reserve_bytes) if self.tflm_supported else 0

    @property
    def arena_budget_bytes(self) -> int:
        """Contiguous RAM left for the TFLM tensor arena once stack, heap and application are counted."""
        return max(0, self.ram_linked_bytes - self.ram_reserve_bytes) if self.tflm_supported else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flash_budget_bytes"] = self.flash_budget_bytes
        d["arena_budget_bytes"] = self.arena_budget_bytes
        return d


def _reserve(linked: int, minimum: int, fraction: float) -> int:
    return min(linked, max(minimum, int(round(fraction * linked))))


@lru_cache(maxsize=4)
def load_boards(path: Path = BOARDS_FILE) -> dict[str, Board]:
    data = yaml.safe_load(Path(path).read_text())
    rule = data["reserve"]
    boards = {}
    for entry in data["boards"]:
        flash_fraction = entry.get("flash_fraction", rule["flash_fraction"])
        ram_fraction = entry.get("ram_fraction", rule["ram_fraction"])
        boards[entry["id"]] = Board(
            id=entry["id"],
            name=entry["name"],
            mcu=entry["mcu"],
            core=entry["core"],
            clock_mhz=entry["clock_mhz"],
            flash_bytes=entry["flash_bytes"],
            sram_bytes=entry["sram_bytes"],
            flash_linked_bytes=entry["flash_linked_bytes"],
            ram_linked_bytes=entry["ram_linked_bytes"],
            framework=entry["framework"],
            flash_reserve_bytes=_reserve(entry["flash_linked_bytes"], rule["flash_min_bytes"], flash_fraction),
            ram_reserve_bytes=_reserve(entry["ram_linked_bytes"], rule["ram_min_bytes"], ram_fraction),
            tflm_supported=entry.get("tflm_supported", True),
            source=entry["source"],
            mcpu=entry.get("mcpu"),
            mfpu=entry.get("mfpu"),
            float_abi=entry.get("float_abi"),
        )
    return boards


def get_board(board_id: str) -> Board:
    """The board with this id, in any letter case (ids are lower case, and vendors print part names in upper
    case: `NUCLEO-F401RE` is `nucleo-f401re`). An unknown id gets the closest ids first, a typo being likelier
    than a board we lack."""
    boards = load_boards()
    by_key = {b.id.lower(): b for b in boards.values()}
    key = board_id.strip().lower()
    if key not in by_key:
        close = [by_key[k].id for k in _closest(key, list(by_key))]
        if close:
            choices = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
            raise UserError(f"unknown board '{board_id}': did you mean {choices}? (all boards: tinyml-kit boards)",
                            "board_id")
        raise UserError(f"unknown board '{board_id}': choose one of {', '.join(boards)} (see tinyml-kit boards)",
                        "board_id")
    board = by_key[key]
    if not board.tflm_supported:
        supported = ", ".join(b.id for b in boards.values() if b.tflm_supported)
        raise UserError(f"board '{board.id}' ({board.core}) cannot run TFLM, which needs a 32-bit core: "
                        f"choose one of {supported}")
    return board


def _closest(key: str, ids: list[str]) -> list[str]:
    """Ids containing `key` (a truncated id, `nucleo-f401`, or a family, `nucleo`), else difflib's nearest
    three (a typo, `nucleo-f410re`)."""
    contained = [i for i in ids if key and key in i]
    return contained or difflib.get_close_matches(key, ids, n=3, cutoff=0.6)
