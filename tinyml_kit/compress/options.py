"""What compression to apply, checked before any work: pruning, int8 by PTQ or QAT, distillation."""

from dataclasses import dataclass

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.record_sections import CompressSettings
from tinyml_kit.train.distill import teacher_file
from tinyml_kit.train.hints import KINDS as DISTILL_KINDS

PRUNE_METHODS = ("none", "magnitude", "structured")
QUANT_METHODS = ("ptq", "qat")
CRITERIA = ("bn", "magnitude")


@dataclass
class CompressOptions(CompressSettings):
    """The settings (`core.record_sections.CompressSettings`, which a run's record keeps) and their checks."""

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


def require_fraction(sparsity: float) -> None:
    """Pruning removes a fraction of channels or weights: strictly between none and all."""
    if not 0 < sparsity < 1:
        raise UserError(f"sparsity {sparsity} is not a fraction in (0, 1): e.g. 0.5 removes half", "sparsity")


def _one_of(value: str, choices: tuple[str, ...], what: str, option: str) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} '{value}': choose one of {', '.join(choices)}", option)
