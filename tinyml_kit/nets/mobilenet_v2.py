"""MobileNetV2 (Sandler et al. 2018) with width multiplier alpha, shaped like keras.applications.MobileNetV2."""

from tinyml_kit.core.spec import make_divisible

# (expansion, filters, stride) of the 17 inverted-residual blocks
_BLOCKS = ((1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1),
           (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1),
           (6, 160, 1), (6, 320, 1))


def mobilenet_v2(alpha: float = 0.35, input_shape: tuple[int, int, int] = (96, 96, 3), classes: int = 10):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    inputs, x = pixel_input(input_shape)
    in_channels = make_divisible(32 * alpha, 8)
    x = L.Conv2D(in_channels, 3, strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = batch_norm("conv1_bn")(x)
    x = L.ReLU(6.0, name="conv1_relu")(x)
    for i, (expansion, filters, stride) in enumerate(_BLOCKS):
        out_channels = make_divisible(int(filters * alpha), 8)
        shortcut = x
        if expansion != 1:
            x = L.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"b{i}_expand")(x)
            x = batch_norm(f"b{i}_expand_bn")(x)
            x = L.ReLU(6.0, name=f"b{i}_expand_relu")(x)
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"b{i}_dw")(x)
        x = batch_norm(f"b{i}_dw_bn")(x)
        x = L.ReLU(6.0, name=f"b{i}_dw_relu")(x)
        x = L.Conv2D(out_channels, 1, use_bias=False, name=f"b{i}_project")(x)
        x = batch_norm(f"b{i}_project_bn")(x)
        if stride == 1 and in_channels == out_channels:
            x = L.Add(name=f"b{i}_add")([shortcut, x])
        in_channels = out_channels
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = L.Conv2D(last, 1, use_bias=False, name="conv_last")(x)
    x = batch_norm("conv_last_bn")(x)
    x = L.ReLU(6.0, name="conv_last_relu")(x)
    x = classifier_head(x, classes)
    return keras().Model(inputs, x, name=f"mobilenet_v2_a{alpha:g}")
