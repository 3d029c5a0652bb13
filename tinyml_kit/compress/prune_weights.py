"""Unstructured magnitude pruning (tfmot): zero the smallest weights while fine-tuning, then strip the wrappers.

Zeros do not shrink a dense int8 flatbuffer: every weight still takes its byte, and TFLM's kernels still
multiply by it. Only a firmware that stores the weights compressed (and decompresses them at start-up into RAM,
or runs sparse kernels) gains anything, so the report gives the measured sparsity and what gzip makes of the
file as the upper bound of that gain, never a smaller "flash" figure.
"""

import gzip

import numpy as np

from tinyml_kit.compress.options import require_fraction
from tinyml_kit.nets import copy_model

_PRUNABLE = {"Conv2D", "DepthwiseConv2D", "Dense"}


def magnitude_pruned(model, sparsity: float, steps_per_epoch: int):
    """`model` with every convolution and dense layer wrapped for magnitude pruning at `sparsity`, the mask
    re-chosen twice per epoch while fine-tuning (tfmot's first check falls on step 1, so a step count that
    never divides into the epoch would never prune: measured, 0 % sparsity after an epoch of 45 steps at the
    default frequency 100). A constant target rather than a ramp: training keeps the best epoch's weights, and
    with a ramp that epoch could be one that had not reached the target."""
    import tensorflow_model_optimization as tfmot

    from tinyml_kit._tf import keras

    require_fraction(sparsity)
    sched = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0,
                                                  frequency=max(1, steps_per_epoch // 2))

    def wrap(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if type(layer).__name__ in _PRUNABLE:
            return tfmot.sparsity.keras.prune_low_magnitude(fresh, pruning_schedule=sched)
        return fresh

    wrapped = keras().models.clone_model(model, clone_function=wrap)
    for old, new in zip(model.layers, wrapped.layers, strict=False):
        target = getattr(new, "layer", new)
        target.set_weights(old.get_weights())
    return wrapped


def pruning_callbacks() -> list:
    import tensorflow_model_optimization as tfmot

    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip(model):
    """The fine-tuned model without its pruning wrappers, as a model of its own: tfmot's `strip_pruning` keeps
    using the wrapped model's other layers (batch norms, activations, ...), whose `.output` then lies in the
    wrapped model's graph."""
    import tensorflow_model_optimization as tfmot

    return copy_model(tfmot.sparsity.keras.strip_pruning(model))


def weight_sparsity(model) -> float:
    """Fraction of exact zeros over the kernels of convolution and dense layers (the pruned weights)."""
    zeros = total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if type(inner).__name__ in _PRUNABLE:
            kernel = inner.get_weights()[0]
            zeros += int(np.sum(kernel == 0))
            total += kernel.size
    return zeros / total if total else 0.0


def gzip_bytes(flatbuffer: bytes) -> int:
    return len(gzip.compress(flatbuffer, compresslevel=9, mtime=0))
