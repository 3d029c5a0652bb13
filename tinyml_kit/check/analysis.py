"""`analyze`'s result as typed data: the per-layer rows, the planned buffers, the measured totals and, where they
apply, the latency estimate, the board verdict, the profile measured by `verify --profile` and the C engine's
static plan. `to_dict()` gives `analyze --json`'s keys, in their order (users' scripts read them)."""

from dataclasses import asdict, dataclass


@dataclass
class LayerRow:
    index: int
    op: str
    name: str                   # the output tensor's name
    output_shape: list[int]
    params: int                 # elements of the op's constant inputs (weights, biases)
    macs: int
    weight_bytes: int           # constant bytes stored for this op (a buffer shared with an earlier op counts there)
    activation_bytes: int       # the output tensor, as planned (rounded up to 16)
    output_first_op: int        # the output's lifetime: from the op that writes it ...
    output_last_op: int         # ... to the last op that reads it
    output_offset: int          # its offset in the arena's planned head
    scratch_bytes: int          # kernel scratch buffers while this op runs
    live_bytes: int             # planned buffers live while this op runs (inputs, outputs, anything kept for later)
    high_water_bytes: int       # the highest planned byte in use while this op runs
    instructions_est: int | None = None       # predicted on the board's core (the Cortex-M4F without a board)
    instructions_measured: int | None = None  # from a `verify --profile` of the run on that core and engine
    latency_ms_est: float | None = None       # its cycles at the board's clock
    cycles_est: int | None = None             # predicted on the board, its flash wait states included

    def to_dict(self) -> dict:
        return asdict(self)


CSV_COLUMNS = tuple(LayerRow.__dataclass_fields__)


@dataclass
class PlanTensor:
    """One buffer of TFLM's replayed memory plan: a tensor or an op's scratch."""
    name: str
    bytes: int
    offset: int
    first_op: int               # -1: live before the first op (the input)
    last_op: int


@dataclass
class Latency:
    """Instructions predicted for the engine on a core and, with a board, the cycles and latency on it."""
    instructions_core: str | None   # None: no prediction for this graph
    instructions_est: int | None
    latency_ms_est: float | None = None   # None: no board
    latency_basis: str | None = None
    cycles_est: int | None = None         # None: no board, or its core is not emulated

    def to_dict(self) -> dict:
        d = {"instructions_core": self.instructions_core, "instructions_est": self.instructions_est}
        if self.latency_ms_est is not None:
            d.update(latency_ms_est=self.latency_ms_est, latency_basis=self.latency_basis, cycles_est=self.cycles_est)
        return d


@dataclass
class BoardFit:
    """Flash and RAM against what the board leaves for a model, with the margins."""
    board: str
    flash_linked_bytes: int
    flash_reserve_bytes: int
    flash_budget_bytes: int
    ram_linked_bytes: int
    ram_reserve_bytes: int
    arena_budget_bytes: int
    fits_flash: bool
    fits_ram: bool
    fits: bool
    flash_margin_bytes: int
    flash_margin_percent: float
    ram_margin_bytes: int
    ram_margin_percent: float


@dataclass
class MeasuredInstructions:
    """The whole inference as `verify --profile` measured it, and on what (core, firmware)."""
    instructions_measured: int
    instructions_measured_with: str


@dataclass
class CEngineAnalysis:
    """The C engine's generated model: its flash, its static arena and the plan `plan.json` records."""
    flash_bytes: int
    constant_bytes: int
    arena_bytes: int
    plan: dict                  # `engine.plan.MemoryMap.to_dict()`: the buffers, as plan.json has them


@dataclass
class Analysis:
    """`analyze` on one int8 model."""
    model: str
    flash_bytes: int
    tflite_bytes: int
    weights_bytes: int
    structure_bytes: int
    params: int
    macs: int
    ops: list[str]
    op_count: int
    arena_bytes: int
    arena_alloc_bytes: int
    arena_head_bytes: int
    arena_tail_bytes: int
    plan_head_bytes: int
    plan_matches_tflm: bool
    input_bytes: int
    output_bytes: int
    peak_layer: int
    peak_op: str
    peak_name: str
    peak_tensors: list[PlanTensor]
    layers: list[LayerRow]
    tensors: list[PlanTensor]
    latency: Latency
    board_fit: BoardFit | None = None                  # with a board
    measured: MeasuredInstructions | None = None       # a run directory with a matching `verify --profile`
    c_engine: CEngineAnalysis | None = None             # the C engine

    @property
    def peak(self) -> LayerRow:
        return self.layers[self.peak_layer]

    @property
    def fits(self) -> bool | None:
        """The board verdict (None without a board)."""
        return self.board_fit.fits if self.board_fit is not None else None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("latency", "board_fit", "measured", "c_engine")}
        d.update(self.latency.to_dict())
        for part in (self.board_fit, self.measured):
            if part is not None:
                d.update(asdict(part))
        if self.c_engine is not None:
            d["c_engine"] = asdict(self.c_engine)
        return d


@dataclass
class EnginePlan:
    """An engine's own part of `analyze`: its plan, and the board verdict by its flash and arena."""
    c_engine: CEngineAnalysis
    board_fit: BoardFit | None = None   # None: no board
