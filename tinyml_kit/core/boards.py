"""Boards, the memory they leave for a model (derived from boards.yaml's reserve rule), and the memory system
behind their flash as it affects cycles (wait states and what hides them)."""

import difflib
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import yaml

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.resources import BOARDS_FILE

DEFAULT_BOARD = "nano33-ble-sense"

@dataclass(frozen=True)
class Accelerator:
    """What hides flash wait states from the core, and from which accesses: a cycle estimate charges the wait
    states on the accesses it does not serve (and on its misses)."""
    description: str
    serves_fetches: bool              # instruction fetches from flash
    serves_data: bool                 # data reads from flash: weights, literal pools


# boards.yaml's `memory.flash_accelerator`
ACCELERATORS = {
    "art": Accelerator("ST's ART accelerator: prefetch plus small instruction and data caches in the flash "
                       "interface", True, True),
    "l1-cache": Accelerator("the core's own L1 instruction and data caches (Cortex-M7, Cortex-M55)", True, True),
    "flash-cache": Accelerator("one cache in front of flash serving instruction fetches and data reads (ST's ICACHE "
                               "on the Cortex-M33 code bus, Renesas' FCACHE)", True, True),
    "icache": Accelerator("an instruction-only cache in front of flash (Nordic's NVMC): data reads from flash pay "
                          "the wait states", True, False),
    "xip-cache": Accelerator("a cache in front of external execute-in-place flash", True, True),
    "none": Accelerator("nothing: every flash access pays the wait states", False, False),
}


@dataclass(frozen=True)
class MemorySystem:
    """The board's flash as the core sees it at `clock_mhz`: how many wait states a flash read costs, what hides
    them, and whether the build tinyml-kit exports for (the Arduino core, or an STM32Cube project's HAL_Init and
    SystemClock_Config) turns that on. QEMU's emulated flash has no wait states, so a cycle estimate adds them from
    here. `unconfirmed` names the fields that were not read from the cited source (recalled, or inferred), so a
    consumer can say how sure the figure is instead of passing a guess off as a fact."""
    flash_wait_states: int | None     # None: no internal flash (code and weights in SRAM or external memory)
    flash_accelerator: str            # a key of ACCELERATORS
    caches_enabled: bool              # in the default build the export targets
    data_line_bytes: int | None       # bytes one flash data read brings in (cache line or read width); None: unknown
    source: str
    unconfirmed: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        return not self.unconfirmed

    @property
    def fetches_cached(self) -> bool:
        """Instruction fetches from flash go through an enabled accelerator (the wait states fall on its misses)."""
        return self.caches_enabled and ACCELERATORS[self.flash_accelerator].serves_fetches

    @property
    def data_reads_cached(self) -> bool:
        """Data reads from flash (weights, literal pools) go through an enabled accelerator."""
        return self.caches_enabled and ACCELERATORS[self.flash_accelerator].serves_data

    def to_dict(self) -> dict:
        return asdict(self) | {"unconfirmed": list(self.unconfirmed), "confirmed": self.confirmed}

    @classmethod
    def from_dict(cls, d: dict) -> "MemorySystem":
        return cls(**{**{f.name: d[f.name] for f in fields(cls) if f.name in d},
                      "unconfirmed": tuple(d.get("unconfirmed", ()))})

    def summary(self) -> str:
        """`2 WS, art`: `off` when the default build leaves the accelerator off, `?` after a figure not read from its
        source."""
        mark = {f: "?" if f in self.unconfirmed else "" for f in ("flash_wait_states", "flash_accelerator")}
        ws = "ext. flash" if self.flash_wait_states is None else f"{self.flash_wait_states} WS"
        state = "" if self.caches_enabled or self.flash_accelerator == "none" else " off"
        if "caches_enabled" in self.unconfirmed:
            state = f"{' on' if self.caches_enabled else ' off'}?"
        return f"{ws}{mark['flash_wait_states']}, {self.flash_accelerator}{mark['flash_accelerator']}{state}"


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
    memory: MemorySystem | None = None

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
        """The board's fields and budgets; `memory` only for a board that has the data, so a record written before
        boards had it reads and writes back unchanged."""
        d = asdict(self)
        d.pop("memory")
        if self.memory:
            d["memory"] = self.memory.to_dict()
        d["flash_budget_bytes"] = self.flash_budget_bytes
        d["arena_budget_bytes"] = self.arena_budget_bytes
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Board":
        """A board as `to_dict` wrote it (a record written before boards had `memory` reads as without it)."""
        known = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        return cls(**{**known, "memory": MemorySystem.from_dict(d["memory"]) if d.get("memory") else None})


def require_memory(board: Board) -> MemorySystem:
    """The board's memory system, or one line on why its cycles cannot be estimated: a cycle count without the
    flash wait states would be a guess."""
    if board.memory is None:
        raise UserError(f"board '{board.id}' ({board.core}) has no memory-system data in boards.yaml (flash wait "
                        f"states at {board.clock_mhz:g} MHz and what hides them): its cycles cannot be estimated; "
                        f"add a `memory:` entry with its source, or choose a board that has one", "board_id")
    return board.memory


def _reserve(linked: int, minimum: int, fraction: float) -> int:
    return min(linked, max(minimum, int(round(fraction * linked))))


# libyaml's parser where PyYAML has it: a tenth of the pure-Python one's time on boards.yaml (which every command reads)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=4)
def load_boards(path: Path = BOARDS_FILE) -> dict[str, Board]:
    data = yaml.load(Path(path).read_text(), Loader=_YAML_LOADER)
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
            memory=_memory(entry["id"], entry["memory"]) if "memory" in entry else None,
        )
    return boards


def _memory(board_id: str, raw: object) -> MemorySystem:
    """boards.yaml's `memory:` entry, checked: one line naming the board and the field when it is malformed."""
    def bad(what: str) -> UserError:
        return UserError(f"boards.yaml: board '{board_id}': memory {what}")

    names = {f.name for f in fields(MemorySystem)}
    if not isinstance(raw, dict):
        raise bad(f"must be a mapping of {', '.join(sorted(names))}")
    if unknown := sorted(set(raw) - names):
        raise bad(f"has unknown field {', '.join(unknown)}: the fields are {', '.join(sorted(names))}")
    if missing := sorted(names - set(raw) - {"unconfirmed"}):
        raise bad(f"lacks {', '.join(missing)}")
    if raw["flash_accelerator"] not in ACCELERATORS:
        raise bad(f"flash_accelerator '{raw['flash_accelerator']}' is unknown: choose one of {', '.join(ACCELERATORS)}")
    for name in ("flash_wait_states", "data_line_bytes"):
        value = raw[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise bad(f"{name} {value!r} must be a whole number >= 0 or null")
    if not isinstance(raw["caches_enabled"], bool):
        raise bad(f"caches_enabled {raw['caches_enabled']!r} must be true or false")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise bad("source must name where the figures come from")
    unconfirmed = raw.get("unconfirmed") or []
    if not isinstance(unconfirmed, list) or not set(unconfirmed) <= names - {"source", "unconfirmed"}:
        raise bad(f"unconfirmed {unconfirmed!r} must list fields among flash_wait_states, flash_accelerator, "
                  f"caches_enabled, data_line_bytes")
    return MemorySystem(**{**raw, "unconfirmed": tuple(unconfirmed)})


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
