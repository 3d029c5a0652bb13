"""An ONNX image classifier read before anything is built (`nets.onnx_import` builds it): the file checked, its
constants (initializers and Constant nodes) as numpy arrays, its NCHW input and class vector output, and every op
the importer cannot map named with its node in one message, so a model is refused before any long work.

The importer takes the CNN subset PyTorch exports (`SUPPORTED`). Conditions that make a supported op type
unmappable (a grouped convolution that is not depthwise, a Clip whose floor is not 0, a pool rounding up) are
named here too, from the node's attributes and constant inputs alone."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError, first_line

INSTALL = "pip install -e . (tinyml-kit depends on onnx and onnxruntime)"
SUPPORTED = ("Conv", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "Add", "Sub", "Mul", "Div", "Concat", "Flatten",
             "Reshape", "Gemm", "MatMul", "Softmax", "Sigmoid", "HardSwish", "Pad", "Identity", "Dropout", "Constant")
# Ops computing shapes, as PyTorch exports `x.view(x.size(0), -1)`: folded to constants before the graph is read
SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Slice", "ConstantOfShape")


@dataclass
class OnnxGraph:
    """The checked graph: nodes in the file's (topological) order, constants by tensor name, the input as
    (C, H, W) with None for an open size, and the classes."""
    path: Path
    nodes: list
    constants: dict[str, np.ndarray]
    input_name: str
    output_name: str
    input_chw: tuple
    classes: int
    consumers: dict[str, list] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)


def onnx_module():
    """The `onnx` package, or one line saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise UserError(f"reading an .onnx model needs the onnx package: {INSTALL}", "model") from None
    return onnx


def attributes(node) -> dict:
    """A node's attributes as Python values (ints, floats, strings, lists, tensors as arrays)."""
    from onnx import helper, numpy_helper

    found = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif hasattr(value, "dims"):
            value = numpy_helper.to_array(value)
        found[a.name] = list(value) if isinstance(value, list | tuple) else value
    return found


def read_graph(path: str | Path) -> OnnxGraph:
    """The model at `path`, checked by onnx's checker (which also requires topological order), with one image
    input (N, C, H, W) and one (N, classes) output, and no op the importer cannot map."""
    onnx = onnx_module()
    from onnx import numpy_helper

    path = Path(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        if any(node.op_type in SHAPE_OPS for node in model.graph.node):
            model = _shapes_folded(model)
    except Exception as e:
        raise UserError(f"{path} is not a valid ONNX model ({first_line(e)}): export it again", "model") from None
    g = model.graph
    constants = {t.name: _array(numpy_helper.to_array(t)) for t in g.initializer}
    for node in g.node:
        value = next((v for k, v in attributes(node).items() if k.startswith("value")), None)
        if node.op_type == "Constant" and value is not None:
            constants[node.output[0]] = _array(np.asarray(value))
    inputs = [i for i in g.input if i.name not in constants]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UserError(f"{path} has {len(inputs)} inputs and {len(g.output)} outputs: deploy takes an image "
                        f"classifier, one image in and one class vector out", "model")
    shape, out = _dims(inputs[0]), _dims(g.output[0])
    if len(shape) != 4 or len(out) != 2 or not out[1] or shape[1] is None:
        raise UserError(f"{path} takes {_text(shape)} and gives {_text(out)}: deploy takes an image classifier "
                        f"(N x C x H x W in, as PyTorch exports, and N x classes out)", "model")
    graph = OnnxGraph(path, list(g.node), constants, inputs[0].name, g.output[0].name, tuple(shape[1:]), int(out[1]))
    for node in graph.nodes:
        for name in node.input:
            graph.consumers.setdefault(name, []).append(node)
    require_supported(graph)
    return graph


def _shapes_folded(model):
    """`model` with its shape computations folded to constants: the batch fixed at 1 (the only size that varies),
    then onnxruntime's basic graph optimizations, which keep to standard ONNX ops (constant folding, dropping
    Identity / Dropout, folding BatchNormalization into the Conv before it)."""
    import onnx
    import onnxruntime as ort

    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_value = 1
    with tempfile.TemporaryDirectory() as tmp:
        source, folded = Path(tmp) / "model.onnx", Path(tmp) / "folded.onnx"
        onnx.save(model, str(source))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        return onnx.load(str(folded))


def require_supported(graph: OnnxGraph) -> None:
    """One `UserError` naming every op (type and condition) the importer cannot map, with its nodes."""
    found: dict[str, list[str]] = {}
    for i, node in enumerate(graph.nodes):
        problem = _unmappable(node, graph)
        if problem:
            found.setdefault(problem, []).append(node.name or f"#{i}")
    if found:
        listed = "; ".join(f"{op} (node{'s' if len(n) > 1 else ''} {', '.join(repr(x) for x in n[:4])}"
                           f"{' ...' if len(n) > 4 else ''})" for op, n in found.items())
        raise UserError(f"{graph.name} has ops deploy cannot import: {listed}. It imports {', '.join(SUPPORTED)}: "
                        f"export the model without them, or pass it as a .keras or .tflite", "model")


def _unmappable(node, graph: OnnxGraph) -> str | None:
    """What makes `node` unmappable, as the error names it; None if the importer maps it."""
    op, a = node.op_type, attributes(node)
    if op not in SUPPORTED:
        return op
    if op == "Conv" and a.get("group", 1) > 1:
        weight = graph.constants.get(node.input[1])
        if weight is None or weight.shape[1] != 1:
            return f"Conv with {a['group']} groups (only depthwise, one input channel per group)"
    if op in ("Conv", "Gemm", "MatMul", "BatchNormalization") and any(
            n not in graph.constants for n in node.input[1:] if n):
        return f"{op} with weights computed in the graph"
    if op == "Clip" and _clip_range(node, graph)[0] != 0:
        return "Clip with a floor other than 0"
    if op in ("MaxPool", "AveragePool") and (a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", []))):
        return f"{op} with ceil_mode or dilations"
    if op == "Pad" and (a.get("mode", "constant") != "constant" or _pad_value(node, graph) != 0):
        return f"Pad other than zeros (mode {a.get('mode', 'constant')})"
    if op == "ReduceMean" and sorted(int(x) % 4 for x in _axes(node, graph)) != [2, 3]:
        return "ReduceMean other than over height and width"
    if op in ("Sub", "Div") and node.input[0] in graph.constants:
        return f"{op} of a tensor from a constant"
    if op == "Gemm" and a.get("transA", 0):
        return "Gemm with transA"
    return None


def _clip_range(node, graph: OnnxGraph) -> tuple[float | None, float | None]:
    """Clip's (min, max): attributes before opset 11, optional constant inputs since."""
    a = attributes(node)
    low, high = a.get("min"), a.get("max")
    if len(node.input) > 1 and node.input[1]:
        low = float(graph.constants[node.input[1]]) if node.input[1] in graph.constants else float("nan")
    if len(node.input) > 2 and node.input[2]:
        high = float(graph.constants[node.input[2]]) if node.input[2] in graph.constants else float("nan")
    return low, high


def _axes(node, graph: OnnxGraph) -> list:
    """ReduceMean's axes: an attribute before opset 18, a constant input since (none: every axis)."""
    if len(node.input) > 1 and node.input[1]:
        return list(graph.constants.get(node.input[1], [0, 1, 2, 3]))
    return list(attributes(node).get("axes", [0, 1, 2, 3]))


def clip_max(node, graph: OnnxGraph) -> float | None:
    return _clip_range(node, graph)[1]


def _pad_value(node, graph: OnnxGraph) -> float:
    a = attributes(node)
    if len(node.input) > 2 and node.input[2]:
        value = graph.constants.get(node.input[2])
        return float(value) if value is not None and value.size == 1 else float("nan")
    return float(a.get("value", 0.0))


def pads_of(node, graph: OnnxGraph) -> list[int]:
    """Pad's pads (an attribute before opset 11, a constant input since), [x1_begin, ..., x1_end, ...]."""
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in graph.constants:
            raise UserError(f"{graph.name}: Pad (node '{node.name}') has computed pads: export it with constant "
                            f"padding", "model")
        return [int(p) for p in graph.constants[node.input[1]]]
    return [int(p) for p in attributes(node).get("pads", [])]


def _array(value: np.ndarray) -> np.ndarray:
    """A constant as the importer computes with it: floats as float32, integers (shapes, axes, pads) as they are."""
    return value.astype(np.float32) if value.dtype.kind == "f" else value


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def _text(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "a scalar"
