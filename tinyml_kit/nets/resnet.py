"""ResNet-style networks around MLPerf Tiny's ResNet-8: three residual stages of 16/32/64 filters at full, half and
quarter resolution, with a width multiplier on the filters and a depth (residual blocks per stage).

`resnet8` is the image-classification reference of MLPerf Tiny v0.5 (width 1, depth 1): the baseline users
compare against, 86.5 % int8 top-1 on CIFAR-10 in the closed reference submission. Plain 3×3 convolutions keep
full resolution in the first stage, which is what small, low-resolution inputs need and what depthwise networks
trade away; the width and depth knobs let the solver size that design to a board.
"""

from tinyml_kit.core.spec import resnet_filters


def resnet(input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10, width: float = 1.0, depth: int = 1):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    reg = keras().regularizers.l2(1e-4)

    def conv(x, f, kernel=3, strides=1, name=None):
        return L.Conv2D(f, kernel, strides=strides, padding="same", kernel_initializer="he_normal",
                        kernel_regularizer=reg, name=name)(x)

    filters = resnet_filters(width)
    inputs, x = pixel_input(input_shape)
    x = conv(x, filters[0], name="conv1")
    x = batch_norm("bn")(x)
    x = L.ReLU(name="relu")(x)
    for i, f in enumerate(filters):
        for j in range(int(depth)):
            p = f"s{i}_b{j}_"   # stage-first, as block_outputs groups layers into blocks
            strides = 2 if i > 0 and j == 0 else 1
            y = conv(x, f, strides=strides, name=p + "conv1")
            y = batch_norm(p + "bn1")(y)
            y = L.ReLU(name=p + "relu1")(y)
            y = conv(y, f, name=p + "conv2")
            y = batch_norm(p + "bn2")(y)
            if strides != 1:
                x = conv(x, f, kernel=1, strides=strides, name=p + "shortcut")
            x = L.Add(name=p + "add")([x, y])
            x = L.ReLU(name=p + "out")(x)
    x = classifier_head(x, classes)
    name = "resnet8" if (width, int(depth)) == (1.0, 1) else f"resnet_w{width:g}_d{int(depth)}"
    return keras().Model(inputs, x, name=name)


def resnet8(input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10):
    """MLPerf Tiny's reference network: `resnet` at width 1, depth 1."""
    return resnet(input_shape, classes)
