"""Distillation beyond the logits (seed 003): the student also matches the teacher's intermediate feature maps,
stage by stage, where the two share a resolution.

features (FitNets, Romero et al. 2015): a 1×1 convolution, trained with the student and discarded after, maps
the student's channels onto the teacher's, and the two maps are compared.
attention (Zagoruyko & Komodakis 2017): each map is reduced to where it is active, the channel mean of its
squares, so no adapter is needed and any widths compare.

Both compare maps normalised per image (L2): the squared difference, summed over channels and averaged over
images and positions, weighted by β / 2 = 500 per stage pair, the attention-transfer paper's setting (its maps
have one channel); summing the feature maps' channels keeps the two terms on one scale. Sample (class) weights
apply to the logits terms only.
"""

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.train.stages import stages

KINDS = ("logits", "features", "attention")
BETA = 1000.0


def stage_outputs(model) -> dict[tuple[int, int], str]:
    """The last layer of each stage (see `train.transfer.stages`), keyed by its spatial size."""
    found = {}
    for group in stages(model):
        shape = model.get_layer(group[-1]).output_shape
        if isinstance(shape, tuple) and len(shape) == 4 and shape[1:3] != (1, 1):
            found[tuple(shape[1:3])] = group[-1]
    return found


def hint_pairs(student, teacher, kind: str) -> list[tuple[str, str]]:
    """(student layer, teacher layer) at each spatial size both have; refused if there is none."""
    s, t = stage_outputs(student), stage_outputs(teacher)
    pairs = [(s[size], t[size]) for size in sorted(s, reverse=True) if size in t]
    if not pairs:
        raise UserError(f"{param('distill', kind)}: the student's stages ({_sizes(s)}) and the teacher's "
                        f"({_sizes(t)}) share no resolution: use {param('distill', 'logits')}, or a teacher of the "
                        f"student's input and strides", "distill")
    return pairs


def _sizes(found: dict) -> str:
    return ", ".join(f"{h}x{w}" for h, w in found) or "none"


def with_maps(model, layers: list[str]):
    """A model sharing `model`'s layers that also returns the named layers' outputs."""
    from tinyml_kit._tf import keras

    return keras().Model(model.input, [model.output, *(model.get_layer(n).output for n in layers)])


def adapters(student, teacher, pairs: list[tuple[str, str]]) -> list:
    """features: one 1×1 convolution per pair, student channels → teacher channels."""
    from tinyml_kit._tf import keras

    L = keras().layers
    return [L.Conv2D(teacher.get_layer(t).output_shape[-1], 1, use_bias=False, name=f"hint_adapter_{i}")
            for i, (_, t) in enumerate(pairs)]


def _unit(t, maps):
    """`maps` (images, h, w[, c]) scaled to unit L2 norm per image, as (images, h·w, channels)."""
    flat = t.reshape(maps, (t.shape(maps)[0], -1))
    return t.reshape(t.math.l2_normalize(flat, axis=1), (t.shape(maps)[0], -1, maps.shape[-1] if maps.shape.rank == 4
                                                                                 else 1))


def hint_loss(kind: str, student_maps: list, teacher_maps: list, adapter_layers: list):
    """β/2 · Σ over pairs of the squared difference of the per-image normalised maps, summed over channels and
    averaged over images and positions."""
    from tinyml_kit._tf import tf

    t = tf()
    total = t.constant(0.0)
    for i, (s, te) in enumerate(zip(student_maps, teacher_maps, strict=False)):
        if kind == "features":
            s = adapter_layers[i](s)
        else:
            s, te = t.reduce_mean(t.square(s), -1), t.reduce_mean(t.square(te), -1)
        s, te = _unit(t, s), _unit(t, te)
        total += BETA / 2 * t.reduce_mean(t.reduce_sum(t.square(s - te), -1))   # channels summed
    return total
