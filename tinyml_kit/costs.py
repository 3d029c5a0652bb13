"""Analytic costs: parameters, MACs and the TFLite ops a model converts to.

Two entry points over one MAC formula per layer kind: `model_costs` walks any built Keras model;
`phinet_plan_costs` counts a PhiNet from its block plan without TensorFlow, so a budget search can score
hundreds of configurations in milliseconds.
"""

from dataclasses import asdict, dataclass, field

from .builders.phinet import PhiNetPlan

# Keras layer class -> TFLite builtin it becomes after conversion (None: folded into a neighbour)
_LAYER_OPS = {
    "Conv2D": "CONV_2D",
    "DepthwiseConv2D": "DEPTHWISE_CONV_2D",
    "Dense": "FULLY_CONNECTED",
    "GlobalAveragePooling2D": "MEAN",
    "AveragePooling2D": "AVERAGE_POOL_2D",
    "MaxPooling2D": "MAX_POOL_2D",
    "Add": "ADD",
    "Multiply": "MUL",
    "HardSwish": "HARD_SWISH",
    "Softmax": "SOFTMAX",
    "Flatten": "RESHAPE",
    "Reshape": "RESHAPE",
    "ZeroPadding2D": "PAD",
    "Concatenate": "CONCATENATION",
}
_FOLDED = {"InputLayer", "Rescaling", "BatchNormalization", "ReLU", "Dropout", "SpatialDropout2D"}
_ACTIVATION_OPS = {"sigmoid": "LOGISTIC", "softmax": "SOFTMAX", "tanh": "TANH", "relu": None, "relu6": None,
                   "linear": None}


@dataclass
class Costs:
    params: int
    macs: int
    macs_by_kind: dict[str, int] = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    op_count: int = 0           # operators in the converted graph
    channels: int = 0           # conv/depthwise output channels: each carries an int32 bias and per-channel scales

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_flash_bytes(params: int, channels: int, op_count: int) -> int:
    """int8 flatbuffer size: weights, per-channel bias + scale + zero point, per-operator tensor metadata.
    Coefficients fitted by least squares on five measured PhiNets (27 KB–795 KB, residuals within 1.8 KB);
    used only to rank and prune candidates before they are measured."""
    return int(1.02 * params + 24.6 * channels + 409 * op_count + 1800)


def conv_macs(out_h: int, out_w: int, kernel: int, c_in: int, c_out: int) -> int:
    return out_h * out_w * kernel * kernel * c_in * c_out


def depthwise_macs(out_h: int, out_w: int, kernel: int, channels: int) -> int:
    return out_h * out_w * kernel * kernel * channels


def same_out(size: int, stride: int) -> int:
    return -(-size // stride)


def output_shape(layer) -> tuple:
    """A Keras layer's (first) output shape, batch dimension included."""
    shape = layer.output_shape
    return tuple(shape[0] if isinstance(shape, list) else shape)


def model_costs(model) -> Costs:
    """Costs of a built tf_keras model. SE layers are recognised by name (`se_`) and their MACs, including
    the gating multiply, are reported under 'se'."""
    macs = {"conv": 0, "depthwise": 0, "dense": 0, "se": 0, "elementwise": 0}
    ops: list[str] = []
    op_count = channels = 0
    for layer in model.layers:
        kind = type(layer).__name__
        out_shape = output_shape(layer)
        bucket = "se" if "se_" in layer.name else None
        if kind == "Conv2D":
            k = layer.kernel_size[0]
            c_in = layer.input_shape[-1]
            n = conv_macs(out_shape[1], out_shape[2], k, c_in, layer.filters)
            macs[bucket or "conv"] += n
            channels += layer.filters
        elif kind == "DepthwiseConv2D":
            n = depthwise_macs(out_shape[1], out_shape[2], layer.kernel_size[0],
                               layer.input_shape[-1] * layer.depth_multiplier)
            macs[bucket or "depthwise"] += n
            channels += layer.input_shape[-1] * layer.depth_multiplier
        elif kind == "Dense":
            macs["dense"] += layer.input_shape[-1] * layer.units
        elif kind == "Multiply":
            elements = 1
            for d in out_shape[1:]:
                elements *= d
            macs[bucket or "elementwise"] += elements
        if kind == "Activation":
            op = _ACTIVATION_OPS.get(layer.get_config()["activation"], "UNKNOWN")
        elif kind == "GlobalAveragePooling2D" and tuple(layer.input_shape[1:3]) == (1, 1):
            op = "RESHAPE"  # the converter turns a mean over 1x1 into a reshape
        elif kind in _FOLDED:
            op = None
        else:
            op = _LAYER_OPS.get(kind, f"UNSUPPORTED:{kind}")
        if op:
            op_count += 1
            if op not in ops:
                ops.append(op)
    params = int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))
    return Costs(params=params, macs=sum(macs.values()), macs_by_kind={k: v for k, v in macs.items() if v},
                 ops=ops, op_count=op_count, channels=channels)


@dataclass
class PlanCosts:
    params: int
    macs: int
    peak_activation_bytes: int   # int8 bytes of the largest set of tensors live at once (arena lower bound)
    op_count: int
    channels: int


def phinet_plan_costs(plan: PhiNetPlan, input_shape: tuple[int, int, int], classes: int) -> PlanCosts:
    """Parameters, MACs (same counting as `model_costs`) and int8 activation peak of a PhiNet plan."""
    h, w, c = input_shape
    params = 0
    macs = 0
    peak = 0

    def bn(ch: int) -> int:
        return 2 * ch

    # stem: depthwise 3x3 stride 2, pointwise, BN
    h, w = same_out(h, 2), same_out(w, 2)
    params += 9 * c + c * plan.stem_channels + bn(plan.stem_channels)
    macs += depthwise_macs(h, w, 3, c) + conv_macs(h, w, 1, c, plan.stem_channels)
    op_count, channels = 3, c + plan.stem_channels  # depthwise, pointwise, activation
    peak = max(peak, input_shape[0] * input_shape[1] * c + h * w * c, h * w * (c + plan.stem_channels))
    for b in plan.blocks:
        in_act = h * w * b.in_channels
        shortcut = in_act if b.residual else 0
        if b.block_id:
            params += b.in_channels * b.expanded + bn(b.expanded)
            macs += conv_macs(h, w, 1, b.in_channels, b.expanded)
            op_count, channels = op_count + 2, channels + b.expanded  # conv + activation
            peak = max(peak, in_act + h * w * b.expanded)
        oh, ow = same_out(h, b.stride), same_out(w, b.stride)
        params += b.kernel * b.kernel * b.expanded + bn(b.expanded)
        macs += depthwise_macs(oh, ow, b.kernel, b.expanded)
        op_count, channels = op_count + 2, channels + b.expanded
        peak = max(peak, shortcut + h * w * b.expanded + oh * ow * b.expanded)
        if b.se_channels:
            params += 2 * b.expanded * b.se_channels
            macs += 2 * b.expanded * b.se_channels + oh * ow * b.expanded
            op_count, channels = op_count + 6, channels + b.se_channels + b.expanded  # mean conv act conv sigm mul
            peak = max(peak, shortcut + 2 * oh * ow * b.expanded)
        params += b.expanded * b.out_channels + bn(b.out_channels)
        macs += conv_macs(oh, ow, 1, b.expanded, b.out_channels)
        op_count, channels = op_count + 1 + int(b.residual), channels + b.out_channels
        peak = max(peak, shortcut + oh * ow * (b.expanded + b.out_channels))
        h, w = oh, ow
    params += plan.features * classes + classes
    macs += plan.features * classes
    return PlanCosts(params=params, macs=macs, peak_activation_bytes=peak, op_count=op_count + 3,
                     channels=channels + classes)  # head: mean, conv, reshape


def activation_peak_bytes(model) -> int:
    """int8 bytes of the largest layer's inputs + output for a built model (a lower bound on the arena;
    tensors kept alive for residual adds are not counted)."""

    def size(shape) -> int:
        n = 1
        for d in shape[1:]:
            n *= d or 1
        return n

    peak = 0
    for layer in model.layers:
        ins = layer.input_shape if isinstance(layer.input_shape, list) else [layer.input_shape]
        outs = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        peak = max(peak, sum(size(s) for s in ins) + sum(size(s) for s in outs))
    return peak
