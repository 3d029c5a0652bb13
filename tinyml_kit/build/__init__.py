"""Model builders: one module and one function each, plain arguments, tf_keras models out.

`build(arch, ...)` maps the CLI's common knobs (alpha = width, depth, ...) onto each builder's own arguments,
refusing knobs an architecture does not have rather than ignoring them.
"""

from tinyml_kit.build.mobilenet_v1 import mobilenet_v1
from tinyml_kit.build.mobilenet_v2 import mobilenet_v2
from tinyml_kit.build.phinet import phinet
from tinyml_kit.build.resnet8 import resnet8
from tinyml_kit.build.tinynet import tinynet
from tinyml_kit.core.errors import UserError

# arch -> (builder, {common knob: builder argument})
ARCHITECTURES = {
    "phinet": (phinet, {"alpha": "alpha", "beta": "beta", "t0": "t0", "depth": "depth", "divisor": "divisor"}),
    "tinynet": (tinynet, {"alpha": "width", "depth": "depth"}),
    "mobilenetv1": (mobilenet_v1, {"alpha": "alpha"}),
    "mobilenetv2": (mobilenet_v2, {"alpha": "alpha"}),
    "resnet8": (resnet8, {}),
}


def build(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs):
    """Build `arch` with the given knobs; None values mean "the builder's default"."""
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture '{arch}': choose one of {', '.join(ARCHITECTURES)}")
    builder, mapping = ARCHITECTURES[arch]
    kwargs = {}
    for knob, value in knobs.items():
        if value is None:
            continue
        if knob not in mapping:
            allowed = ", ".join(f"--{k.replace('_', '-')}" for k in mapping) or "none"
            raise UserError(f"--{knob.replace('_', '-')} does not apply to {arch} (its options: {allowed})")
        kwargs[mapping[knob]] = value
    return builder(input_shape=tuple(input_shape), classes=classes, **kwargs)
