"""What a run that does not fit its board is told, as report.json's `advice` holds it: each budget's figure against
its limit and by how much it misses, where the flash and the arena go (as `analyze` shows them), and the `compress`
settings whose measured effect makes it fit, or why none does. `pipeline.advise` works it out; this is the data."""

from dataclasses import asdict, dataclass, field

from tinyml_kit.core.errors import as_argument
from tinyml_kit.core.verdict import Check

UNITS = {"flash": "B", "arena": "B", "macs": "MACs", "latency": "cycles"}


@dataclass(frozen=True)
class BudgetMiss:
    """One budget: the figure, its limit and how far over it is (negative: the margin left)."""
    budget: str                        # flash, arena, macs or latency (the verdict's names)
    used: int | float
    limit: int | float
    unit: str
    over: int | float
    over_percent: float
    used_ms: float | None = None       # latency: the cycles at the board's clock, and the limit in ms
    limit_ms: float | None = None

    @classmethod
    def of(cls, budget: str, check: Check, used_ms: float | None = None, limit_ms: float | None = None
           ) -> "BudgetMiss":
        return cls(budget, check.used, check.limit, UNITS[budget], -check.margin, -check.margin_percent, used_ms,
                   limit_ms)

    @property
    def fits(self) -> bool:
        return self.over <= 0

    def text(self) -> str:
        ms = f" (~{self.used_ms:g} ms / {self.limit_ms:g} ms)" if self.used_ms is not None else ""
        return (f"{self.budget} {self.used:,} {self.unit} > {self.limit:,} {self.unit}{ms}: over by {self.over:,} "
                f"{self.unit} (+{self.over_percent:g} %)")


@dataclass(frozen=True)
class LayerCost:
    """One op of the int8 model, as `analyze` lists it: its weights in flash and the arena live while it runs."""
    index: int
    op: str
    name: str
    weight_bytes: int
    live_bytes: int


@dataclass(frozen=True)
class PrunedFigures:
    """What the model measured after removing `sparsity` of its channels (`compress --prune structured`), converted
    to int8 as `compress` converts it: the same shapes a fine-tuned one has."""
    sparsity: float
    flash_bytes: int
    arena_alloc_bytes: int
    macs: int
    cycles: int | None
    fits: bool
    misses: list[str] = field(default_factory=list)   # the budgets it still misses, in words


@dataclass(frozen=True)
class CompressSuggestion:
    """The `compress` settings (`compress.options.CompressOptions`'s names) measured to make the run in `run_dir`
    fit; the command line spells them as its flags."""
    run_dir: str
    prune: str
    sparsity: float
    quant: str

    def settings(self) -> dict[str, str | float]:
        """The settings that differ from `compress`'s defaults, by name."""
        return {"prune": self.prune, "sparsity": self.sparsity, **({"quant": self.quant} if self.quant != "ptq"
                                                                    else {})}


@dataclass
class FitAdvice:
    budgets: list[BudgetMiss]                      # every budget judged, missed or not
    top_flash: list[LayerCost]                     # the ops with the most weight bytes, most first
    peak_arena: LayerCost                          # the op at which the most arena is live
    pruned: PrunedFigures | None = None            # the least pruning measured to fit, else the most tried
    compress: CompressSuggestion | None = None     # what to run; QAT where post-training quantization lost accuracy
    reason: str | None = None                      # why no compress option is suggested

    @property
    def misses(self) -> list[BudgetMiss]:
        return [b for b in self.budgets if not b.fits]

    def lines(self) -> list[str]:
        """The advice in words: the misses, where flash and arena go, and the line to run (or why there is none)."""
        p = self.peak_arena
        lines = ["misses: " + "; ".join(m.text() for m in self.misses),
                 "most flash: " + ", ".join(f"op {c.index} {c.op} '{c.name}' {c.weight_bytes:,} B" for c in
                                             self.top_flash)
                 + f"; arena peak: op {p.index} {p.op} '{p.name}' ({p.live_bytes:,} B live)"]
        if self.compress and self.pruned:
            f, settings = self.pruned, self.compress.settings()
            cycles = f", ~{f.cycles:,} cycles" if f.cycles is not None else ""
            lines.append(f"it fits with {f.sparsity:.0%} of its channels removed (measured on the pruned int8 model: "
                         f"flash {f.flash_bytes:,} B, arena {f.arena_alloc_bytes:,} B, {f.macs:,} MACs{cycles}"
                         + ("; QAT, as post-training quantization lost accuracy" if "quant" in settings else "")
                         + "): compress it, fine-tuning, with " + ", ".join(as_argument(k, str(v)) for k, v in
                                                                              settings.items()))
        elif self.reason:
            lines.append(self.reason)
        return lines

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FitAdvice":
        pruned, suggestion = d.get("pruned"), d.get("compress")
        return cls([BudgetMiss(**b) for b in d["budgets"]], [LayerCost(**x) for x in d["top_flash"]],
                   LayerCost(**d["peak_arena"]), PrunedFigures(**pruned) if pruned else None,
                   CompressSuggestion(**suggestion) if suggestion else None, d.get("reason"))
