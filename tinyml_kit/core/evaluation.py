"""What checking an int8 model found, as typed data: `check.evaluate` makes one, `fit` and `compress` add the run's
engine to it, `RunRecord.check` holds it and report.json's `check` section is its `to_dict()`.

The sizes are kept apart by what they were measured on: TFLM's (every model is checked on TFLM beside LiteRT)
and, for a run on another engine, that engine's, which the budget is judged by. report.json keeps its historical
layout (the judged sizes at the top, TFLM's under `tflm`, the engine's host check as `<engine>_…` keys), so
`from_dict` reads every report written so far and `to_dict` writes the same keys.
"""

from dataclasses import asdict, dataclass, fields

SIZE_KEYS = ("flash_bytes", "arena_bytes", "arena_alloc_bytes")


@dataclass(frozen=True)
class Footprint:
    """What an int8 model takes on one engine."""
    flash_bytes: int
    arena_bytes: int                    # what the engine uses
    arena_alloc_bytes: int              # what a firmware reserves for it
    constant_bytes: int | None = None   # the C engine: its constants, part of flash_bytes

    def sizes(self) -> dict:
        return {k: getattr(self, k) for k in SIZE_KEYS}


@dataclass(frozen=True)
class Metrics:
    """One model's classification scores on the validation split (`check.metrics.classification_report`)."""
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    confusion_matrix: list[list[int]]   # rows: true class

    @classmethod
    def from_dict(cls, d: dict | None) -> "Metrics | None":
        return None if d is None else cls(**{f.name: d[f.name] for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HostResult:
    """An engine's own build for this machine run on the same int8 images as LiteRT."""
    engine: str                  # whose build: its keys in report.json are `<engine>_images`, …
    images: int
    equals_litert: bool          # every output equal to LiteRT's reference kernels
    litert_max_abs_diff: int
    flash_bytes: int             # what the build takes on the device
    arena_bytes: int

    _KEYS = ("images", "equals_litert", "litert_max_abs_diff", "flash_bytes", "arena_bytes")

    def to_dict(self) -> dict:
        return {f"{self.engine}_{k}": getattr(self, k) for k in self._KEYS}

    @classmethod
    def from_dict(cls, d: dict) -> "HostResult | None":
        """The host check among a `check` section's keys, if it has one."""
        engine = next((k.removesuffix("_equals_litert") for k in d if k.endswith("_equals_litert")), None)
        return None if engine is None else cls(engine, **{k: d[f"{engine}_{k}"] for k in cls._KEYS})


@dataclass(frozen=True)
class OpDifference:
    """The first op (in execution order) whose int8 outputs differ between LiteRT and TFLM, its inputs being equal
    in both (`check.op_difference`). `reason` is set only when every output of the op was recomputed here with
    each runtime's own arithmetic and both matched: a known difference of their kernels, not a broken model."""
    index: int                   # the op's position in the graph
    op: str                      # its builtin name, e.g. FULLY_CONNECTED
    tensor: str                  # the name of its output tensor
    max_abs_diff: int
    outputs_differing: int       # outputs of the op (over all images) where the runtimes differ ...
    outputs: int                 # ... of this many
    reason: str | None           # why the kernels differ (None: not explained)

    @property
    def explained(self) -> bool:
        return self.reason is not None

    def short(self) -> str:
        """A few words for a summary line."""
        where = f"known {self.op} rounding" if self.reason else f"first in {self.op}, op {self.index}"
        return f"{where}, up to {self.max_abs_diff}"

    def line(self) -> str:
        """The difference in one line, for the user."""
        where = f"{self.op} (op {self.index}, {self.tensor!r}) differs by up to {self.max_abs_diff} on " \
                f"{self.outputs_differing} of {self.outputs} outputs"
        return f"{where}: {self.reason}" if self.reason else f"{where}, not a known rounding difference"


@dataclass(frozen=True)
class Validation:
    """The same inputs through every runtime (`check.validate.validate_model`): per runtime its kind and, with
    labels, its classification scores; per pair of runtimes the output metrics (`check.validate.PAIRS`)."""
    model: str
    data: str | None                     # the images' source (None: random inputs)
    random_inputs: bool
    images: int
    class_names: list[str]
    runtimes: dict[str, dict]            # runtime -> {"kind": "int8"|"float32", accuracy, macro_*, confusion_matrix}
    skipped: dict[str, str]              # runtime -> why it was not run
    pairs: list[dict]                    # {"a", "b", "cross", rmse, mae, l2r, cos, agreement, max_abs_diff, ...}
    litert_equals_tflm: bool
    litert_tflm_max_abs_diff: int
    onnx_max_abs_diff: float | None      # None: ONNX Runtime not run
    onnx_agreement: float | None
    litert_tflm_op: OpDifference | None = None   # where LiteRT and TFLM part, when they do (else no key)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.litert_tflm_op is None:
            del d["litert_tflm_op"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Validation":
        values = {f.name: d[f.name] for f in fields(cls) if f.name != "litert_tflm_op"}
        op = d.get("litert_tflm_op")    # absent from reports written before it was measured
        return cls(**values, litert_tflm_op=OpDifference(**op) if op else None)


@dataclass(frozen=True)
class Evaluation:
    """Float vs int8 accuracy, LiteRT vs TFLM outputs and the measured sizes of one int8 model."""
    model: str                               # its file name
    tflm: Footprint                          # measured on TFLM, the checker
    tflite_bytes: int
    ops: list[str]
    validation: Validation                   # every runtime and pair of runtimes on the same images
    float_accuracy: float | None = None      # None: no labels, or no float model
    int8_accuracy: float | None = None
    agreement: float | None = None           # top-1 agreement of int8 (LiteRT) with the float model
    int8_metrics: Metrics | None = None
    float_metrics: Metrics | None = None
    class_names: list[str] | None = None
    float_model: str | None = None           # what the float side is (`compress.stages.Compressed.reference_kind`)
    engine: str | None = None                # the run's engine, when it is not TFLM ...
    engine_footprint: Footprint | None = None   # ... and what the model takes on it
    host: HostResult | None = None           # that engine's build run on this machine beside LiteRT

    @property
    def litert_equals_tflm(self) -> bool:
        return self.validation.litert_equals_tflm

    @property
    def litert_tflm_max_abs_diff(self) -> int:
        return self.validation.litert_tflm_max_abs_diff

    @property
    def litert_tflm_op(self) -> OpDifference | None:
        return self.validation.litert_tflm_op

    @property
    def images(self) -> int:
        return self.validation.images

    @property
    def data(self) -> str | None:
        """The images' source (None: random inputs)."""
        return self.validation.data

    @property
    def footprint(self) -> Footprint:
        """The sizes the budget is judged by: the run's engine's, else TFLM's."""
        return self.engine_footprint or self.tflm

    def to_dict(self) -> dict:
        shown = self.footprint
        d = {"model": self.model, "flash_bytes": shown.flash_bytes, "tflite_bytes": self.tflite_bytes,
             "arena_bytes": shown.arena_bytes, "arena_alloc_bytes": shown.arena_alloc_bytes, "ops": self.ops,
             "litert_equals_tflm": self.litert_equals_tflm,
             "litert_tflm_max_abs_diff": self.litert_tflm_max_abs_diff, "images": self.images, "data": self.data,
             "float_accuracy": self.float_accuracy, "int8_accuracy": self.int8_accuracy, "agreement": self.agreement}
        if self.int8_metrics is not None:
            d["int8"] = self.int8_metrics.to_dict()
        if self.class_names is not None:
            d["class_names"] = self.class_names
        if self.float_metrics is not None:
            d["float"] = self.float_metrics.to_dict()
        d["validation"] = self.validation.to_dict()
        if self.float_model is not None:
            d["float_model"] = self.float_model
        if self.engine_footprint is not None:
            d["tflm"] = self.tflm.sizes()
            d["engine"] = self.engine
            if self.engine_footprint.constant_bytes is not None:
                d["constant_bytes"] = self.engine_footprint.constant_bytes
        if self.host is not None:
            d.update(self.host.to_dict())
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Evaluation":
        """A `check` section as report.json holds it, from the first schema on (KeyError: a key it must have)."""
        top = Footprint(d["flash_bytes"], d["arena_bytes"], d["arena_alloc_bytes"], d.get("constant_bytes"))
        on_engine = "tflm" in d
        return cls(
            model=d["model"], tflm=Footprint(**d["tflm"]) if on_engine else top, tflite_bytes=d["tflite_bytes"],
            ops=d["ops"], validation=Validation.from_dict(d["validation"]), float_accuracy=d.get("float_accuracy"),
            int8_accuracy=d.get("int8_accuracy"), agreement=d.get("agreement"),
            int8_metrics=Metrics.from_dict(d.get("int8")), float_metrics=Metrics.from_dict(d.get("float")),
            class_names=d.get("class_names"),
            float_model=d.get("float_model"), engine=d.get("engine") if on_engine else None,
            engine_footprint=top if on_engine else None, host=HostResult.from_dict(d))
