"""Transfer learning (BRIEF §6, seed 004: a ResNet50 from scratch 55 %, fine-tuned 72 %, with stages 1–3 frozen
80 %): start from another model's weights, re-initialise the head when the class count differs, and freeze the
first stages, whose generic features a small dataset would only overfit.

A *stage* is a run of layers at one spatial resolution: each stride-2 layer starts the next. The stem belongs to
the first stage; squeeze-excite's 1×1 layers belong to the stage around them; the classifier head (pooling and
logits) to none, and it is always trained.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.core.errors import UserError

logger = logging.getLogger(__name__)

HEAD_START = "pool"   # `build.layers.classifier_head`'s first layer


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
            raise UserError(f"--init-from model {self.file} takes {have} images, the data is {want}: pass --input "
                            f"{have.replace('x', ',')} or start from a model of this input", "init_from",
                            "input_shape")


def load_source(init_from: str | Path) -> Source:
    """The model of a run directory or a .keras file; its run's report.json, if beside it, names its family."""
    from tinyml_kit.train.distill import load_model_file, teacher_file

    file = teacher_file(init_from, what="--init-from model", option="init_from")
    model = load_model_file(file, what="--init-from model", option="init_from")
    if HEAD_START not in {layer.name for layer in model.layers}:
        raise UserError(f"--init-from model {file} has no '{HEAD_START}' layer, so its classifier head cannot be "
                        f"replaced: start from a model made by tinyml-kit fit", "init_from")
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
    from tinyml_kit.nets.layers import classifier_head

    source.require_input(input_shape)
    old = source.model
    k = keras()
    if old.output_shape[-1] == classes:
        model = k.models.clone_model(old)
        model.set_weights(old.get_weights())
        return model
    features = old.get_layer(HEAD_START).input
    logger.info(f"--init-from: {old.output_shape[-1]} classes there, {classes} here: the head is re-initialised")
    return k.Model(old.input, classifier_head(features, classes), name=old.name)


def stages(model) -> list[list[str]]:
    """The names of the layers of each stage, in order (see the module's docstring). A resolution drop starts a
    new stage only once the current one has weights, so the input and rescaling layers join the stem's; and the
    layers of the block whose stride drops it (named `b3_…` like its stride-2 layer `b3_dw`: an inverted
    residual's expansion) move with it, so every stage ends on a block's output."""
    groups: list[list[str]] = [[]]
    resolution, weighted = None, False
    for layer in model.layers:
        if layer.name == HEAD_START:
            break
        shape = layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape
        spatial = tuple(shape[1:3]) if len(shape) == 4 and tuple(shape[1:3]) != (1, 1) else None
        if spatial is not None and (resolution is None or spatial[0] < resolution[0]):
            if weighted:
                groups.append(_same_block_tail(groups[-1], layer.name))
                weighted = any(model.get_layer(n).weights for n in groups[-1])
            resolution = spatial
        groups[-1].append(layer.name)
        weighted = weighted or bool(layer.weights)
    return groups


def _same_block_tail(group: list[str], first: str) -> list[str]:
    """Remove from the end of `group`, and return, the layers named as `first`'s block (the prefix before `_`)."""
    block = first.split("_")[0] + "_"
    tail = []
    while len(group) > 1 and group[-1].startswith(block):
        tail.insert(0, group.pop())
    return tail


def require_stages(model, count: int) -> list[list[str]]:
    """`model`'s stages, refused if there are fewer than `count` to freeze."""
    groups = stages(model)
    if count > len(groups):
        raise UserError(f"--freeze-stages {count}: the model has {len(groups)} stages (one per resolution, the stem "
                        f"in the first): give at most {len(groups)}", "freeze_stages")
    return groups


def freeze_stages(model, count: int) -> int:
    """Mark the layers of the first `count` stages not trainable; returns how many parameters were frozen."""
    groups = require_stages(model, count)
    frozen = 0
    for name in (n for group in groups[:count] for n in group):
        layer = model.get_layer(name)
        frozen += sum(int(w.shape.num_elements()) for w in layer.trainable_weights)
        layer.trainable = False
    return frozen


def unfreeze(model) -> None:
    for layer in model.layers:
        layer.trainable = True
