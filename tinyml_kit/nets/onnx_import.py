"""An ONNX CNN (read and checked by `nets.onnx_graph`) rebuilt as a tf_keras model taking NHWC images, with the
ONNX weights, so the project's quantization, compression and checks take it like any Keras model.

Layout: every 4-D tensor is kept NHWC where ONNX has NCHW, so channel axis 1 becomes -1, convolution weights go
OIHW -> HWIO (depthwise: HW, in, multiplier) and per-channel constants (N, C, 1, 1) become (C,). The trap is
flattening: ONNX flattens (C, H, W) in that order, Keras flattens (H, W, C). A Flatten (or a Reshape to (N, -1))
read only by Gemm / MatMul keeps the NHWC order and the dense weights' rows are permuted to match; any other
reader gets a Permute to NCHW before the Flatten, as ONNX computes it.

Padding: pads that equal TensorFlow's "same" become "same"; others an explicit ZeroPadding2D, which is exact for
convolutions, for average pools counting the padding, and for max pools over non-negative inputs (after a ReLU);
anything else is refused by name."""

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml_kit._tf import keras
from tinyml_kit.core.errors import UserError
from tinyml_kit.nets.layers import HardSwish
from tinyml_kit.nets.onnx_graph import OnnxGraph, attributes, clip_max, pads_of

NONNEGATIVE_OPS = ("Relu", "Clip", "Sigmoid", "Softmax")    # outputs >= 0 (Clip: only a floor of 0 is mapped)
PASS_THROUGH = ("Identity", "Dropout", "Constant")


@dataclass
class _Value:
    """A tensor of the Keras graph: 4-D NHWC, or 2-D with `order` (keras position -> ONNX position) if flattened
    from NHWC and not yet permuted; `nonnegative` if every value is >= 0 (zero padding is then a max pool's)."""
    tensor: Any
    order: np.ndarray | None = None
    nonnegative: bool = False

    @property
    def rank(self) -> int:
        return len(self.tensor.shape)


def to_keras(graph: OnnxGraph, shape: tuple[int, int, int], rescale: bool = False):
    """The tf_keras model computing what `graph` computes, on NHWC images of `shape` (H, W, C); with a
    Rescaling(1/255) first if `rescale` (the ONNX model takes pixels scaled to [0, 1])."""
    return _Builder(graph).build(shape, rescale)


class _Builder:
    def __init__(self, graph: OnnxGraph):
        self.g, self.k = graph, keras()
        self.values: dict[str, _Value] = {}
        self.dense: dict[str, tuple] = {}          # Dense output -> (layer, kernel, bias) for a bias Add to fold
        self.names: set[str] = {"pixels", "pixels_to_unit"}

    def build(self, shape: tuple[int, int, int], rescale: bool):
        k = self.k
        inputs = k.Input(shape, name="pixels")
        x = k.layers.Rescaling(1.0 / 255.0, name="pixels_to_unit")(inputs) if rescale else inputs
        self.values[self.g.input_name] = _Value(x)
        for node in self.g.nodes:
            if node.op_type == "Constant":
                continue
            if node.op_type in PASS_THROUGH:
                self.values[node.output[0]] = self.values[node.input[0]]
                continue
            value = getattr(self, f"_{node.op_type.lower()}")(node, attributes(node))
            value.nonnegative = value.nonnegative or node.op_type in NONNEGATIVE_OPS
            self.values[node.output[0]] = value
        out = self.values[self.g.output_name]
        if out.rank != 2:
            raise UserError(f"{self.g.name} gives a {out.rank}-D output: deploy takes one class vector out", "model")
        return k.Model(inputs, self._ordered(out, None).tensor, name=re.sub(r"\W", "_", self.g.path.stem))

    # --- helpers -------------------------------------------------------------------------------------------------
    def _name(self, node) -> str:
        """A Keras layer name from the node's (`/features/0/Conv` -> `features_0_Conv`), unique in the model."""
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_.-") or node.op_type.lower()
        name, n = base, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    def _layer(self, layer, x, weights: list | None = None) -> _Value:
        y = layer(x.tensor if isinstance(x, _Value) else x)
        if weights is not None:
            layer.set_weights([np.asarray(w, np.float32) for w in weights])
        return _Value(y)

    def _in(self, node, i: int = 0) -> _Value:
        return self.values[node.input[i]]

    def _refuse(self, node, what: str):
        raise UserError(f"{self.g.name}: {node.op_type} (node '{node.name}') {what}", "model")

    def _ordered(self, v: _Value, node) -> _Value:
        """`v` in ONNX's element order: a flattened NHWC map not yet permuted is refused here (the Flatten
        permutes when a reader needs ONNX's order, so only an unforeseen path gets here)."""
        if v.order is not None and not np.array_equal(v.order, np.arange(len(v.order))):
            where = f"{node.op_type} (node '{node.name}')" if node is not None else "the output"
            raise UserError(f"{self.g.name}: {where} reads a flattened feature map in another order", "model")
        return v

    def _padding(self, node, a: dict, x: _Value, kernel, strides, dilations, explicit_ok: bool, same_ok=True):
        """(input, Keras padding): "valid", "same" where the pads equal TensorFlow's, else explicit zeros if
        `explicit_ok`; anything else refused."""
        h, w = x.tensor.shape[1], x.tensor.shape[2]
        auto = a.get("auto_pad", "NOTSET")
        same = _same_pads((h, w), kernel, strides, dilations)
        pads = (same if auto == "SAME_UPPER" else [0, 0, 0, 0] if auto == "VALID" else
                same[2:] + same[:2] if auto == "SAME_LOWER" else list(a.get("pads", [0, 0, 0, 0])))
        if not any(pads):
            return x, "valid"
        if same_ok and pads == same:
            return x, "same"
        if not explicit_ok:
            self._refuse(node, f"pads {pads} other than TensorFlow's 'same' {same} over a signed input")
        top, left, bottom, right = pads
        padded = self.k.layers.ZeroPadding2D(((top, bottom), (left, right)), name=self._name(node) + "_pad")
        return _Value(padded(x.tensor), nonnegative=x.nonnegative), "valid"

    def _per_channel(self, node, const: np.ndarray, channels: int) -> np.ndarray:
        """An NCHW constant broadcast over (1, C, 1, 1) as a vector of C."""
        try:
            return np.broadcast_to(const.reshape((1,) * (4 - const.ndim) + const.shape), (1, channels, 1, 1))[0, :,
                                                                                                           0, 0]
        except ValueError:
            self._refuse(node, f"has a constant of shape {list(const.shape)} that is not per channel")
            raise

    # --- ops -----------------------------------------------------------------------------------------------------
    def _conv(self, node, a) -> _Value:
        x, weight = self._in(node), self.g.constants[node.input[1]]
        bias = self.g.constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        out, _, kh, kw = weight.shape
        strides, dilations = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
        x, padding = self._padding(node, a, x, (kh, kw), strides, dilations, True)
        channels, L = x.tensor.shape[-1], self.k.layers
        common = {"strides": strides, "padding": padding, "dilation_rate": dilations, "use_bias": bias is not None,
                  "name": self._name(node)}
        if a.get("group", 1) == 1:
            layer, kernel = L.Conv2D(out, (kh, kw), **common), weight.transpose(2, 3, 1, 0)
        elif a["group"] == channels:
            multiplier = out // channels
            layer = L.DepthwiseConv2D((kh, kw), depth_multiplier=multiplier, **common)
            kernel = weight.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
        else:
            self._refuse(node, f"has {a['group']} groups over {channels} channels (only depthwise is imported)")
        return self._layer(layer, x, [kernel] + ([bias] if bias is not None else []))

    def _batchnormalization(self, node, a) -> _Value:
        scale, shift, mean, var = (self.g.constants[n] for n in node.input[1:5])
        layer = self.k.layers.BatchNormalization(epsilon=float(a.get("epsilon", 1e-5)), name=self._name(node))
        return self._layer(layer, self._in(node), [scale, shift, mean, var])

    def _relu(self, node, a) -> _Value:
        return self._layer(self.k.layers.ReLU(name=self._name(node)), self._in(node))

    def _leakyrelu(self, node, a) -> _Value:
        return self._layer(self.k.layers.LeakyReLU(float(a.get("alpha", 0.01)), name=self._name(node)), self._in(node))

    def _clip(self, node, a) -> _Value:
        return self._layer(self.k.layers.ReLU(clip_max(node, self.g), name=self._name(node)), self._in(node))

    def _sigmoid(self, node, a) -> _Value:
        return self._layer(self.k.layers.Activation("sigmoid", name=self._name(node)), self._in(node))

    def _hardswish(self, node, a) -> _Value:
        return self._layer(HardSwish(name=self._name(node)), self._in(node))

    def _softmax(self, node, a) -> _Value:
        x = self._ordered(self._in(node), node)
        if x.rank != 2 or a.get("axis", -1) not in (-1, 1):
            self._refuse(node, "is not over the class vector (a 2-D tensor's last axis)")
        return self._layer(self.k.layers.Softmax(name=self._name(node)), x)

    def _maxpool(self, node, a) -> _Value:
        return self._pool(node, a, self.k.layers.MaxPooling2D, explicit_ok=self._in(node).nonnegative)

    def _averagepool(self, node, a) -> _Value:
        counts_pads = bool(a.get("count_include_pad", 0))   # TensorFlow's "same" leaves the padding out
        return self._pool(node, a, self.k.layers.AveragePooling2D, explicit_ok=counts_pads, same_ok=not counts_pads)

    def _pool(self, node, a, kind, explicit_ok: bool, same_ok: bool = True) -> _Value:
        kernel = tuple(a["kernel_shape"])
        strides = tuple(a.get("strides", (1, 1)))
        x, padding = self._padding(node, a, self._in(node), kernel, strides, (1, 1), explicit_ok, same_ok)
        value = self._layer(kind(kernel, strides, padding, name=self._name(node)), x)
        value.nonnegative = x.nonnegative
        return value

    def _globalaveragepool(self, node, a) -> _Value:
        return self._layer(self.k.layers.GlobalAveragePooling2D(keepdims=True, name=self._name(node)), self._in(node))

    def _reducemean(self, node, a) -> _Value:
        """The mean over height and width (`onnx_graph` refuses other axes), as PyTorch exports `x.mean((2, 3))`."""
        keep = bool(a.get("keepdims", 1))
        return self._layer(self.k.layers.GlobalAveragePooling2D(keepdims=keep, name=self._name(node)), self._in(node))

    def _globalmaxpool(self, node, a) -> _Value:
        value = self._layer(self.k.layers.GlobalMaxPooling2D(keepdims=True, name=self._name(node)), self._in(node))
        value.nonnegative = self._in(node).nonnegative
        return value

    def _add(self, node, a) -> _Value:
        return self._binary(node, self.k.layers.Add)

    def _sub(self, node, a) -> _Value:
        return self._binary(node, self.k.layers.Subtract)

    def _mul(self, node, a) -> _Value:
        return self._binary(node, self.k.layers.Multiply)

    def _div(self, node, a) -> _Value:
        return self._binary(node, None)

    def _binary(self, node, merge) -> _Value:
        """Two tensors merged; a tensor and a constant (second for Sub and Div, as `onnx_graph` checks): a bias
        folded into the Dense before it, or a per-channel 1x1 depthwise convolution computing x * scale + shift
        (a mean / std normalization exported inside the model comes this way)."""
        const = next((n for n in node.input if n in self.g.constants), None)
        if const is None:
            left, right = (self._in(node, i) for i in (0, 1))
            if merge is None or left.rank != right.rank or (
                    left.rank == 2 and (left.order is None) != (right.order is None)):
                self._refuse(node, "of two tensors of these layouts is not imported")
            value = self._layer(merge(name=self._name(node)), [left.tensor, right.tensor])
            value.order = left.order
            return value
        x_name = next(n for n in node.input if n != const)
        x, c = self.values[x_name], self.g.constants[const]
        if node.op_type == "Add" and x_name in self.dense and len(self.g.consumers.get(x_name, [])) == 1:
            layer, kernel, bias = self.dense[x_name]
            layer.set_weights([kernel, bias + np.broadcast_to(c.ravel(), bias.shape)])
            return x
        if x.rank != 4:
            self._refuse(node, "with a constant on a 2-D tensor is imported only as a Gemm / MatMul bias")
        c = self._per_channel(node, c, x.tensor.shape[-1]).astype(np.float32)
        ones, zeros = np.ones_like(c), np.zeros_like(c)
        scale, shift = {"Add": (ones, c), "Sub": (ones, -c), "Mul": (c, zeros), "Div": (1 / c, zeros)}[node.op_type]
        layer = self.k.layers.DepthwiseConv2D(1, name=self._name(node))
        return self._layer(layer, x, [scale.reshape(1, 1, -1, 1), shift])

    def _concat(self, node, a) -> _Value:
        parts = [self._ordered(self.values[n], node) for n in node.input]
        rank, axis = parts[0].rank, a.get("axis", 1)
        if axis not in (1, 1 - rank):
            self._refuse(node, f"is along axis {axis}, not the channels")
        value = self._layer(self.k.layers.Concatenate(-1, name=self._name(node)), [p.tensor for p in parts])
        value.nonnegative = all(p.nonnegative for p in parts)
        return value

    def _flatten(self, node, a) -> _Value:
        if a.get("axis", 1) != 1:
            self._refuse(node, f"is at axis {a['axis']}, not 1")
        return self._flattened(node)

    def _reshape(self, node, a) -> _Value:
        x, target = self._in(node), self.g.constants.get(node.input[1])
        size = int(np.prod(x.tensor.shape[1:]))
        if target is None or len(target) != 2 or int(target[1]) not in (-1, size):
            self._refuse(node, f"to {None if target is None else list(target)}: only (N, -1) is imported")
        return self._flattened(node) if x.rank == 4 else x

    def _flattened(self, node) -> _Value:
        x = self._in(node)
        if x.rank != 4:
            return x
        _, h, w, c = x.tensor.shape
        order: np.ndarray | None = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
        readers = self._readers(node.output[0])
        tensor = x.tensor
        if h * w > 1 and not (readers and all(r.op_type in ("Gemm", "MatMul") for r in readers)):
            tensor, order = self.k.layers.Permute((3, 1, 2), name=self._name(node) + "_nchw")(tensor), None
        flat = self.k.layers.Flatten(name=self._name(node))(tensor)
        return _Value(flat, None if order is None or h * w == 1 else order, x.nonnegative)

    def _readers(self, name: str) -> list:
        """The nodes reading tensor `name`, through Identity and Dropout."""
        found = []
        for reader in self.g.consumers.get(name, []):
            found += self._readers(reader.output[0]) if reader.op_type in PASS_THROUGH else [reader]
        return found

    def _gemm(self, node, a) -> _Value:
        weight = self.g.constants[node.input[1]]
        kernel = (weight.T if a.get("transB", 0) else weight) * float(a.get("alpha", 1.0))
        bias: np.ndarray = np.zeros(kernel.shape[1], np.float32)
        if len(node.input) > 2 and node.input[2]:
            bias = bias + float(a.get("beta", 1.0)) * np.broadcast_to(self.g.constants[node.input[2]].ravel(),
                                                                      bias.shape)
        return self._dense(node, kernel, bias)

    def _matmul(self, node, a) -> _Value:
        kernel = self.g.constants[node.input[1]]
        return self._dense(node, kernel, np.zeros(kernel.shape[1], np.float32))

    def _dense(self, node, kernel: np.ndarray, bias: np.ndarray) -> _Value:
        x = self._in(node)
        if x.rank != 2:
            self._refuse(node, "is not over a flattened (2-D) tensor")
        if x.order is not None:
            kernel = kernel[x.order]
        layer = self.k.layers.Dense(kernel.shape[1], name=self._name(node))
        value = self._layer(layer, x, [kernel, bias])
        self.dense[node.output[0]] = (layer, kernel.astype(np.float32), bias.astype(np.float32))
        return value

    def _pad(self, node, a) -> _Value:
        pads = pads_of(node, self.g)
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            self._refuse(node, f"pads {pads}: only non-negative padding of height and width is imported")
        layer = self.k.layers.ZeroPadding2D(((pads[2], pads[6]), (pads[3], pads[7])), name=self._name(node))
        value = self._layer(layer, self._in(node))
        value.nonnegative = self._in(node).nonnegative
        return value


def _same_pads(size, kernel, strides, dilations) -> list[int]:
    """TensorFlow's "same" padding as ONNX pads [top, left, bottom, right] (the odd pixel at the end)."""
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end
