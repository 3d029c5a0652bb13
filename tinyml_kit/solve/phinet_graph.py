"""The int8 TFLite graph the converter makes of a PhiNet, computed from its plan without TensorFlow.

This is what the size and arena estimators read: the operators after the converter's fusions (batch norm and
ReLU6 into convolutions, hard-swish into one op, a mean over 1×1 removed), every tensor with its shape, its
constant payload and its quantization, and the tensor names the converter writes (they are a large share of a
small model's file). Rules were read off converted models (TF 2.21) and are checked by
`tests/test_estimate.py` and `bench/estimator_accuracy.py`.
"""

from tinyml_kit.core.graph import Graph
from tinyml_kit.core.spec import PhiNetPlan
from tinyml_kit.solve.converter_graph import ConvOps, GraphBuilder


def phinet_graph(plan: PhiNetPlan, input_shape: tuple[int, int, int], classes: int, model_name: str,
                 activation: str = "hswish") -> Graph:
    """The converted graph of `nets.phinet(...)` with this plan (see nets/phinet.py for the layer names)."""
    h, w, c = input_shape
    g = _PhiNetOps(GraphBuilder(model_name), model_name, h, w, relu6=activation == "relu6")
    x = g.b.tensor("serving_default_pixels:0", (1, h, w, c))
    x = g.conv(x, "stem_dw", c, None, None, stride=plan.stem_stride, kernel=3, depthwise=True)
    x = g.conv(x, "stem_pw", plan.stem_channels, "stem_bn", "stem_act")
    for blk in plan.blocks:
        x = g.block(x, blk)
    return g.head(x, classes)


class _PhiNetOps(ConvOps):
    """PhiNet's blocks: expansion, depthwise, squeeze-excitation, projection and the residual add."""

    def se_conv(self, x: int, layer: str, c_out: int) -> int:
        b, m = self.b, self.m
        c_in = b.tensors[x].shape[-1]
        weights = b.tensor(f"{m}/{layer}/Conv2D", (c_out, 1, 1, c_in), data_bytes=c_out * c_in, quant_channels=c_out)
        bias = b.zero_bias(c_out)
        out = b.tensor(f"{m}/{layer}/Conv2D", (1, 1, 1, c_out))
        b.op("CONV_2D", [x, weights, bias], [out], [bias, weights])
        return out

    def block(self, x: int, blk) -> int:
        b, m, p = self.b, self.m, f"b{blk.block_id}_"
        shortcut = x
        if blk.block_id:
            x = self.conv(x, p + "expand", blk.expanded, p + "expand_bn", p + "expand_act")
        x = self.conv(x, p + "dw", blk.expanded, p + "dw_bn", p + "dw_act", blk.stride, blk.kernel, depthwise=True)
        if blk.se_channels:
            x = self.squeeze_excite(x, blk, p)
        x = self.conv(x, p + "project", blk.out_channels, p + "project_bn", None)
        if blk.residual:
            out = b.tensor(f"{m}/{p}add/add", (1, self.h, self.w, blk.out_channels))
            b.op("ADD", [shortcut, x], [out], [])
            x = out
        return x

    def squeeze_excite(self, x: int, blk, p: str) -> int:
        b, m = self.b, self.m
        s = self.mean(x, p + "se_pool") if (self.h, self.w) != (1, 1) else x
        s = self.se_conv(s, p + "se_reduce", blk.se_channels)
        s = self.act_tensor(s, p + "se_act") if not self.relu6 else s
        s = self.se_conv(s, p + "se_expand", blk.expanded)
        gate = b.tensor(f"{m}/{p}se_gate/Sigmoid", (1, 1, 1, blk.expanded))
        b.op("LOGISTIC", [s], [gate], [])
        out = b.tensor(f"{m}/{p}se_mul/mul", (1, self.h, self.w, blk.expanded))
        b.op("MUL", [x, gate], [out], [])
        return out
