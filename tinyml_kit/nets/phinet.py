"""PhiNet (Paissan et al., ACM TECS 2022) as a tf_keras model, faithful to micromind's `networks/phinet.py`.

The structure comes from `core.spec.phinet_blocks` (plain data, no TensorFlow); this module turns it into layers.
"""

from tinyml_kit.core.spec import (
    ACTIVATIONS,
    ATTENTIONS,
    PhiNetBlock,
    phinet_blocks,
    phinet_name,
    require_choice,
)

CBAM_KERNEL = 7   # the spatial attention's convolution (Woo et al. 2018)


def phinet(alpha: float = 0.25, beta: float = 1.0, t0: float = 6, depth: int = 7,
           input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10, divisor: int = 1,
           squeeze_excite: bool = True, activation: str = "hswish",
           downsampling_layers: tuple[int, ...] = (5, 7), conv5_percent: float = 0.0, first_conv_stride: int = 2,
           compatibility: bool = False, include_top: bool = True, dropout: float = 0.05, attention: str = "se"):
    """Build a PhiNet as a tf_keras Model taking raw pixels (0..255).

    `compatibility` swaps hard-swish for ReLU6 and drops squeeze-excitation, as micromind does, for runtimes
    without HARD_SWISH or broadcast MUL. `attention` after each block's depthwise stage: "se" (squeeze-excite,
    PhiNet's own), "cbam" (channel then spatial attention, Woo et al. 2018, its channel MLP as wide as SE's) or
    "none".
    """
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import activation as act
    from tinyml_kit.nets.layers import batch_norm, classifier_head, pixel_input

    L = keras().layers
    require_choice(activation, ACTIVATIONS, "activation")
    require_choice(attention, ATTENTIONS, "attention")
    if compatibility:
        activation, squeeze_excite = "relu6", False
    squeeze_excite = squeeze_excite and attention != "none"
    plan = phinet_blocks(alpha, beta, t0, depth, divisor, squeeze_excite, tuple(downsampling_layers),
                         conv5_percent, first_conv_stride=first_conv_stride)

    inputs, x = pixel_input(input_shape)
    x = L.DepthwiseConv2D(3, strides=plan.stem_stride, padding="same", use_bias=False, name="stem_dw")(x)
    x = L.Conv2D(plan.stem_channels, 1, use_bias=False, name="stem_pw")(x)
    x = batch_norm("stem_bn")(x)
    x = act(activation, "stem_act")(x)
    for b in plan.blocks:
        x = _inverted_residual(x, b, activation, dropout, attention)
    if include_top:
        x = classifier_head(x, classes)
    return keras().Model(inputs, x, name=phinet_name(alpha, beta, t0, depth))


def _inverted_residual(x, b: PhiNetBlock, activation: str, dropout: float, attention: str = "se"):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import activation as act
    from tinyml_kit.nets.layers import batch_norm

    L = keras().layers
    p = f"b{b.block_id}_"
    shortcut = x
    if b.block_id:
        x = L.Conv2D(b.expanded, 1, use_bias=False, name=p + "expand")(x)
        x = batch_norm(p + "expand_bn")(x)
        x = act(activation, p + "expand_act")(x)
    if dropout:
        x = L.SpatialDropout2D(dropout, name=p + "drop")(x)
    x = L.DepthwiseConv2D(b.kernel, strides=b.stride, padding="same", use_bias=False, name=p + "dw")(x)
    x = batch_norm(p + "dw_bn")(x)
    x = act(activation, p + "dw_act")(x)
    if b.se_channels:
        gate = _cbam if attention == "cbam" else _squeeze_excite
        x = gate(x, b.expanded, b.se_channels, activation, p)
    x = L.Conv2D(b.out_channels, 1, use_bias=False, name=p + "project")(x)
    x = batch_norm(p + "project_bn")(x)
    if b.residual:
        x = L.Add(name=p + "add")([shortcut, x])
    return x


def _squeeze_excite(x, channels: int, reduced: int, activation: str, prefix: str):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import activation as act

    L = keras().layers
    s = L.GlobalAveragePooling2D(keepdims=True, name=prefix + "se_pool")(x)
    s = L.Conv2D(reduced, 1, use_bias=False, name=prefix + "se_reduce")(s)
    s = act(activation, prefix + "se_act")(s)
    s = L.Conv2D(channels, 1, use_bias=False, name=prefix + "se_expand")(s)
    s = L.Activation("sigmoid", name=prefix + "se_gate")(s)
    return L.Multiply(name=prefix + "se_mul")([x, s])


def _cbam(x, channels: int, reduced: int, activation: str, prefix: str):
    """Channel attention (a shared MLP on the average- and max-pooled map, summed, sigmoid), then spatial
    attention (a 7×7 convolution on the channel mean and maximum, sigmoid)."""
    from tinyml_kit._tf import keras
    from tinyml_kit.nets.layers import ChannelPool
    from tinyml_kit.nets.layers import activation as act

    L = keras().layers
    p = prefix + "cbam_"
    reduce, expand = L.Conv2D(reduced, 1, use_bias=False, name=p + "reduce"), L.Conv2D(channels, 1, use_bias=False,
                                                                                      name=p + "expand")
    pooled = [L.GlobalAveragePooling2D(keepdims=True, name=p + "avg")(x),
              L.GlobalMaxPooling2D(keepdims=True, name=p + "max")(x)]
    mlp = [expand(act(activation, p + f"act{i}")(reduce(s))) for i, s in enumerate(pooled)]
    gate = L.Activation("sigmoid", name=p + "channel_gate")(L.Add(name=p + "channel_sum")(mlp))
    x = L.Multiply(name=p + "channel_mul")([x, gate])
    s = L.Conv2D(1, CBAM_KERNEL, padding="same", use_bias=False, name=p + "spatial")(ChannelPool(name=p + "pool")(x))
    gate = L.Activation("sigmoid", name=p + "spatial_gate")(s)
    return L.Multiply(name=p + "spatial_mul")([x, gate])
