"""What compression to apply, checked before any work: pruning, int8 by PTQ or QAT, distillation."""

from dataclasses import asdict, dataclass

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.train.distill import teacher_file
from tinyml_kit.train.hints import KINDS as DISTILL_KINDS

PRUNE_METHODS = ("none", "magnitude", "structured")
QUANT_METHODS = ("ptq", "qat")
CRITERIA = ("bn", "magnitude")


@dataclass
class CompressOptions:
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

    def validate(self) -> None:
        """Every option in range, and a teacher file that really is a Keras model (not found out after training)."""
        _one_of(self.prune, PRUNE_METHODS, "pruning method", "prune")
        _one_of(self.quant, QUANT_METHODS, "quantization", "quant")
        _one_of(self.criterion, CRITERIA, "pruning criterion", "criterion")
        if self.prune != "none":
            require_fraction(self.sparsity)
        if self.finetune_epochs < 1:
            raise UserError(f"{self.finetune_epochs} fine-tuning epochs: give at least 1", "finetune_epochs")
        if not self.temperature > 0:
            raise UserError(f"distillation temperature {self.temperature} must be positive (typical: 2 to 8)",
                            "temperature")
        if not 0 <= self.alpha_kd <= 1:
            raise UserError(f"distillation weight {self.alpha_kd} must be in [0, 1]: the weight of the teacher's "
                            f"soft targets", "alpha_kd")
        _one_of(self.distill, DISTILL_KINDS, "distillation", "distill")
        if not self.teacher and (self.distill != "logits" or self.assistant):
            raise UserError(f"{param('distill')} and {param('assistant')} shape distillation from a teacher: give "
                            f"{param('teacher', 'RUN_DIR')}, MODEL.keras or auto", "distill", "assistant", "teacher")
        if self.teacher not in (None, "auto"):
            teacher_file(self.teacher)
        if self.assistant not in (None, "auto"):
            teacher_file(self.assistant, what="assistant", option="assistant")

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


def require_fraction(sparsity: float) -> None:
    """Pruning removes a fraction of channels or weights: strictly between none and all."""
    if not 0 < sparsity < 1:
        raise UserError(f"sparsity {sparsity} is not a fraction in (0, 1): e.g. 0.5 removes half", "sparsity")


def _one_of(value: str, choices: tuple[str, ...], what: str, option: str) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} '{value}': choose one of {', '.join(choices)}", option)
