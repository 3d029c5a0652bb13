"""The int8 TFLite graph the converter makes of `nets.resnet(...)`, without TensorFlow: each residual block is two
3×3 convolutions (batch norm and ReLU fused), a strided 1×1 shortcut where the stage halves the resolution, and an
ADD with its ReLU fused; then the shared classifier head. Checked against converted models in
`tests/test_estimate.py`.
"""

from tinyml_kit.core.graph import Graph
from tinyml_kit.core.spec import resnet_filters
from tinyml_kit.solve.converter_graph import ConvOps, GraphBuilder


def resnet_graph(width: float, depth: int, input_shape: tuple[int, int, int], classes: int,
                 model_name: str = "resnet") -> Graph:
    h, w, c = input_shape
    g = ConvOps(GraphBuilder(model_name), model_name, h, w, relu6=True)   # ReLU fused as ReLU6 is
    x = g.b.tensor("serving_default_pixels:0", (1, h, w, c))
    filters = resnet_filters(width)
    x = g.conv(x, "conv1", filters[0], "bn", "relu", kernel=3)
    for i, f in enumerate(filters):
        for j in range(int(depth)):
            p, stride, size = f"s{i}_b{j}_", 2 if i > 0 and j == 0 else 1, (g.h, g.w)
            y = g.conv(x, p + "conv1", f, p + "bn1", p + "relu1", stride=stride, kernel=3)
            y = g.conv(y, p + "conv2", f, p + "bn2", None, kernel=3)
            if stride != 1:    # the shortcut reads the block's input: back to its size, then strided
                g.h, g.w = size
                x = g.conv(x, p + "shortcut", f, None, None, stride=stride)
            out = g.b.tensor(f"{model_name}/{p}add/add", (1, g.h, g.w, f))
            g.b.op("ADD", [x, y], [out], [])
            x = out
    return g.head(x, classes)
