"""PhiNet (Paissan et al., ACM TECS 2022), faithful to micromind's `networks/phinet.py`.

The structure is computed once as plain data (`phinet_blocks`), so costs can be counted without TensorFlow
and the Keras builder only turns that data into layers.
"""

from dataclasses import dataclass


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet channel rounding: nearest multiple of `divisor`, never more than 10 % below `v`."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def expansion_factor(t0: float, beta: float, block_id: int, depth: int) -> float:
    """Linear from t0 at block 0 to beta * t0 at block `depth`."""
    return (t0 * beta) * block_id / depth + t0 * (depth - block_id) / depth


@dataclass(frozen=True)
class PhiNetBlock:
    block_id: int       # 0 is the block after the stem: no expansion conv, no SE
    in_channels: int
    expanded: int       # depthwise channels
    out_channels: int
    stride: int
    kernel: int
    se_channels: int    # 0 means no squeeze-excitation
    residual: bool


@dataclass(frozen=True)
class PhiNetPlan:
    stem_channels: int
    blocks: tuple[PhiNetBlock, ...]

    @property
    def features(self) -> int:
        return self.blocks[-1].out_channels


def phinet_blocks(alpha: float, beta: float, t0: float, depth: int, divisor: int = 1,
                  squeeze_excite: bool = True, downsampling_layers: tuple[int, ...] = (5, 7),
                  conv5_percent: float = 0.0, residuals: bool = True) -> PhiNetPlan:
    """The block list micromind builds for these scaling factors (first_conv_stride 2, no pooling)."""
    depth = int(round(depth))

    def width(c: float) -> int:
        return make_divisible(int(c * alpha), divisor=divisor)

    def block(block_id, in_ch, out_ch, stride, expansion, se, kernel=3):
        expanded = make_divisible(int(expansion * in_ch), divisor=divisor) if block_id else in_ch
        se_ch = make_divisible(max(1, int(expanded / 6)), divisor=divisor) if se else 0
        return PhiNetBlock(block_id, in_ch, expanded, out_ch, stride, kernel, se_ch,
                           residuals and in_ch == out_ch and stride == 1)

    stem = width(48)
    b1 = width(24)
    blocks = [block(0, stem, b1, 1, 1, False)]
    blocks.append(block(1, b1, b1, 2, expansion_factor(t0, beta, 1, depth), squeeze_excite))
    blocks.append(block(2, b1, b1, 1, expansion_factor(t0, beta, 2, depth), squeeze_excite))
    blocks.append(block(3, b1, width(48), 2, expansion_factor(t0, beta, 3, depth), squeeze_excite))
    filters = 48
    in_ch = width(48)
    for block_id in range(4, depth + 1):
        down = block_id in downsampling_layers
        if down:
            filters *= 2
        kernel = 5 if block_id / depth > 1 - conv5_percent else 3
        blocks.append(block(block_id, in_ch, width(filters), 2 if down else 1,
                            expansion_factor(t0, beta, block_id, depth), squeeze_excite, kernel))
        in_ch = width(filters)
    return PhiNetPlan(stem, tuple(blocks))


def phinet(alpha: float = 0.25, beta: float = 1.0, t0: float = 6, depth: int = 7,
           input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10, divisor: int = 1,
           squeeze_excite: bool = True, activation: str = "hswish",
           downsampling_layers: tuple[int, ...] = (5, 7), conv5_percent: float = 0.0,
           compatibility: bool = False, include_top: bool = True, dropout: float = 0.05):
    """Build a PhiNet as a tf_keras Model taking raw pixels (0..255).

    `compatibility` swaps hard-swish for ReLU6 and drops squeeze-excitation, as micromind does, for runtimes
    without HARD_SWISH or broadcast MUL.
    """
    from .._tf import keras
    from .layers import activation as act, batch_norm, classifier_head, pixel_input

    L = keras().layers
    if compatibility:
        activation, squeeze_excite = "relu6", False
    plan = phinet_blocks(alpha, beta, t0, depth, divisor, squeeze_excite, tuple(downsampling_layers),
                         conv5_percent)

    inputs, x = pixel_input(input_shape)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="stem_dw")(x)
    x = L.Conv2D(plan.stem_channels, 1, use_bias=False, name="stem_pw")(x)
    x = batch_norm("stem_bn")(x)
    x = act(activation, "stem_act")(x)
    for b in plan.blocks:
        x = _inverted_residual(x, b, activation, dropout)
    if include_top:
        x = classifier_head(x, classes)
    name = f"phinet_a{alpha:g}_b{beta:g}_t{t0:g}_n{depth}"
    return keras().Model(inputs, x, name=name)


def _inverted_residual(x, b: PhiNetBlock, activation: str, dropout: float):
    from .._tf import keras
    from .layers import activation as act, batch_norm

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
        x = _squeeze_excite(x, b.expanded, b.se_channels, activation, p)
    x = L.Conv2D(b.out_channels, 1, use_bias=False, name=p + "project")(x)
    x = batch_norm(p + "project_bn")(x)
    if b.residual:
        x = L.Add(name=p + "add")([shortcut, x])
    return x


def _squeeze_excite(x, channels: int, reduced: int, activation: str, prefix: str):
    from .._tf import keras
    from .layers import activation as act

    L = keras().layers
    s = L.GlobalAveragePooling2D(keepdims=True, name=prefix + "se_pool")(x)
    s = L.Conv2D(reduced, 1, use_bias=False, name=prefix + "se_reduce")(s)
    s = act(activation, prefix + "se_act")(s)
    s = L.Conv2D(channels, 1, use_bias=False, name=prefix + "se_expand")(s)
    s = L.Activation("sigmoid", name=prefix + "se_gate")(s)
    return L.Multiply(name=prefix + "se_mul")([x, s])
