"""Parameters, MACs and the TFLite ops of a built Keras model, counted by walking its layers.

The MAC formula per layer kind is `solve.costs`'s, so a built model and a PhiNet plan are counted alike. Layers
are read duck-typed: nothing here imports TensorFlow.
"""

from dataclasses import asdict, dataclass, field

from tinyml_kit.solve.costs import conv_macs, depthwise_macs

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
    "GlobalMaxPooling2D": "REDUCE_MAX",
}
_MULTI_OPS = {"ChannelPool": ("MEAN", "REDUCE_MAX", "CONCATENATION")}   # custom layers converting to several ops
_FOLDED = {"InputLayer", "Rescaling", "BatchNormalization", "ReLU", "Dropout", "SpatialDropout2D"}
_ACTIVATION_OPS = {"sigmoid": "LOGISTIC", "softmax": "SOFTMAX", "tanh": "TANH", "relu": None, "relu6": None,
                   "linear": None, "gelu": "GELU"}


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


def output_shape(layer) -> tuple:
    """A Keras layer's (first) output shape, batch dimension included."""
    shape = layer.output_shape
    return tuple(shape[0] if isinstance(shape, list) else shape)


def model_costs(model) -> Costs:
    """Costs of a built tf_keras model. SE and CBAM layers are recognised by name (`se_`, `cbam_`) and their
    MACs, including the gating multiplies, are reported under 'se' and 'attention'. A layer applied twice (CBAM's
    shared MLP, on 1×1 maps) is counted once."""
    macs = {"conv": 0, "depthwise": 0, "dense": 0, "se": 0, "attention": 0, "elementwise": 0}
    ops: list[str] = []
    op_count = channels = 0
    for layer in model.layers:
        kind = type(layer).__name__
        out_shape = output_shape(layer)
        bucket = "se" if "se_" in layer.name else "attention" if "cbam_" in layer.name else None
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
        if kind in _MULTI_OPS:
            op_count += len(_MULTI_OPS[kind]) - 1
            ops.extend(o for o in _MULTI_OPS[kind][:-1] if o not in ops)
            op = _MULTI_OPS[kind][-1]
        elif kind == "Activation":
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
