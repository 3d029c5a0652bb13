"""`deploy` of a PyTorch `torch.export` program (.pt2) through litert-torch, the optional extra `.[torch]`: a small
NCHW CNN (Conv, BatchNorm, ReLU, MaxPool, Flatten, Linear) converted, checked against torch, quantized and checked
bit for bit; an op litert-torch cannot convert named with its module. Without the extra these skip, and a .pt2 is
refused in one line saying how to install it."""

import importlib.util
import json

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

BOARD = "nucleo-f401re"


def _save(net, path, chw):
    import torch

    torch.manual_seed(0)
    torch.export.save(torch.export.export(net.eval(), (torch.rand(1, *chw),)), str(path))
    return path


@pytest.fixture(scope="module")
def torch_cnn(tmp_path_factory):
    """Conv - BatchNorm - ReLU - max pool - conv - ReLU - Flatten (of a 16 x 2 x 2 map) - Linear on 8x8x1 NCHW
    images taking [0, 1], 3 classes, weights and BatchNorm statistics drawn at random."""
    pytest.importorskip("litert_torch")
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 2 * 2, 3))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.1, 0.1)
        net[1].running_var.uniform_(0.5, 1.5)
    return _save(net, tmp_path_factory.mktemp("pt2") / "cnn.pt2", (1, 8, 8))


def test_deploy_pt2_end_to_end(torch_cnn, digits_npz, tmp_path):
    """Converted to no op but the CNN's (the division by 255 and the BatchNorm folded into the first convolution,
    which stays a CONV_2D though its input has one channel; the flatten made NHWC for the Linear layer: no
    TRANSPOSE), as close to torch as float goes, then int8 and bit-exact on the C engine; the float .tflite is the
    run's float side."""
    from test_deploy import assert_float_tflite_reference

    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.pipeline.foreign import open_model

    out = tmp_path / "run"
    result = run("deploy", torch_cnn, "--board", BOARD, "--data", digits_npz, "--pixels", "0-1", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["deployed_from"] == str(torch_cnn.absolute())
    assert read_model((out / "model.tflite").read_bytes()).ops == ["CONV_2D", "MAX_POOL_2D", "RESHAPE",
                                                                   "FULLY_CONNECTED"]
    conversion = report["conversion"]
    assert conversion["source"] == "pt2" and conversion["runtime"].startswith("torch ")
    assert conversion["top1_agreement"] >= conversion["min_agreement"] and conversion["max_abs_diff"] < 1e-4
    assert report["engine"] == "c" and report["check"]["c_equals_litert"] is True
    assert "converted from a torch.export program by litert-torch, against torch " in \
        " ".join((out / "report.html").read_text().split())
    converted = open_model(torch_cnn, "0-1")
    converted.sized((8, 8, 1))
    assert_float_tflite_reference(out, report, converted.flatbuffer)


def test_deploy_pt2_refuses_in_one_line_before_writing(torch_cnn, digits_npz, tmp_path):
    """An op litert-torch has no lowering for, named with the module it came from; a program exported in training
    mode; the pixel range asked; the channels."""
    import torch
    from torch import nn

    class Odd(nn.Module):
        def forward(self, x):
            return torch.special.erfinv(x.clamp(-0.5, 0.5))

    bad = _save(nn.Sequential(nn.Conv2d(1, 4, 3), Odd(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)),
                tmp_path / "bad.pt2", (1, 8, 8))
    trained = tmp_path / "training.pt2"
    torch.export.save(torch.export.export(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                                                        nn.Linear(144, 3)), (torch.rand(1, 1, 8, 8),)), str(trained))
    out = tmp_path / "run"
    cases = [([bad, "--pixels", "0-1"], ["bad.pt2 has an op litert-torch cannot convert: aten.erfinv",
                                         "module '1' (Odd)"]),
             ([trained, "--pixels", "0-1"], ["training.pt2 was exported in training mode", "'1' (BatchNorm2d)",
                                              "model.eval()"]),
             ([torch_cnn], ["torch.export program", "--pixels 0-1", "ToTensor"]),
             ([torch_cnn, "--pixels", "0-1", "--input", "8,8,3"], ["takes 8x8x1 images, not 8x8x3"])]
    for args, fragments in cases:
        assert_one_line_error(run("deploy", *args, "--data", digits_npz, "--board", BOARD, "--out", out),
                              *fragments)
        assert not out.exists()


def test_a_conversion_disagreeing_with_torch_is_refused(torch_cnn):
    """The check can fail: the converted model checked against another program (the class layer negated) agrees
    on too few images and is refused, saying the agreement and the threshold."""
    import torch

    from tinyml_kit.core.errors import UserError
    from tinyml_kit.pipeline.foreign_torch import compare, convert, open_program

    program, _ = open_program(torch_cnn, "0-1")
    flatbuffer = convert(program, (8, 8, 1), "0-1")
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1)).astype(np.float32)
    assert compare(program, flatbuffer, images, "0-1").top1_agreement == 1.0
    net = program.program.module()
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if name.startswith("7."):
                value.neg_()
    program.program = torch.export.export(net, (torch.rand(1, 1, 8, 8),))
    with pytest.raises(UserError, match=r"agreement \d+\.\d% < 99%"):
        compare(program, flatbuffer, images, "0-1")


def test_a_pt2_without_the_torch_extra_is_refused_in_one_line(digits_npz, tmp_path, monkeypatch):
    """Where the extra is installed, its packages are hidden from the check."""
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name in ("torch", "litert_torch")
                        else found(name, *args))
    model, out = tmp_path / "model.pt2", tmp_path / "run"
    model.write_bytes(b"PK")
    assert_one_line_error(run("deploy", model, "--data", digits_npz, "--board", BOARD, "--pixels", "0-1", "--out",
                              out), "needs the torch extra: pip install -e '.[torch]'")
    assert not out.exists()


def test_a_flatten_read_by_anything_but_linear_keeps_pytorchs_order(tmp_path):
    """The flattened map is the output: its values in (C, H, W) order as torch gives them, by a TRANSPOSE. The
    division by 255 goes into the convolution's weights, so no MUL is left on the image though the converter
    pads it first (padding 1 with stride 2 is not TensorFlow's `same`)."""
    pytest.importorskip("litert_torch")
    from torch import nn

    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.pipeline.foreign_torch import compare, convert, open_program

    path = _save(nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten()),
                 tmp_path / "flat.pt2", (2, 8, 8))
    program, _ = open_program(path, "0-1")
    flatbuffer = convert(program, (8, 8, 2), "0-1")
    assert read_model(flatbuffer).ops == ["PAD", "CONV_2D", "TRANSPOSE", "RESHAPE"]
    images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 2)).astype(np.float32)
    assert compare(program, flatbuffer, images, "0-1").max_abs_diff < 1e-5


def test_a_depthwise_convolution_of_one_channel_becomes_a_convolution():
    """Runs without the extra: a float .tflite with a DEPTHWISE_CONV_2D of a one-channel image (multiplier 8,
    strided, fused ReLU6) and one of eight channels; only the first becomes a CONV_2D, and LiteRT gives
    the same outputs."""
    from tinyml_kit._tf import keras, tf
    from tinyml_kit.core.litert import LiteRtModel
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.pipeline.one_channel_conv import as_convolutions

    k = keras()
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((9, 9, 1)), k.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=8,
                                                                       activation="relu6"),
                          k.layers.DepthwiseConv2D(3, padding="same"), k.layers.Flatten()])
    flatbuffer = tf().lite.TFLiteConverter.from_keras_model(model).convert()
    assert read_model(flatbuffer).ops == ["DEPTHWISE_CONV_2D", "RESHAPE"]
    rewritten = as_convolutions(flatbuffer)
    assert read_model(rewritten).ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE"]
    images = np.random.default_rng(0).uniform(-1, 1, (4, 9, 9, 1)).astype(np.float32)
    np.testing.assert_allclose(LiteRtModel(rewritten).predict(images), LiteRtModel(flatbuffer).predict(images),
                               rtol=1e-5, atol=1e-5)


def test_an_op_the_engine_does_not_run_is_placed_by_its_module(tmp_path):
    """The converted tensors keep the modules' names: a GroupNorm's RSQRT is found at its module, 'norm'."""
    pytest.importorskip("litert_torch")
    from torch import nn

    from tinyml_kit.pipeline.foreign import op_layers
    from tinyml_kit.pipeline.foreign_torch import convert, open_program

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.norm = nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

        def forward(self, x):
            return self.head(self.norm(self.stem(x)))

    program, _ = open_program(_save(Net(), tmp_path / "norm.pt2", (1, 8, 8)), "0-1")
    assert op_layers(convert(program, (8, 8, 1), "0-1"), ["RSQRT"]).endswith("GroupNorm_norm'")
