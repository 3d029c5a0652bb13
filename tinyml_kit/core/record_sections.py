"""The sections of a run's record (`report.json`) that say how the run was made rather than what was measured on
the model: the compression asked for and what each of its stages measured, the search (pins, choices, what each
pin cost), the numbers report.html shows, the time each step took, and a compressed run's original numbers.

They live in core because `RunRecord` holds them; the stages that fill them (compress, solve, pipeline) build
these types directly. Each `to_dict` writes the keys users' scripts read, and each `from_dict` reads every
report.json written so far (schema 1 included)."""

from dataclasses import asdict, dataclass, field, fields


def known_fields(cls, d: dict) -> dict:
    """The entries of `d` that are fields of the dataclass `cls` (a newer writer's extra keys are left out)."""
    return {f.name: d[f.name] for f in fields(cls) if f.name in d}


@dataclass
class CompressSettings:
    """The compression asked for: pruning, int8 by PTQ or QAT, distillation. `compress.options.CompressOptions`
    adds the checks (which need the training stage to tell a teacher file from another)."""
    prune: str = "none"
    sparsity: float = 0.5             # structured: fraction of channels removed; magnitude: of weights zeroed
    criterion: str = "bn"             # structured only: batch-norm |gamma| or filter L1 norm
    quant: str = "ptq"
    teacher: str | None = None        # a run directory, a .keras file, or "auto"
    temperature: float = 4.0
    alpha_kd: float = 0.5
    finetune_epochs: int = 10
    distill: str = "logits"           # what the student matches: logits, or also features or attention maps
    assistant: str | None = None      # progressive: a run directory, a .keras file or "auto", between the two

    @property
    def trains(self) -> bool:
        return self.prune != "none" or self.quant == "qat"

    def plan(self) -> str:
        """What will run after training, in words, so a long fine-tune is announced before it starts."""
        steps = []
        if self.teacher:
            via = (f" through {'an auto-sized' if self.assistant == 'auto' else 'the'} assistant" if self.assistant
                   else "")
            steps.append(f"{self.distill} distillation from "
                         f"{'an auto-sized teacher' if self.teacher == 'auto' else 'the teacher'}{via}")
        if self.prune != "none":
            steps.append(f"{self.prune} pruning of {100 * self.sparsity:g} %, then {self.finetune_epochs} "
                         f"fine-tuning epochs")
        if self.quant == "qat":
            steps.append(f"{self.finetune_epochs} epochs of quantization-aware training")
        steps.append("int8 conversion")
        return ", ".join(steps)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CompressionRecord:
    """The compression a run went through: the settings, the teacher it distilled from, each stage's numbers.
    report.json writes the settings flat, with `teacher` holding what is known of the teacher (its `source` is
    the setting), as it always has."""
    settings: CompressSettings = field(default_factory=CompressSettings)
    teacher: dict | None = None       # source, size and accuracy of the teacher (and assistant); None: no teacher
    stages: list[dict] = field(default_factory=list)   # each stage's numbers, as `compress.stages` measured them

    @property
    def tuned_stages(self) -> list[dict]:
        """The stages that trained (fine-tuning, QAT, distillation), with their epochs' history."""
        return [s for s in self.stages if s.get("history")]

    def to_dict(self) -> dict:
        return {**self.settings.to_dict(), "teacher": self.teacher, "stages": self.stages}

    @classmethod
    def from_dict(cls, d: dict) -> "CompressionRecord":
        teacher = d.get("teacher")
        settings = CompressSettings(**{**known_fields(CompressSettings, d), "teacher": (teacher or {}).get("source")})
        return cls(settings, teacher, list(d.get("stages", [])))


@dataclass
class PinCost:
    """What one pin (or every pin, `knob` "all") cost: the solver's best with it freed and the predicted points
    that adds (None where nothing the laws cover fits with it freed)."""
    knob: str
    pinned: str                       # the pin as given, e.g. "7" or "0.25:1"; "" for "all"
    free_best: str | None
    free_predicted_accuracy: float | None
    gain_points: float | None


@dataclass
class SearchRecord:
    """The search as `fit` and `solve --json` report it: the pins as given, the knobs the solver chose within
    them, and what each pin cost."""
    pinned: dict = field(default_factory=dict)     # knob -> value, list, or {"min", "max"}; attention, activation
    chosen: dict = field(default_factory=dict)     # the knobs the search chose (not the fixed pins)
    fully_pinned: bool = False                     # every searched knob given: measured as it is
    pin_effects: list[PinCost] = field(default_factory=list)
    pin_lines: list[str] = field(default_factory=list)   # the pin effects in words, as `fit` logged them

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SearchRecord":
        known = known_fields(cls, d)
        return cls(**{**known, "pin_effects": [PinCost(**e) for e in known.get("pin_effects", [])]})


@dataclass
class ReportNumbers:
    """What report.html shows, in numbers: the arena's peak, whether the planned arena matches TFLM's, how far
    ONNX is from Keras, the linear probes and the Grad-CAM layer."""
    peak_layer: int
    peak_op: str
    plan_matches_tflm: bool
    onnx_max_abs_diff: float | None
    probes: list[dict]                # per block: layer, channels, spatial size, probe accuracy
    gradcam_layer: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ReportNumbers":
        return cls(**known_fields(cls, d))


CONVERSIONS = {"onnx": "imported from ONNX", "pt2": "converted from a torch.export program by litert-torch",
               "keras 3": "rebuilt as a tf_keras model from a Keras 3 file",
               "savedmodel": "converted from a SavedModel's serving signature by TFLite's converter"}


@dataclass
class ConversionCheck:
    """A model converted on the way in (`deploy` of an .onnx, a .pt2, a Keras 3 file or a SavedModel without
    tf_keras metadata), checked against the runtime of its own format on the validation split before quantizing:
    top-1 agreement of the float outputs, their largest difference, and the agreement below which the conversion
    is refused."""
    source: str                       # a key of CONVERSIONS
    runtime: str                      # what computed the reference, with its version
    images: int
    top1_agreement: float
    max_abs_diff: float
    min_agreement: float

    @classmethod
    def measured(cls, source: str, runtime: str, expected, got, min_agreement: float) -> "ConversionCheck":
        """The check of the converted model's outputs `got` against the source runtime's `expected` (numpy arrays,
        one row of class scores per image)."""
        agreement = float((expected.argmax(1) == got.argmax(1)).mean())
        return cls(source, runtime, len(expected), round(agreement, 4), float(abs(expected - got).max()),
                   min_agreement)

    @property
    def agrees(self) -> bool:
        return self.top1_agreement >= self.min_agreement

    @property
    def how(self) -> str:
        """How the model came in, in words (the source's name where it has none here)."""
        return CONVERSIONS.get(self.source, f"converted from {self.source}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ConversionCheck":
        return cls(**known_fields(cls, d))


@dataclass(slots=True)
class Timings:
    """Wall seconds of each step of the run; a step the run did not take (e.g. `quantize_s` of a run that
    compressed) stays None and out of report.json. Slots: a misspelt step is an error, not a new attribute."""
    choose_s: float | None = None
    data_s: float | None = None
    train_s: float | None = None
    compress_s: float | None = None
    quantize_s: float | None = None
    check_s: float | None = None
    advice_s: float | None = None     # a run that does not fit: measuring what pruning would make of it
    report_s: float | None = None
    total_s: float | None = None

    def add(self, step: str, seconds: float) -> None:
        """Add `seconds` to `step` (a step may run in several blocks, e.g. choosing before and after the data)."""
        setattr(self, step, round((getattr(self, step) or 0.0) + seconds, 2))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "Timings":
        return cls(**known_fields(cls, d))


@dataclass
class OriginalNumbers:
    """A compressed run's original numbers (`before` in report.json), to set the compressed ones against."""
    params: int
    macs: int
    flash_bytes: int
    arena_bytes: int
    arena_alloc_bytes: int
    float_accuracy: float | None
    int8_accuracy: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OriginalNumbers":
        return cls(**known_fields(cls, d))
