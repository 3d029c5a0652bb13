"""TinyNet (brief §4): four stride-2 blocks of widths 32·2^i, 3×3 kernels, BN + ReLU, He init.

The first block is a plain convolution (a depthwise-separable one on 1–3 input channels saves nothing);
the others are depthwise-separable, which cuts their cost by about 1/N + 1/9.
`width` scales every block's channels, `depth` sets how many blocks there are.
"""

from tinyml_kit.core.spec import tinynet_filters


def tinynet(width: float = 1.0, depth: int = 4, input_shape: tuple[int, int, int] = (64, 64, 3),
            classes: int = 8):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    inputs, x = pixel_input(input_shape)
    for i, filters in enumerate(tinynet_filters(width, depth)):
        if i == 0:
            x = L.Conv2D(filters, 3, strides=2, padding="same", use_bias=False,
                         kernel_initializer="he_normal", name="b0_conv")(x)
        else:
            x = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False,
                                  depthwise_initializer="he_normal", name=f"b{i}_dw")(x)
            x = batch_norm(f"b{i}_dw_bn")(x)
            x = L.ReLU(name=f"b{i}_dw_act")(x)
            x = L.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"b{i}_pw")(x)
        x = batch_norm(f"b{i}_bn")(x)
        x = L.ReLU(name=f"b{i}_act")(x)
    x = classifier_head(x, classes)
    return keras().Model(inputs, x, name=f"tinynet_w{width:g}_d{depth}")
