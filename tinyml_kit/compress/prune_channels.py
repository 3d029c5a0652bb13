"""Structured pruning: remove whole channels, so the int8 file, the MACs and the TFLM arena really shrink.

Channels that must stay equal in number are traced through the graph as one group (a convolution's filters,
the batch-norm and depthwise layers after it, both sides of a residual `Add` or of the squeeze-excitation
`Multiply`). A `Concatenate` on channels and a `Flatten` of a feature map make a derived group laid out from
their inputs' channels (side by side; at every pixel), so the layers reading them lose the matching inputs: a
user's CNN with a concatenation and a flatten-dense head is pruned up to its classifier.
Each group keeps its most important channels, ranked by batch-norm |gamma| (the network-slimming
criterion) or by the L1 norm of the filters producing them. The pruned model is rebuilt from the Keras config
with fewer filters and the kept slices of every weight, so it is an ordinary dense model: nothing to strip,
nothing the converter or the firmware needs to know about. Groups touching the model's input or output, and
layers this module does not understand, are left whole. A Sequential model is pruned as the functional model of
the same layers.
"""

from dataclasses import dataclass, field

import numpy as np

from tinyml_kit.compress.options import require_fraction
from tinyml_kit.core.errors import UserError

# Layers whose output channels are their input channels, one for one, without weights.
_PASSTHROUGH = {"ReLU", "Activation", "HardSwish", "Dropout", "SpatialDropout2D", "GlobalAveragePooling2D",
                "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Rescaling", "Add", "Multiply", "Maximum",
                "Minimum", "Subtract", "Average", "LeakyReLU"}


@dataclass
class ChannelGroup:
    channels: int
    producers: list[str] = field(default_factory=list)       # layers whose filters make these channels
    batch_norms: list[str] = field(default_factory=list)
    frozen_by: str | None = None                             # why the group cannot be pruned

    @property
    def prunable(self) -> bool:
        return self.frozen_by is None and bool(self.producers)


@dataclass
class PruneResult:
    model: object
    ratio: float                   # asked fraction of channels to remove from each prunable group
    criterion: str
    channels_before: int           # over prunable groups
    channels_after: int
    groups: list[dict]             # per group: producers, before, after

    @property
    def removed_fraction(self) -> float:
        return 1 - self.channels_after / self.channels_before if self.channels_before else 0.0

    def summary(self) -> dict:
        return {"method": "structured", "ratio": self.ratio, "criterion": self.criterion,
                "channels_before": self.channels_before, "channels_after": self.channels_after,
                "channels_removed_fraction": round(self.removed_fraction, 4), "groups": self.groups}


@dataclass(frozen=True)
class Derived:
    """A group laid out from other groups' channels: `sources` side by side (a concatenation), that whole run
    `repeat` times (a flatten of a feature map with `repeat` pixels, channels last). It is pruned only through its
    sources, and freezing it freezes them."""
    sources: tuple[int, ...]
    repeat: int = 1


class _Groups:
    """Union-find over channel groups, tracking what each root produces and why it may be frozen."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.info: list[ChannelGroup] = []
        self.derived: dict[int, Derived] = {}

    def new(self, channels: int, frozen_by: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.info.append(ChannelGroup(channels, frozen_by=frozen_by))
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        ia, ib = self.info[a], self.info[b]
        if ia.channels != ib.channels or a in self.derived or b in self.derived:
            # e.g. a broadcast of one channel, or an `Add` of a concatenation: neither side can be pruned alone
            self.freeze(a, "combined with channels laid out differently")
            self.freeze(b, "combined with channels laid out differently")
            return a
        self.parent[b] = a
        ia.producers += ib.producers
        ia.batch_norms += ib.batch_norms
        ia.frozen_by = ia.frozen_by or ib.frozen_by
        return a

    def derive(self, channels: int, how: Derived, made_by: str) -> int:
        g = self.new(channels, made_by)
        self.derived[g] = how
        return g

    def freeze(self, g: int, reason: str) -> None:
        root = self.find(g)
        self.info[root].frozen_by = self.info[root].frozen_by or reason
        for source in self.derived.get(root, Derived(())).sources:
            self.freeze(source, reason)

    def kept(self, g: int, keep: dict[int, np.ndarray]) -> np.ndarray | None:
        """The channel indices group `g` keeps (None: all), a derived group's laid out from its sources'."""
        root = self.find(g)
        how = self.derived.get(root)
        if how is None:
            return keep.get(root)
        parts = [self.kept(s, keep) for s in how.sources]
        if all(p is None for p in parts):
            return None
        offset, runs = 0, []
        for s, p in zip(how.sources, parts, strict=True):
            channels = self.get(s).channels
            runs.append(offset + (np.arange(channels) if p is None else p))
            offset += channels
        run = np.concatenate(runs)
        return np.concatenate([pixel * offset + run for pixel in range(how.repeat)])

    def get(self, g: int) -> ChannelGroup:
        return self.info[self.find(g)]


def _inbound(layer) -> list:
    nodes = layer.inbound_nodes
    if len(nodes) > 1:
        raise UserError(f"layer '{layer.name}' is used more than once: structured pruning needs a plain "
                        f"functional model (no shared layers)")
    inbound = nodes[0].inbound_layers if nodes else []
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def trace_groups(model) -> tuple[_Groups, dict[str, int], dict[str, list[int]]]:
    """Channel group of every layer's output, and of every layer's inputs."""
    model = functional(model)
    groups = _Groups()
    out_group: dict[str, int] = {}
    in_groups: dict[str, list[int]] = {}
    for layer in model.layers:
        kind = type(layer).__name__
        ins = [out_group[i.name] for i in _inbound(layer)]
        in_groups[layer.name] = ins
        out_group[layer.name] = _output_group(groups, layer, kind, ins)
    for name in model.output_names:
        groups.freeze(out_group[name], "model output")
    return groups, out_group, in_groups


def _output_group(groups: _Groups, layer, kind: str, ins: list[int]) -> int:
    """The group of `layer`'s output channels, from its inputs' groups."""
    channels = _channels(layer.output_shape)
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    if kind == "InputLayer":
        return groups.new(channels, "model input")
    if kind in ("Conv2D", "Dense") and getattr(layer, "groups", 1) == 1:
        g = groups.new(channels)
        groups.info[g].producers.append(layer.name)
        return g
    if kind == "DepthwiseConv2D" and layer.depth_multiplier == 1:
        return ins[0]
    if kind == "BatchNormalization" and list(np.atleast_1d(layer.axis)) in ([-1], [len(layer.input_shape) - 1]):
        groups.get(ins[0]).batch_norms.append(layer.name)
        return ins[0]
    spatial = layer.input_shape[1:-1] if kind == "Flatten" else ()
    pixels = int(np.prod(spatial)) if None not in spatial else 0
    if kind in _PASSTHROUGH or (kind == "Flatten" and pixels == 1):
        g = ins[0]
        for other in ins[1:]:
            g = groups.union(g, other)
        return g
    if kind == "Flatten" and channels_last and pixels > 1:
        return groups.derive(channels, Derived((ins[0],), pixels), f"made by Flatten '{layer.name}'")
    if kind == "Concatenate" and layer.axis in (-1, len(layer.output_shape) - 1):
        return groups.derive(channels, Derived(tuple(ins)), f"made by Concatenate '{layer.name}'")
    for g in ins:
        groups.freeze(g, f"feeds {kind} layer '{layer.name}'")
    return groups.new(channels, f"made by {kind} layer '{layer.name}'")


def _channels(shape) -> int:
    """The last dimension of a layer's (single) output shape."""
    shape = shape[0] if isinstance(shape, list) else shape
    return int(shape[-1]) if shape and shape[-1] is not None else 0


def _scores(model, group: ChannelGroup, criterion: str) -> np.ndarray:
    """Importance of each channel: sum over the group's layers of a per-layer normalised score, so a layer with
    large weights overall does not outvote the others."""
    parts = []
    if criterion == "bn" and group.batch_norms:
        for name in group.batch_norms:
            layer = model.get_layer(name)
            gamma = np.abs(layer.gamma.numpy()) if layer.scale else np.ones(group.channels)
            parts.append(gamma / (gamma.mean() + 1e-12))
    else:
        for name in group.producers:
            kernel = model.get_layer(name).get_weights()[0]
            l1 = np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)
            parts.append(l1 / (l1.mean() + 1e-12))
    return np.sum(parts, axis=0)


def prune_channels(model, ratio: float, criterion: str = "bn", round_to: int = 1) -> PruneResult:
    """A copy of `model` with `ratio` of the channels of every prunable group removed (at least one kept)."""
    require_fraction(ratio)
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import layers  # noqa: F401  (custom layers for from_config)

    model = functional(model)
    groups, out_group, in_groups = trace_groups(model)
    keep: dict[int, np.ndarray] = {}
    report = []
    before = after = 0
    for root in sorted({groups.find(g) for g in out_group.values()}):
        group = groups.info[root]
        if not group.prunable:
            continue
        n = group.channels
        k = max(1, int(round(n * (1 - ratio))))
        k = min(n, max(round_to, int(round(k / round_to)) * round_to))
        order = np.argsort(-_scores(model, group, criterion), kind="stable")
        keep[root] = np.sort(order[:k])
        before, after = before + n, after + k
        report.append({"producers": group.producers, "channels": n, "kept": k})

    def kept(g: int) -> np.ndarray | None:
        return groups.kept(g, keep)

    config = model.get_config()
    for entry in config["layers"]:
        idx = kept(out_group[entry["config"]["name"]])
        if idx is not None and entry["class_name"] in ("Conv2D", "Dense"):
            entry["config"]["filters" if entry["class_name"] == "Conv2D" else "units"] = len(idx)
    pruned = keras().Model.from_config(config)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        out_idx = kept(out_group[layer.name])
        in_idx = kept(in_groups[layer.name][0]) if in_groups[layer.name] else None
        pruned.get_layer(layer.name).set_weights(_slice(type(layer).__name__, weights, in_idx, out_idx))
    return PruneResult(pruned, ratio, criterion, before, after, report)


def functional(model):
    """`model` as a functional model: a Sequential one as the functional model of its layers (which lists its
    input layer, so every layer's inputs can be traced)."""
    from tinyml_kit._tf import keras

    if isinstance(model, keras().Sequential):
        return keras().Model(model.inputs, model.outputs, name=model.name)
    return model


def _slice(kind: str, weights: list[np.ndarray], in_idx, out_idx) -> list[np.ndarray]:
    if kind in ("Conv2D", "Dense"):
        kernel = weights[0]
        if in_idx is not None:
            kernel = np.take(kernel, in_idx, axis=-2)
        if out_idx is not None:
            kernel = np.take(kernel, out_idx, axis=-1)
        rest = [w if out_idx is None else w[out_idx] for w in weights[1:]]
        return [kernel, *rest]
    if kind == "DepthwiseConv2D":
        if out_idx is None:
            return weights
        return [np.take(weights[0], out_idx, axis=2), *[w[out_idx] for w in weights[1:]]]
    if kind == "BatchNormalization":
        return weights if out_idx is None else [w[out_idx] for w in weights]
    return weights
