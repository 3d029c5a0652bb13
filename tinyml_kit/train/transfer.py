"""Transfer learning (BRIEF §6, seed 004: a ResNet50 from scratch 55 %, fine-tuned 72 %, with stages 1–3 frozen
80 %): start from another model's weights, re-initialise the head when the class count differs, and freeze the
first stages, whose generic features a small dataset would only overfit.

The stages themselves, and freezing them, are `train.stages`'.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.train.distill import load_model_file, teacher_file
from tinyml_kit.train.stages import HEAD_START

logger = logging.getLogger(__name__)


@dataclass
class Source:
    """The model to start from, and the family and knobs its run recorded (None for a bare .keras file)."""
    model: object
    file: Path
    family: str | None
    knobs: dict | None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.model.input_shape[1:])

    def require_input(self, input_shape: tuple[int, int, int]) -> None:
        if self.input_shape != tuple(input_shape):
            have, want = "x".join(map(str, self.input_shape)), "x".join(map(str, input_shape))
            raise UserError(f"{param('init_from')} model {self.file} takes {have} images, the data is {want}: "
                            f"pass {param('input_shape', have.replace('x', ','))} or start from a model of this input",
                            "init_from", "input_shape")


def load_source(init_from: str | Path) -> Source:
    """The model of a run directory or a .keras file; its run's report.json, if beside it, names its family."""
    file = teacher_file(init_from, what=f"{param('init_from')} model", option="init_from")
    model = load_model_file(file, what=f"{param('init_from')} model", option="init_from")
    if HEAD_START not in {layer.name for layer in model.layers}:
        raise UserError(f"{param('init_from')} model {file} has no '{HEAD_START}' layer, so its classifier head "
                        f"cannot be replaced: start from a model made by tinyml-kit fit", "init_from")
    report = file.parent / "report.json"
    family = knobs = None
    if report.is_file():
        record = json.loads(report.read_text())
        family, knobs = record.get("arch"), record.get("choice")
    return Source(model, file, family, knobs)


def transferred(source: Source, input_shape: tuple[int, int, int], classes: int):
    """A model with the source's layers and weights for `classes` classes: its own head when the count is the
    same, a freshly initialised one otherwise."""
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import copy_model
    from tinyml_kit.nets.layers import classifier_head

    source.require_input(input_shape)
    old = source.model
    k = keras()
    if old.output_shape[-1] == classes:
        return copy_model(old)
    features = old.get_layer(HEAD_START).input
    logger.info(f"the model to start from has {old.output_shape[-1]} classes, the data {classes}: the head is "
                "re-initialised")
    return k.Model(old.input, classifier_head(features, classes), name=old.name)
