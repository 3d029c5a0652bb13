"""Model builders: one module and one function each, plain arguments, tf_keras models out.

`build(arch, ...)` maps the CLI's common knobs (alpha = width, depth, ...) onto each builder's own arguments
(`core.family.Family.knobs`), refusing knobs an architecture does not have rather than ignoring them. `BUILDERS` is
this stage's part of each family record, keyed by its name (`core.family` says why).
"""

from pathlib import Path

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import MOBILENETV1, MOBILENETV2, PHINET, RESNET, RESNET8, TINYNET, lookup
from tinyml_kit.nets.mobilenet_v1 import mobilenet_v1
from tinyml_kit.nets.mobilenet_v2 import mobilenet_v2
from tinyml_kit.nets.phinet import phinet
from tinyml_kit.nets.resnet import resnet, resnet8
from tinyml_kit.nets.tinynet import tinynet

BUILDERS = {PHINET.name: phinet, TINYNET.name: tinynet, MOBILENETV1.name: mobilenet_v1, MOBILENETV2.name: mobilenet_v2,
            RESNET.name: resnet, RESNET8.name: resnet8}


def build(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs):
    """Build `arch` with the given knobs; None values mean "the builder's default"."""
    mapping = lookup(arch).knobs
    kwargs = {}
    for knob, value in knobs.items():
        if value is None:
            continue
        require_knob(arch, knob)
        kwargs[mapping[knob]] = value
    return BUILDERS[arch](input_shape=tuple(input_shape), classes=classes, **kwargs)


def require_knob(arch: str, knob: str) -> None:
    f = lookup(arch)
    if not f.has(knob):
        raise UserError(f"{knob} does not apply to {arch} (its knobs: {', '.join(f.knobs) or 'none'})", knob)


def load_keras_model(path: Path, compile: bool = True):
    """A model saved by `fit` or `compress` (or any tf_keras .keras / .h5 / SavedModel using our custom layers).
    `compile` False: a user's model, whose loss and metrics may be functions only its own code defines."""
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import layers  # noqa: F401  (registers custom layers for deserialization)

    return keras().models.load_model(path, compile=compile)


def copy_model(model):
    """`model` rebuilt from fresh layers holding the same weights, so that the copy is a graph of its own.
    A Keras layer remembers every graph it was called in and its `.output` is the first one's: a model assembled
    from another model's layers (tfmot's `strip_pruning` reuses every layer it does not unwrap) cannot be cut
    into sub-models by layer name, as Grad-CAM and the linear probes do ("Graph disconnected")."""
    from tinyml_kit._tf import keras

    copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
