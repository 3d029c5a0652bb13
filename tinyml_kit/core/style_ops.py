"""The TFLite builtin ops each PhiNet attention and activation converts to: what an engine must run for a PhiNet
built with that style. The solver asks this table (it builds no model); `fit`'s pre-flight also reads the ops off
the built candidate (`nets.costs`), and a test holds the two together."""

STYLE_OPS: dict[str, dict[str, tuple[str, ...]]] = {
    "attention": {"se": ("MEAN", "MUL"), "cbam": ("MEAN", "REDUCE_MAX", "CONCATENATION", "MUL"), "none": ()},
    "activation": {"hswish": ("HARD_SWISH",), "relu6": (), "relu": (), "gelu": ("GELU",)},
}
