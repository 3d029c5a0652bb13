"""ResNet-8 of MLPerf Tiny image classification (v0.5 reference): three residual stacks of 16/32/64 filters.

The baseline users compare against: 86.5 % int8 top-1 on CIFAR-10 in the closed reference submission.
"""


def resnet8(input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10,
            filters: tuple[int, ...] = (16, 32, 64)):
    from tinyml_kit._tf import keras
    from tinyml_kit.build.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    reg = keras().regularizers.l2(1e-4)

    def conv(x, f, kernel=3, strides=1, name=None):
        return L.Conv2D(f, kernel, strides=strides, padding="same", kernel_initializer="he_normal",
                        kernel_regularizer=reg, name=name)(x)

    inputs, x = pixel_input(input_shape)
    x = conv(x, filters[0], name="conv1")
    x = batch_norm()(x)
    x = L.ReLU()(x)
    for i, f in enumerate(filters):
        strides = 1 if i == 0 else 2
        y = conv(x, f, strides=strides, name=f"s{i}_conv1")
        y = batch_norm()(y)
        y = L.ReLU()(y)
        y = conv(y, f, name=f"s{i}_conv2")
        y = batch_norm()(y)
        if strides != 1:
            x = conv(x, f, kernel=1, strides=strides, name=f"s{i}_shortcut")
        x = L.Add(name=f"s{i}_add")([x, y])
        x = L.ReLU()(x)
    x = classifier_head(x, classes)
    return keras().Model(inputs, x, name="resnet8")
