"""MobileNetV1 (Howard et al. 2017) with width multiplier alpha, shaped like keras.applications.MobileNet."""

# (pointwise filters, stride) of the 13 depthwise-separable blocks
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1(alpha: float = 0.25, input_shape: tuple[int, int, int] = (96, 96, 3), classes: int = 10,
                 dropout: float = 1e-3):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    inputs, x = pixel_input(input_shape)
    x = L.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = batch_norm("conv1_bn")(x)
    x = L.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"b{i}_dw")(x)
        x = batch_norm(f"b{i}_dw_bn")(x)
        x = L.ReLU(6.0, name=f"b{i}_dw_relu")(x)
        x = L.Conv2D(int(filters * alpha), 1, use_bias=False, name=f"b{i}_pw")(x)
        x = batch_norm(f"b{i}_pw_bn")(x)
        x = L.ReLU(6.0, name=f"b{i}_pw_relu")(x)
    if dropout:
        x = L.Dropout(dropout, name="dropout")(x)
    x = classifier_head(x, classes)
    return keras().Model(inputs, x, name=f"mobilenet_v1_a{alpha:g}")
