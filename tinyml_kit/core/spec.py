"""What a model is, as plain data: the PhiNet block plan and the names the converter will see.

Everything here is arithmetic on the scaling factors, without TensorFlow, so the solver can cost thousands of
configurations and the Keras builder (`nets.phinet`) only turns a plan into layers.
"""

from dataclasses import dataclass

from tinyml_kit.core.errors import UserError

ATTENTIONS = ("se", "cbam", "none")             # PhiNet's attention after the depthwise stage
ACTIVATIONS = ("hswish", "relu6", "relu", "gelu")
# knobs that are names, not numbers; the laws and estimates know PhiNet with these defaults only
STYLE_DEFAULTS = {"attention": "se", "activation": "hswish"}
AUTO = "auto"                    # `fit --arch auto`: every family the solver ranks, by its accuracy law
# The smallest input accepted: the digits' own 8x8 is the smallest data this tool is tested on; smaller images hold
# too little to classify, and every builder's first stride-2 layers shrink them to a pixel or two.
MIN_INPUT_SIDE = 8


def require_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise UserError(f"unknown {option} '{value}': choose one of {', '.join(choices)}", option)


def require_input_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) with 1 or 3 channels and sides of at least MIN_INPUT_SIDE."""
    if len(shape) != 3:
        raise UserError(f"input shape {tuple(shape)} is not (height, width, channels): give three numbers, "
                        f"e.g. 32x32x3", "input_shape")
    h, w, c = (int(d) for d in shape)
    if min(h, w) < MIN_INPUT_SIDE:
        raise UserError(f"input {h}x{w}x{c} is smaller than {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE}: choose an input of "
                        f"at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE} (images are resized to it)", "input_shape")
    if c not in (1, 3):
        raise UserError(f"input {h}x{w}x{c} has {c} channels: choose 1 (grayscale) or 3 (RGB)", "input_shape")
    return h, w, c


def describe(family: str, knobs: dict) -> str:
    """`phinet(alpha=0.95, beta=1.35, ...)`, as logs and reports name a configuration."""
    def value(v) -> str:
        if isinstance(v, str):
            return v
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else f"{v:g}"

    return family + ("(" + ", ".join(f"{k}={value(v)}" for k, v in knobs.items()) + ")" if knobs else "")


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet channel rounding: nearest multiple of `divisor`, never more than 10 % below `v`."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


RESNET_BASE_FILTERS = (16, 32, 64)   # MLPerf Tiny's ResNet-8


def resnet_filters(width: float) -> tuple[int, ...]:
    """Filters of a ResNet's three stages: ResNet-8's scaled by `width`, rounded to a multiple of 4 (CMSIS-NN's
    SIMD grouping)."""
    return tuple(make_divisible(f * width, 4) for f in RESNET_BASE_FILTERS)


def tinynet_filters(width: float, depth: int) -> tuple[int, ...]:
    """Filters of TinyNet's blocks: 32·2^i scaled by `width`, at least 8."""
    return tuple(max(8, int(round(32 * 2**i * width))) for i in range(int(depth)))


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
    stem_stride: int = 2   # micromind's first_conv_stride: 1 keeps a small input's full resolution in block 0

    @property
    def features(self) -> int:
        return self.blocks[-1].out_channels


PHINET_DOWNSAMPLING = (5, 7)   # micromind's default blocks past block 3 that halve the resolution


def phinet_blocks(alpha: float, beta: float, t0: float, depth: int, divisor: int = 1,
                  squeeze_excite: bool = True, downsampling_layers: tuple[int, ...] = PHINET_DOWNSAMPLING,
                  conv5_percent: float = 0.0, residuals: bool = True, first_conv_stride: int = 2) -> PhiNetPlan:
    """The block list micromind builds for these scaling factors (no pooling)."""
    depth = int(round(depth))
    if first_conv_stride not in (1, 2):
        raise UserError(f"first convolution stride {first_conv_stride}: use 1 or 2", "first_conv_stride")

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
    return PhiNetPlan(stem, tuple(blocks), first_conv_stride)


def phinet_name(alpha: float, beta: float, t0: float, depth: int) -> str:
    """The Keras model name `nets.phinet` gives; it prefixes every tensor name in the .tflite."""
    return f"phinet_a{alpha:g}_b{beta:g}_t{t0:g}_n{int(round(depth))}"
