"""`deploy` of an .onnx: PyTorch-style CNNs (NCHW) built with `onnx.helper` and numpy weights, imported as tf_keras
models and checked against onnxruntime: the layer mapping (flattening a non-1x1 NCHW map above all), refusals in
one line before anything is written, and one model deployed end to end."""

import json

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

BOARD = "nucleo-f401re"


def _onnx(path, nodes, weights: dict, chw, classes: int, opset: int = 13):
    """Write a graph taking (N, C, H, W) "image" and giving (N, classes) "logits"; returns `path`."""
    from onnx import TensorProto, helper, numpy_helper, save

    graph = helper.make_graph(
        nodes, path.stem, [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *chw])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(np.asarray(w, np.float32 if np.asarray(w).dtype.kind == "f" else np.int64), name)
         for name, w in weights.items()])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _node(op, inputs, output, name=None, **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, [output], name=name or output, **attrs)


def _rand(rng, *shape, scale=0.5):
    return rng.normal(0, scale, shape).astype(np.float32)


def _against_onnxruntime(path, shape, rtol=1e-5):
    """The imported model's outputs and onnxruntime's on random [0, 1] images of `shape` (H, W, C)."""
    import onnxruntime as ort

    from tinyml_kit.nets.onnx_graph import read_graph
    from tinyml_kit.nets.onnx_import import to_keras

    model = to_keras(read_graph(path), shape)
    x = np.random.default_rng(1).uniform(0, 1, (8, *shape)).astype(np.float32)
    expected = ort.InferenceSession(str(path)).run(None, {"image": x.transpose(0, 3, 1, 2)})[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=rtol, atol=1e-5)
    return model


@pytest.mark.parametrize("reader", ["Gemm", "output", "view"])
def test_flattening_a_nchw_map_gives_onnxruntimes_outputs(tmp_path, reader):
    """ONNX flattens (C, H, W), Keras (H, W, C): a Flatten over a 4x4x3 map read by a Gemm (through a Dropout)
    keeps NHWC with the Gemm's rows permuted; read by anything else (here: the output) it is permuted to NCHW
    first. "view": PyTorch's `x.view(x.size(0), -1)`, a Reshape to a shape computed from the input's (folded
    before the import)."""
    rng = np.random.default_rng(0)
    nodes = [_node("Conv", ["image", "w"], "conv", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0]),
             _node("Relu", ["conv"], "relu"), _node("Flatten", ["relu"], "flat" if reader != "output" else "logits")]
    weights = {"w": _rand(rng, 3, 2, 3, 3)}
    if reader == "view":
        nodes[-1:] = [_node("Shape", ["relu"], "shape"), _node("Gather", ["shape", "zero"], "n", axis=0),
                      _node("Unsqueeze", ["n", "axes"], "n1"), _node("Concat", ["n1", "minus_one"], "to", axis=0),
                      _node("Reshape", ["relu", "to"], "flat")]
        weights |= {"zero": np.array(0), "axes": np.array([0]), "minus_one": np.array([-1])}
    if reader != "output":
        nodes += [_node("Dropout", ["flat"], "dropped"), _node("Gemm", ["dropped", "fc", "fc_b"], "logits", transB=1)]
        weights |= {"fc": _rand(rng, 5, 48), "fc_b": _rand(rng, 5)}
    path = _onnx(tmp_path / "flat.onnx", nodes, weights, (2, 8, 8), 48 if reader == "output" else 5)
    model = _against_onnxruntime(path, (8, 8, 2))
    assert ("Permute" in [type(layer).__name__ for layer in model.layers]) == (reader == "output")


def test_the_cnn_subset_maps_to_keras_layers_computing_what_onnxruntime_computes(tmp_path):
    """A mean / std normalization (Sub, Div), Pad, asymmetric and 'same' pads, depthwise, BatchNormalization, Clip,
    HardSwish, max pooling with explicit pads after a ReLU, average pooling counting its pads, Concat, per-channel
    Add / Mul constants, Sigmoid, a mean over height and width, a Reshape to (N, -1) by a Constant node, MatMul
    with its bias Add folded, Softmax."""
    rng = np.random.default_rng(0)
    nodes = [
        _node("Sub", ["image", "mean_rgb"], "centred"), _node("Div", ["centred", "std_rgb"], "normalized"),
        _node("Pad", ["normalized", "pads"], "pad", mode="constant"),
        _node("Conv", ["pad", "w1", "b1"], "c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        _node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], "bn", epsilon=1e-3),
        _node("Clip", ["bn", "zero", "six"], "relu6"),
        _node("MaxPool", ["relu6", ], "mp", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        _node("Conv", ["mp", "dw"], "dw1", kernel_shape=[3, 3], group=4, pads=[1, 1, 1, 1]),
        _node("HardSwish", ["dw1"], "hs"),
        _node("AveragePool", ["hs"], "ap", kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
        _node("Sigmoid", ["mp"], "sig"), _node("AveragePool", ["sig"], "ap2", kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
        _node("Concat", ["ap", "ap2"], "cat", axis=1),
        _node("Add", ["cat", "shift"], "add"), _node("Mul", ["add", "scale"], "mul"),
        _node("ReduceMean", ["mul"], "gap", axes=[2, 3]), _node("Constant", [], "flat_shape", value_ints=[-1, 8]),
        _node("Reshape", ["gap", "flat_shape"], "flat"),
        _node("MatMul", ["flat", "fc"], "mm"), _node("Add", ["mm", "fc_b"], "fc_out"),
        _node("Softmax", ["fc_out"], "logits", axis=-1)]
    weights = {"mean_rgb": np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1),
               "std_rgb": np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1),
               "pads": np.array([0, 0, 2, 1, 0, 0, 0, 1]), "w1": _rand(rng, 4, 3, 3, 3), "b1": _rand(rng, 4),
               "g": rng.uniform(0.5, 1.5, 4), "beta": _rand(rng, 4), "mean": _rand(rng, 4),
               "var": rng.uniform(0.5, 1.5, 4), "zero": np.array(0.0), "six": np.array(6.0),
               "dw": _rand(rng, 4, 1, 3, 3), "shift": _rand(rng, 1, 8, 1, 1), "scale": _rand(rng, 8, 1, 1),
               "fc": _rand(rng, 8, 3), "fc_b": _rand(rng, 3)}
    model = _against_onnxruntime(_onnx(tmp_path / "subset.onnx", nodes, weights, (3, 8, 8), 3, opset=14), (8, 8, 3))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "DepthwiseConv2D" in kinds and kinds.count("Dense") == 1 and "Permute" not in kinds


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    """conv (with and without bias) - BatchNorm - ReLU - max pool - depthwise conv - ReLU - 1x1 conv - global
    average pool - Flatten, on 8x8x1 NCHW images taking [0, 1], 3 classes, weights drawn at random."""
    rng = np.random.default_rng(0)
    nodes = [_node("Conv", ["image", "w1"], "c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             _node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], "bn"), _node("Relu", ["bn"], "r1"),
             _node("MaxPool", ["r1"], "mp", kernel_shape=[2, 2], strides=[2, 2]),
             _node("Conv", ["mp", "dw", "dw_b"], "dw1", kernel_shape=[3, 3], group=8, pads=[1, 1, 1, 1]),
             _node("Relu", ["dw1"], "r2"), _node("Conv", ["r2", "pw", "pw_b"], "head", kernel_shape=[1, 1]),
             _node("GlobalAveragePool", ["head"], "gap"), _node("Flatten", ["gap"], "logits")]
    weights = {"w1": _rand(rng, 8, 1, 3, 3), "g": rng.uniform(0.5, 1.5, 8), "beta": _rand(rng, 8, scale=0.1),
               "mean": _rand(rng, 8, scale=0.1), "var": rng.uniform(0.5, 1.5, 8), "dw": _rand(rng, 8, 1, 3, 3),
               "dw_b": _rand(rng, 8, scale=0.1), "pw": _rand(rng, 3, 8, 1, 1), "pw_b": _rand(rng, 3, scale=0.1)}
    return _onnx(tmp_path_factory.mktemp("onnx") / "cnn.onnx", nodes, weights, (1, 8, 8), 3)


def test_deploy_onnx_end_to_end(digits_cnn, digits_npz, tmp_path):
    out = tmp_path / "run"
    result = run("deploy", digits_cnn, "--board", BOARD, "--data", digits_npz, "--pixels", "0-1", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (out / "model.tflite").is_file() and json.loads((out / "report.json").read_text())["conversion"]
    assert report["deployed_from"] == str(digits_cnn.absolute())
    conversion = report["conversion"]
    assert conversion["source"] == "onnx" and conversion["runtime"].startswith("onnxruntime")
    assert conversion["top1_agreement"] >= conversion["min_agreement"] and conversion["max_abs_diff"] < 1e-4
    assert report["engine"] == "c" and report["check"]["c_equals_litert"] is True
    assert "imported from ONNX, against onnxruntime" in (out / "report.html").read_text()


def test_deploy_onnx_refuses_in_one_line_before_writing(digits_cnn, digits_npz, tmp_path):
    """Every op the importer cannot map, named with its nodes, before TensorFlow loads; the pixel range asked."""
    from onnx import helper

    rng = np.random.default_rng(0)
    nodes = [_node("Conv", ["image", "w"], "grouped", kernel_shape=[1, 1], group=2),
             helper.make_node("Resize", ["grouped", "", "scales"], ["up"], name="upsample", mode="cubic"),
             _node("Conv", ["up", "w2"], "c2", kernel_shape=[1, 1]), _node("Relu", ["c2"], "r"),
             _node("GlobalAveragePool", ["r"], "gap"), _node("Flatten", ["gap"], "logits")]
    weights = {"w": _rand(rng, 4, 2, 1, 1), "scales": np.array([1, 1, 2, 2], np.float32),
               "w2": _rand(rng, 3, 4, 1, 1)}
    bad = _onnx(tmp_path / "bad.onnx", nodes, weights, (4, 4, 4), 3)
    out = tmp_path / "run"
    cases = [([bad, "--pixels", "0-1"], ["bad.onnx has ops deploy cannot import", "Resize (node 'upsample')",
                                         "Conv with 2 groups", "(node 'grouped')"]),
             ([digits_cnn], ["ONNX model", "--pixels 0-1", "ToTensor"]),
             ([digits_cnn, "--pixels", "0-1", "--input", "8,8,3"], ["takes 8x8x1 images, not 8x8x3"])]
    for args, fragments in cases:
        assert_one_line_error(run("deploy", *args, "--data", digits_npz, "--board", BOARD, "--out", out),
                              *fragments)
        assert not out.exists()


def test_an_import_disagreeing_with_onnxruntime_is_refused(digits_cnn):
    """The check can fail: the imported model with its class layer's weights negated agrees with onnxruntime on
    too few images and is refused, saying the agreement and the threshold."""
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.nets.onnx_graph import read_graph
    from tinyml_kit.pipeline.foreign_onnx import build, compare

    graph = read_graph(digits_cnn)
    model = build(graph, (8, 8, 1), "0-1")
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1)).astype(np.float32)
    assert compare(graph, model, images, "0-1").top1_agreement == 1.0
    head = model.get_layer("head")
    head.set_weights([-w for w in head.get_weights()])
    with pytest.raises(UserError, match=r"agreement \d+\.\d% < 99%"):
        compare(graph, model, images, "0-1")
