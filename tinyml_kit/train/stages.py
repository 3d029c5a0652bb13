"""A model's stages, and freezing them (BRIEF §6): the first stages' generic features are the ones a small
dataset would only overfit, so transfer learning freezes them, and distillation matches feature maps stage by
stage.

A *stage* is a run of layers at one spatial resolution: each stride-2 layer starts the next. The stem belongs to
the first stage; squeeze-excite's 1×1 layers belong to the stage around them; the classifier head (pooling and
logits) to none, and it is always trained.
"""

from tinyml_kit.core.errors import UserError, param

HEAD_START = "pool"   # `nets.layers.classifier_head`'s first layer


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
        raise UserError(f"{param('freeze_stages', count)}: the model has {len(groups)} stages (one per resolution, "
                        f"the stem in the first): give at most {len(groups)}", "freeze_stages")
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
