"""The int8 TFLite graph the converter makes of Keras layer groups, built without TensorFlow: the tensors (shapes,
constant payloads, quantization, the names the converter writes) and the operators after its fusions (batch norm
and ReLU / ReLU6 into convolutions, hard-swish into one op, a mean over 1×1 removed), laid out in the converter's
order. `phinet_graph` and `resnet_graph` assemble networks from these; rules were read off converted models
(TF 2.21) and are checked by `tests/test_estimate.py`.
"""

from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.solve.costs import same_out


class GraphBuilder:
    """Collects tensors in creation order, then lays them out the way the converter does: the input, the shape
    constants, each op's bias and weights from the last op back to the first, the activations in op order, and
    the output."""

    def __init__(self, model_name: str):
        self.m = model_name
        self.names: set[str] = set()
        self.tensors: list[Tensor] = []
        self.ops: list[tuple[str, list[int], list[int], int, int]] = []
        self.op_constants: list[list[int]] = []
        self.zero_biases: dict[int, list[int]] = {}   # length -> tensors of all-zero biases (stored once)
        self.arith = 0

    def unique(self, name: str) -> str:
        """MLIR makes a taken name unique by appending 1, 2, …"""
        if name not in self.names:
            self.names.add(name)
            return name
        i = 1
        while f"{name}{i}" in self.names:
            i += 1
        self.names.add(f"{name}{i}")
        return f"{name}{i}"

    def tensor(self, name: str, shape, **kw) -> int:
        self.tensors.append(Tensor(self.unique(name), tuple(shape), **kw))
        return len(self.tensors) - 1

    def arith_name(self) -> str:
        name = "arith.constant" + (str(self.arith) if self.arith else "")
        self.arith += 1
        return name

    def op(self, kind: str, inputs: list[int], outputs: list[int], constants: list[int], stride=1, kernel=1):
        self.ops.append((kind, inputs, outputs, stride, kernel))
        self.op_constants.append(constants)

    def zero_bias(self, channels: int) -> int:
        group = self.zero_biases.setdefault(channels, [])
        if group:
            base = self.tensors[group[0]].name
            t = self.tensor(base, (channels,), dtype="int32", quant_channels=channels, shares_buffer_of=base)
        else:
            t = self.tensor(self.arith_name(), (channels,), dtype="int32", data_bytes=4 * channels,
                            quant_channels=channels)
        group.append(t)
        return t

    def finish(self, input_t: int, shape_constants: list[int], output_t: int) -> Graph:
        grouped = {t: group for group in self.zero_biases.values() if len(group) > 1 for t in group}
        order = [input_t, *shape_constants]
        placed = set(order)
        for constants in reversed(self.op_constants):
            for t in constants:
                if t in placed:
                    continue
                members = grouped.get(t)
                if members and t != members[0]:
                    continue        # a shared constant sits, with its copies, where its first user is
                for member in members or [t]:
                    order.append(member)
                    placed.add(member)
        order += [i for i in range(len(self.tensors)) if i not in placed and i != output_t] + [output_t]
        index = {old: new for new, old in enumerate(order)}
        g = Graph(self.m, [self.tensors[i] for i in order], input=index[input_t], output=index[output_t])
        for kind, ins, outs, stride, kernel in self.ops:
            g.ops.append(Op(kind, tuple(index[i] for i in ins), tuple(index[i] for i in outs), stride, kernel))
        return g


class ConvOps:
    """The converter's ops for each Keras layer group, tracking the spatial size as the graph grows. `relu6`: the
    activation after a convolution is fused into it (ReLU6 or ReLU); otherwise it is a HARD_SWISH op."""

    def __init__(self, builder: GraphBuilder, model_name: str, h: int, w: int, relu6: bool):
        self.b, self.m, self.h, self.w, self.relu6 = builder, model_name, h, w, relu6
        self.mean_axes: int | None = None

    def act_tensor(self, t: int, act_name: str) -> int:
        if self.relu6:
            return t
        b, a = self.b, f"{self.m}/{act_name}"
        out = b.tensor(f"{a}/mul_1;;{a}/Relu6;{a}/add;{a}/mul", b.tensors[t].shape)
        b.op("HARD_SWISH", [t], [out], [])
        return out

    def conv(self, x: int, layer: str, c_out: int, bn: str | None, act_name: str | None, stride=1, kernel=1,
             depthwise=False, bias_name: str | None = None) -> int:
        """Conv (+ folded BN, + fused ReLU6) and, for hard-swish, its activation op."""
        b, m = self.b, self.m
        c_in = b.tensors[x].shape[-1]
        kind = "depthwise" if depthwise else "Conv2D"
        fused = f"{m}/{act_name}/Relu6;" if self.relu6 and act_name else ""
        if bias_name is None:
            bias_name = f"{fused}{m}/{bn}/FusedBatchNormV3;{m}/{layer}/{kind}" if bn else f"{m}/{layer}/{kind}"
        bias = b.tensor(bias_name, (c_out,), dtype="int32", data_bytes=4 * c_out, quant_channels=c_out)
        if depthwise:
            weight_name = f"{m}/{bn}/FusedBatchNormV3;{m}/{layer}/depthwise" if bn else f"{m}/{layer}/depthwise"
            weights = b.tensor(weight_name, (1, kernel, kernel, c_out), data_bytes=kernel * kernel * c_out,
                               quant_channels=c_out, quant_dim=3)
        else:
            weights = b.tensor(f"{m}/{layer}/Conv2D", (c_out, kernel, kernel, c_in),
                               data_bytes=c_out * kernel * kernel * c_in, quant_channels=c_out)
        self.h, self.w = same_out(self.h, stride), same_out(self.w, stride)
        out = b.tensor(bias_name, (1, self.h, self.w, c_out))
        b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, weights, bias], [out], [bias, weights],
             stride, kernel)
        return self.act_tensor(out, act_name) if act_name else out

    def mean(self, x: int, layer: str) -> int:
        b = self.b
        if self.mean_axes is None:
            self.mean_axes = b.tensor(b.arith_name(), (2,), dtype="int32", data_bytes=8, quant_channels=0)
        out = b.tensor(f"{self.m}/{layer}/Mean", (1, 1, 1, b.tensors[x].shape[-1]))
        b.op("MEAN", [x, self.mean_axes], [out], [])
        return out

    def head(self, x: int, classes: int) -> Graph:
        b, m = self.b, self.m
        if (self.h, self.w) != (1, 1):
            only_mean = self.mean_axes is None
            x = self.mean(x, "pool")
            self.h = self.w = 1
            if self.mean_axes is not None and only_mean:  # a constant with a single user keeps that user's name
                b.tensors[self.mean_axes].name = f"{m}/pool/Mean/reduction_indices"
        x = self.conv(x, "logits", classes, None, None,
                      bias_name=f"{m}/logits/BiasAdd;{m}/logits/Conv2D;{m}/logits/BiasAdd/ReadVariableOp")
        reshape_shape = b.tensor(b.arith_name(), (2,), dtype="int32", data_bytes=8, quant_channels=0)
        out = b.tensor("StatefulPartitionedCall:0", (1, classes))
        b.op("RESHAPE", [x, reshape_shape], [out], [])
        return b.finish(0, [t for t in (self.mean_axes, reshape_shape) if t is not None], out)
