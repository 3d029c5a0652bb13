"""Keras layers the builders share. Importing this module loads TensorFlow."""

from tinyml_kit._tf import keras, tf

_keras = keras()
_tf = tf()


@_keras.utils.register_keras_serializable(package="tinyml_kit")
class HardSwish(_keras.layers.Layer):
    """x * relu6(x + 3) / 6, written so the TFLite converter fuses it into one HARD_SWISH op."""

    def call(self, inputs):
        return inputs * _tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)


@_keras.utils.register_keras_serializable(package="tinyml_kit")
class ChannelPool(_keras.layers.Layer):
    """CBAM's spatial descriptor: the mean and the maximum over channels, stacked as two channels. Converts to
    MEAN, REDUCE_MAX and CONCATENATION."""

    def call(self, inputs):
        return _tf.concat([_tf.reduce_mean(inputs, -1, keepdims=True), _tf.reduce_max(inputs, -1, keepdims=True)], -1)


def activation(name: str, layer_name: str | None = None):
    """A fresh activation layer: 'hswish', 'relu6' (converts to a fused clamp on every MCU), 'relu' or 'gelu'
    (GELU: a TFLite op TFLM has no kernel for, so `fit` refuses it; for float experiments and `inspect`).

    Builders pass explicit layer names: Keras' automatic ones count up per process, and they end up in the
    .tflite's tensor names, so the file size would depend on what was built before.
    """
    if name == "hswish":
        return HardSwish(name=layer_name)
    if name == "relu6":
        return _keras.layers.ReLU(6.0, name=layer_name)
    if name == "relu":
        return _keras.layers.ReLU(name=layer_name)
    if name == "gelu":
        return _keras.layers.Activation("gelu", name=layer_name)
    raise ValueError(f"unknown activation {name!r}")


def batch_norm(name: str | None = None):
    # momentum 0.9: the moving statistics settle within a few epochs on small datasets (0.99 lagged ~10 epochs)
    return _keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name=name)


def pixel_input(input_shape: tuple[int, int, int]):
    """Model input takes raw pixels 0..255 and scales them to [0, 1] inside the graph.

    With the int8 input quantized at scale 1 / zero point -128, firmware feeds `pixel - 128` with no float math.
    """
    inputs = _keras.Input(shape=tuple(input_shape), name="pixels")
    return inputs, _keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)


def classifier_head(x, classes: int):
    """Global pooling and a 1x1 convolution with bias giving logits (same parameters as a dense layer).

    Measured choices: TFLM's int8 FULLY_CONNECTED differs from LiteRT's reference kernel by ±1 on a few
    outputs while CONV_2D is bit-exact (and the flatbuffer is smaller); and no softmax in the graph, because
    argmax is unchanged and TFLM's int8 SOFTMAX aborts (QuantizeMultiplierGreaterThanOne) when the logits'
    scale is small, as in untrained models.
    """
    x = _keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = _keras.layers.Conv2D(classes, 1, name="logits")(x)
    return _keras.layers.Flatten(name="flatten")(x)
