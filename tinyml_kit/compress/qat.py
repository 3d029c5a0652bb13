"""Quantization-aware training with tfmot, including the layers its default 8-bit scheme refuses.

tfmot quantizes convolutions, depthwise convolutions, batch-norm folds, pooling, Add and ReLU on its own. Our
models add three layers it rejects. `HardSwish` and the squeeze-excitation `Multiply` get an asymmetric
moving-average quantizer on their output, as the converter gives HARD_SWISH and MUL outputs their own scale.
`Rescaling` (pixels to [0, 1]) is folded into the convolution after it, which then reads raw pixels: that is
what post-training conversion does too, and left in place unquantized it made the converter drop the input
signal (measured: every image gave the same int8 output).
The result converts through the same int8 path as post-training quantization.
"""

from tinyml_kit.core.errors import UserError

_OUTPUT_QUANTIZED = {"HardSwish", "Multiply"}
_CONVOLUTIONS = {"Conv2D", "DepthwiseConv2D"}
_FOLDED_BY_TFMOT = {"BatchNormalization", "InputLayer"}   # handled by tfmot's graph transforms


def _configs():
    """Our QuantizeConfigs; classes are built on first use so importing this module stays cheap."""
    import tensorflow_model_optimization as tfmot

    qk = tfmot.quantization.keras

    class OutputQuantizeConfig(qk.QuantizeConfig):
        """No weights; the layer's output is quantized to int8 with a moving-average range."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [qk.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                         narrow_range=False)]

        def get_config(self):
            return {}

    class NoQuantizeConfig(OutputQuantizeConfig):
        """For the identity left where `Rescaling` was folded away: nothing to quantize, nothing to convert."""

        def get_output_quantizers(self, layer):
            return []

    return OutputQuantizeConfig, NoQuantizeConfig


def require_quantizable(model) -> None:
    """Refuse, before any training, a model with a layer QAT has no quantizer for (e.g. CBAM's channel pooling)."""
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry,
    )

    supported = registry.Default8BitQuantizeRegistry()
    for layer in model.layers:
        if type(layer).__name__ not in (*_OUTPUT_QUANTIZED, "Rescaling"):
            _require_quantizable(layer, supported)


def _require_quantizable(layer, supported) -> None:
    kind = type(layer).__name__
    if not (kind in _FOLDED_BY_TFMOT or supported.supports(layer)):
        raise UserError(f"QAT cannot quantize layer '{layer.name}' ({kind}): use post-training quantization (ptq), "
                        f"or a model without it", "quant")


def quantize_aware(model):
    """The QAT version of a float tf_keras model: same weights, fake-quantized like the int8 model will be."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry,
    )

    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import HardSwish

    qk = tfmot.quantization.keras
    output_config, no_config = _configs()
    supported = registry.Default8BitQuantizeRegistry()

    def annotate(layer):
        kind = type(layer).__name__
        fresh = layer.__class__.from_config(layer.get_config())
        if kind in _OUTPUT_QUANTIZED:
            return qk.quantize_annotate_layer(fresh, output_config())
        if kind == "Rescaling":
            return qk.quantize_annotate_layer(keras().layers.Activation("linear", name=layer.name), no_config())
        _require_quantizable(layer, supported)
        return fresh

    folded = _rescaling_folds(model)
    annotated = keras().models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    for name, scale in folded.items():
        layer = annotated.get_layer(name)
        kernel, *rest = layer.get_weights()
        layer.set_weights([kernel * scale, *rest])
    scope = {"OutputQuantizeConfig": output_config, "NoQuantizeConfig": no_config, "HardSwish": HardSwish}
    with qk.quantize_scope(scope):
        qat = qk.quantize_apply(qk.quantize_annotate_model(annotated))
    pin_input_range(qat)
    return qat


def _rescaling_folds(model) -> dict[str, float]:
    """Convolutions reading a `Rescaling` output, with the scale to fold into their kernels."""
    folds = {}
    for layer in model.layers:
        if type(layer).__name__ != "Rescaling":
            continue
        offset = layer.offset if isinstance(layer.offset, (int, float)) else None
        consumers = [n.outbound_layer for n in layer.outbound_nodes]
        if offset != 0 or not isinstance(layer.scale, (int, float)) or \
                any(type(c).__name__ not in _CONVOLUTIONS for c in consumers):
            raise UserError(f"QAT can fold Rescaling '{layer.name}' only when it has no offset and feeds "
                            f"convolutions directly: use post-training quantization (ptq)", "quant")
        folds.update({c.name: float(layer.scale) for c in consumers})
    return folds


def pin_input_range(qat_model, low: float = 0.0, high: float = 255.0) -> None:
    """Fix the input quantizer to the pixel range, so the int8 input is exactly `pixel - 128` (scale 1) as in
    post-training quantization. tfmot would learn it from the batches seen, which need not hold 0 and 255."""
    found = False
    for layer in qat_model.layers:
        if type(layer).__name__ != "QuantizeLayer":
            continue
        for w in layer.weights:
            if w.name.endswith("_min:0"):
                w.assign(low)
                found = True
            elif w.name.endswith("_max:0"):
                w.assign(high)
    if not found:
        raise RuntimeError("the QAT model has no input quantizer to pin")
