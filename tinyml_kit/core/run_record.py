"""A run's record, `report.json`, as typed data: written and read here and nowhere else.

`fit` makes one, `compress` derives one from another, and every command that takes a run directory reads it.
The JSON keys are the ones users' scripts rely on (`flash_bytes`, `arena_bytes`, `flash_bytes_est`, `fits`, …);
each section is typed where its stage makes it: the measurements (`check`: `core.evaluation`; `verification`,
`verify`: `core.verification`) and how the run was made (`compression`, `search`, `report`, `timings`, `before`:
`core.record_sections`). `choice` stays a dict: its keys are the family's knobs.
A record is judged by `verdict`, the same `fits()` every command uses.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tinyml_kit.core.artifacts import write_json_atomic
from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import Evaluation
from tinyml_kit.core.fit_advice import FitAdvice
from tinyml_kit.core.record_sections import (
    CompressionRecord,
    ConversionCheck,
    OriginalNumbers,
    ReportNumbers,
    SearchRecord,
    Timings,
    known_fields,
)
from tinyml_kit.core.verdict import Verdict
from tinyml_kit.core.verification import Measurement, VerifyResult

RECORD_FILE = "report.json"
# report.json's layout. 1: every record before the field existed (read as they are); 2: `schema_version` itself.
# A reader refuses a newer schema rather than guessing at fields it does not know.
SCHEMA_VERSION = 2
KNOB_KEYS = ("alpha", "beta", "t0", "depth")
# The sections read from their own JSON form; an absent or empty one is left at its default.
SECTIONS: dict[str, Callable[[Any], Any]] = {
    "compression": CompressionRecord.from_dict, "report": ReportNumbers.from_dict, "timings": Timings.from_dict,
    "before": OriginalNumbers.from_dict, "search": SearchRecord.from_dict, "verify": VerifyResult.from_dict,
    "conversion": ConversionCheck.from_dict, "advice": FitAdvice.from_dict,
    "verification": lambda rows: [Measurement.from_dict(row) for row in rows]}


@dataclass
class DataRecord:
    """Where the images came from and how they were split, so the same validation split can be re-made."""
    source: str
    input_shape: list[int]
    classes: list[str]
    train_images: int
    val_images: int
    val_fraction: float
    seed: int
    fingerprint: str


@dataclass
class TrainingRecord:
    epochs: int
    epochs_run: int
    best_epoch: int
    batch_size: int
    seed: int
    history: dict[str, list[float]] = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)   # `train.options.TrainOptions`, range test, frozen / unfrozen phases

    @property
    def class_weights(self) -> dict[int, float] | None:
        """The class weights training used (JSON keeps their class indices as strings)."""
        weights = self.recipe.get("class_weights")
        return {int(c): float(w) for c, w in weights.items()} if weights else None


@dataclass
class RunRecord:
    board: Board
    budget: Budget
    arch: str
    choice: dict
    params: int
    macs: int
    flash_bytes: int                  # TFLM: the compact flatbuffer linked; C engine: the model (constants + code)
    arena_bytes: int                  # TFLM: measured on TFLM; C engine: the static plan
    arena_alloc_bytes: int            # what the firmware reserves (TFLM: with headroom)
    latency_ms_est: float             # predicted cycles at the board's clock on emulated cores, else from MACs
    data: DataRecord
    training: TrainingRecord
    check: Evaluation                 # check.evaluate's result (validation across runtimes under `validation`)
    predicted_accuracy: float | None = None
    predicted_accuracy_interval: list[float] | None = None   # the law's ~95 % interval
    flash_bytes_est: int | None = None
    arena_bytes_est: int | None = None
    verification: list[Measurement] = field(default_factory=list)   # the candidates measured before training
    compression: CompressionRecord = field(default_factory=CompressionRecord)
    versions: dict = field(default_factory=dict)
    run_dir: str = ""
    report: ReportNumbers | None = None            # what report.html shows, in numbers (None: not written yet)
    instructions_est: int | None = None            # predicted on the board's core (None: not emulated)
    cycles_est: int | None = None                  # predicted on the board, flash wait states included
    timings: Timings = field(default_factory=Timings)
    compressed_from: str | None = None
    before: OriginalNumbers | None = None          # the original run's numbers, for a compressed run
    verify: VerifyResult | None = None             # fit --verify's result; not part of report.json
    engine: str = "tflm"                           # what flash_bytes and arena_bytes were measured for
    search: SearchRecord = field(default_factory=SearchRecord)   # pins, knobs the solver chose, what pins cost
    deployed_from: str | None = None               # `deploy`: the user's model file the run was made from
    conversion: ConversionCheck | None = None      # `deploy` of a converted model: checked against its own runtime
    advice: FitAdvice | None = None                # a run that does not fit: the misses, and what would fit

    @property
    def verdict(self) -> Verdict:
        """Flash and arena as measured, MACs as counted, time as the cycles predicted from the graph (a record
        from before the cycle model: as the instructions it predicted, against its instruction budget)."""
        time = self.instructions_est if self.budget.instructions is not None else self.cycles_est
        return self.budget.verdict(self.flash_bytes, self.arena_alloc_bytes, self.macs, time)

    @property
    def float_accuracy(self) -> float | None:
        return self.check.float_accuracy

    @property
    def int8_accuracy(self) -> float | None:
        return self.check.int8_accuracy

    @property
    def agreement(self) -> float | None:
        return self.check.agreement

    @property
    def litert_equals_tflm(self) -> bool:
        return bool(self.check.litert_equals_tflm)

    def derive(self, **changes) -> "RunRecord":
        """A new record from this one (a compressed run), with the numbers it replaces kept under `before`."""
        before = OriginalNumbers(**{f.name: getattr(self, f.name) for f in fields(OriginalNumbers)})
        return replace(self, before=before, **changes)

    def to_dict(self) -> dict:
        verdict = self.verdict
        d = {
            "schema_version": SCHEMA_VERSION, "board": self.board.to_dict(), "engine": self.engine, "arch": self.arch,
            "choice": self.choice,
            **{k: self.choice.get(k) for k in KNOB_KEYS},
            "params": self.params, "macs": self.macs, "predicted_accuracy": self.predicted_accuracy,
            "predicted_accuracy_interval": self.predicted_accuracy_interval,
            "flash_bytes_est": self.flash_bytes_est, "arena_bytes_est": self.arena_bytes_est,
            "latency_ms_est": self.latency_ms_est, "instructions_est": self.instructions_est,
            "cycles_est": self.cycles_est,
            "flash_bytes": self.flash_bytes, "arena_bytes": self.arena_bytes,
            "arena_alloc_bytes": self.arena_alloc_bytes, "flash_budget_bytes": self.budget.flash_bytes,
            "arena_budget_bytes": self.budget.arena_bytes, "mac_budget": self.budget.macs,
            "cycle_budget": self.budget.cycles, "latency_budget_ms": self.budget.latency_ms,
            **({"instruction_budget": self.budget.instructions} if self.budget.instructions is not None else {}),
            "budget_sources": self.budget.notes, "fits": verdict.to_dict(), "fits_all": verdict.ok,
            "verification": [a.to_dict() for a in self.verification], "float_accuracy": self.float_accuracy,
            "int8_accuracy": self.int8_accuracy, "agreement": self.agreement,
            "litert_equals_tflm": self.litert_equals_tflm, "check": self.check.to_dict(),
            "compression": self.compression.to_dict(),
            "training": asdict(self.training), "data": asdict(self.data), "versions": self.versions,
            "run_dir": self.run_dir, "report": self.report.to_dict() if self.report else {},
            "timings": self.timings.to_dict(), "search": self.search.to_dict(),
        }
        if self.compressed_from is not None:
            d["compressed_from"], d["before"] = self.compressed_from, self.before.to_dict() if self.before else None
        if self.verify is not None:
            d["verify"] = self.verify.to_dict()
        if self.deployed_from is not None:
            d["deployed_from"] = self.deployed_from
        if self.conversion is not None:
            d["conversion"] = self.conversion.to_dict()
        if self.advice is not None:
            d["advice"] = self.advice.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = RECORD_FILE) -> "RunRecord":
        required = ("board", "arch", "params", "macs", "flash_bytes", "arena_bytes", "arena_alloc_bytes",
                    "flash_budget_bytes", "arena_budget_bytes", "mac_budget", "data", "training", "check")
        version = d.get("schema_version", 1) if isinstance(d, dict) else 1
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise UserError(f"{where} has schema version {version}, newer than this tinyml-kit reads "
                            f"({SCHEMA_VERSION}): upgrade tinyml-kit, or re-run fit with this one")
        missing = [k for k in required if k not in d] if isinstance(d, dict) else list(required)
        if missing:
            raise UserError(f"{where} lacks {', '.join(missing)}: it was not written by tinyml-kit fit; re-run fit")
        try:
            board = Board.from_dict(d["board"])
            budget = Budget(d["flash_budget_bytes"], d["arena_budget_bytes"], d["mac_budget"],
                            d.get("budget_sources", {}), d.get("cycle_budget"), d.get("latency_budget_ms"),
                            d.get("instruction_budget"))
            data = DataRecord(**{f.name: d["data"][f.name] for f in fields(DataRecord)})
            training = TrainingRecord(**known_fields(TrainingRecord, d["training"]))
            sections = {k: read(d[k]) for k, read in SECTIONS.items() if d.get(k)}
            check = Evaluation.from_dict(d["check"])
        except (KeyError, TypeError) as e:
            raise UserError(f"{where} is incomplete ({e}): it was not written by this version of tinyml-kit; "
                            f"re-run fit") from None
        plain = {f.name: d[f.name] for f in fields(cls)
                 if f.name in d and f.name not in ("board", "budget", "data", "training", "check", *SECTIONS)}
        plain.setdefault("latency_ms_est", 0.0)
        plain.setdefault("choice", {})
        return cls(board=board, budget=budget, data=data, training=training, check=check, **sections, **plain)

    @classmethod
    def read(cls, run_dir: str | Path, or_tflite: bool = False) -> "RunRecord":
        """`or_tflite`: the command also takes a bare .tflite, and the error says so."""
        path = Path(run_dir) / RECORD_FILE
        if not path.is_file():
            alternative = " or a .tflite file" if or_tflite else ""
            raise UserError(f"{run_dir} is not a run directory (no {RECORD_FILE}): pass the directory fit "
                            f"wrote{alternative}")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{path} is not valid JSON: re-run fit, or check the .tflite directly") from None
        return cls.from_dict(d, str(path))

    def write(self, run_dir: str | Path) -> Path:
        """Write report.json (verify's result stays out: it lives in verify_<kernels>.json)."""
        d = self.to_dict()
        d.pop("verify", None)
        return write_json_atomic(Path(run_dir) / RECORD_FILE, d)
