"""The int8 TFLite graph the converter makes of `build.tinynet(...)`, without TensorFlow: a stride-2 3×3
convolution, then stride-2 depthwise and pointwise convolutions (batch norm and ReLU fused into each), then the
shared classifier head. Checked against converted models in `tests/test_estimate.py`.
"""

from tinyml_kit.core.graph import Graph
from tinyml_kit.core.spec import tinynet_filters
from tinyml_kit.solve.converter_graph import ConvOps, GraphBuilder


def tinynet_graph(width: float, depth: int, input_shape: tuple[int, int, int], classes: int,
                  model_name: str = "tinynet") -> Graph:
    h, w, c = input_shape
    g = ConvOps(GraphBuilder(model_name), model_name, h, w, relu6=True)   # ReLU fused as ReLU6 is
    x = g.b.tensor("serving_default_pixels:0", (1, h, w, c))
    for i, f in enumerate(tinynet_filters(width, depth)):
        if i == 0:
            x = g.conv(x, "b0_conv", f, "b0_bn", "b0_act", stride=2, kernel=3)
            continue
        x = g.conv(x, f"b{i}_dw", g.b.tensors[x].shape[-1], f"b{i}_dw_bn", f"b{i}_dw_act", stride=2, kernel=3,
                   depthwise=True)
        x = g.conv(x, f"b{i}_pw", f, f"b{i}_bn", f"b{i}_act")
    return g.head(x, classes)
