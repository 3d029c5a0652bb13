"""How to train, checked before any work: schedule, learning rate (or a range test to find it), class weights,
and a start from another model's weights with frozen stages (transfer learning, BRIEF §6)."""

from dataclasses import asdict, dataclass
from pathlib import Path

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.train.distill import teacher_file

SCHEDULES = ("cosine", "onecycle")
CLASS_WEIGHTS = ("none", "balanced")
LEARNING_RATE = 3e-3   # Adam's starting (cosine) or peak (one-cycle) rate unless the range test picks one


@dataclass
class TrainOptions:
    schedule: str = "cosine"
    learning_rate: float | None = None    # None: LEARNING_RATE, or with lr_finder the range test's choice
    lr_finder: bool = False               # a range test before training picks the rate
    class_weight: str = "none"            # "balanced": each class weighs n / (classes · its count)
    init_from: str | None = None          # a run directory or a .keras file whose weights start the training
    freeze_stages: int = 0                # with init_from: the stem and this many stages are not trained
    unfreeze_epochs: int = 0              # then every layer is fine-tuned this long at a tenth of the rate

    def validate(self) -> None:
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule '{self.schedule}': choose one of {', '.join(SCHEDULES)}", "schedule")
        if self.class_weight not in CLASS_WEIGHTS:
            raise UserError(f"unknown class weighting '{self.class_weight}': choose one of "
                            f"{', '.join(CLASS_WEIGHTS)}", "class_weight")
        if self.lr_finder and self.learning_rate is not None:
            raise UserError(f"the range test picks the learning rate itself, so the rate {self.learning_rate:g} would "
                            f"be ignored: give a rate or the range test, not both", "learning_rate", "lr_finder")
        if not 0 < self.start_rate < 1:
            raise UserError(f"learning rate {self.learning_rate} is not in (0, 1): Adam's usual range is 1e-4 to "
                            f"1e-2", "learning_rate")
        if self.freeze_stages < 0 or self.unfreeze_epochs < 0:
            raise UserError(f"{param('freeze_stages')} and {param('unfreeze_epochs')} count stages and epochs: "
                            "give 0 or more", "freeze_stages", "unfreeze_epochs")
        if self.init_from is None and (self.freeze_stages or self.unfreeze_epochs):
            raise UserError(f"{param('freeze_stages')} and {param('unfreeze_epochs')} freeze pre-trained weights: give "
                            f"{param('init_from', 'RUN_DIR')} or MODEL.keras", "freeze_stages", "unfreeze_epochs")
        if self.init_from is not None:
            file = teacher_file(self.init_from, what=f"{param('init_from')} model", option="init_from")
            self.init_from = str(file.absolute())

    @property
    def start_rate(self) -> float:
        """The rate training starts from unless the range test picks one."""
        return LEARNING_RATE if self.learning_rate is None else self.learning_rate

    def plan(self) -> str:
        """The training recipe in words, logged before it starts."""
        rate = "a rate from the range test" if self.lr_finder else f"rate {self.start_rate:g}"
        steps = [f"{self.schedule} schedule, {rate}"]
        if self.class_weight != "none":
            steps.append(f"{self.class_weight} class weights")
        if self.init_from:
            frozen = f", stem and {self.freeze_stages} stage(s) frozen" if self.freeze_stages else ""
            steps.append(f"weights from {Path(self.init_from)}{frozen}")
            if self.unfreeze_epochs:
                steps.append(f"then {self.unfreeze_epochs} epochs with every layer trained")
        return "; ".join(steps)

    def to_dict(self) -> dict:
        return asdict(self)
