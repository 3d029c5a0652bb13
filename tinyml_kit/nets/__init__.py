"""Model builders: one module and one function each, plain arguments, tf_keras models out.

`build(arch, ...)` maps the CLI's common knobs (alpha = width, depth, ...) onto each builder's own arguments,
refusing knobs an architecture does not have rather than ignoring them.
"""

from pathlib import Path

from tinyml_kit.nets.mobilenet_v1 import mobilenet_v1
from tinyml_kit.nets.mobilenet_v2 import mobilenet_v2
from tinyml_kit.nets.phinet import phinet
from tinyml_kit.nets.resnet import resnet, resnet8
from tinyml_kit.nets.tinynet import tinynet
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.spec import FAMILY_KNOBS, require_family

BUILDERS = {"phinet": phinet, "tinynet": tinynet, "mobilenetv1": mobilenet_v1, "mobilenetv2": mobilenet_v2,
            "resnet": resnet, "resnet8": resnet8}


def build(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs):
    """Build `arch` with the given knobs; None values mean "the builder's default"."""
    require_family(arch)
    mapping = FAMILY_KNOBS[arch]
    kwargs = {}
    for knob, value in knobs.items():
        if value is None:
            continue
        require_knob(arch, knob)
        kwargs[mapping[knob]] = value
    return BUILDERS[arch](input_shape=tuple(input_shape), classes=classes, **kwargs)


def require_knob(arch: str, knob: str) -> None:
    mapping = FAMILY_KNOBS[arch]
    if knob not in mapping:
        raise UserError(f"{knob} does not apply to {arch} (its knobs: {', '.join(mapping) or 'none'})", knob)


def load_keras_model(path: Path):
    """A model saved by `fit` or `compress` (or any tf_keras .keras / .h5 using our custom layers)."""
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import layers  # noqa: F401  (registers custom layers for deserialization)

    return keras().models.load_model(path)
