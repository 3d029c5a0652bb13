"""PhiNet's attention (squeeze-excite, CBAM, none) and activations: what they build and convert to, that TFLM
and the C engine run CBAM as LiteRT does, and what `fit` refuses by name."""

import functools

import numpy as np
import pytest
from test_bad_input import no_data_loading  # noqa: F401  (fixture)
from test_cli import assert_one_line_error, run

from tinyml_kit.core.style_ops import STYLE_OPS

KNOBS = {"alpha": 0.25, "beta": 1.0, "t0": 4, "depth": 5}


@functools.cache
def _built(attention: str = "se", activation: str = "hswish"):
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs
    from tinyml_kit.pipeline.measure import look_trained

    model = build("phinet", (24, 24, 3), 5, **KNOBS, attention=attention, activation=activation)
    look_trained(model)
    images = np.random.default_rng(0).integers(0, 256, (24, 24, 24, 3), dtype=np.uint8)
    flatbuffer = quantize_int8(model, calibration_images(images))
    return model, model_costs(model), flatbuffer, read_graph(flatbuffer), images


def _converted(**style):
    return _built(**style)


@pytest.mark.parametrize("attention, extra_ops", [("se", set()), ("cbam", {"REDUCE_MAX", "CONCATENATION"}),
                                                  ("none", set())])
def test_each_attention_converts_to_the_ops_its_layers_predict(attention, extra_ops):
    _, costs, _, graph, _ = _converted(attention=attention)
    converted = {op.kind for op in graph.ops}
    assert set(costs.ops) == converted and extra_ops <= converted
    assert ("MUL" in converted) == (attention != "none")
    assert ("attention" in costs.macs_by_kind) == (attention == "cbam")


def test_cbam_costs_its_spatial_convolutions_more_than_se_and_none_less():
    """CBAM's channel MLP is SE's, applied twice with shared weights; each block adds a 7x7 convolution on 2
    channels (98 weights)."""
    model, cbam, *_ = _converted(attention="cbam")
    blocks = sum(layer.name.endswith("cbam_spatial") for layer in model.layers)
    se, none = (_converted(attention=a)[1].params for a in ("se", "none"))
    assert blocks >= 4 and cbam.params == se + 98 * blocks and none < se


def test_tflm_runs_cbam_as_litert_does():
    from tinyml_kit.check.tflm import TflmModel
    from tinyml_kit.core.litert import LiteRtModel

    _, _, flatbuffer, _, images = _converted(attention="cbam")
    x = images.astype(np.int16) - 128
    assert np.array_equal(LiteRtModel(flatbuffer).predict(x), TflmModel(flatbuffer).predict(x))


def test_gelu_builds_and_converts_to_gelu():
    _, costs, _, graph, _ = _converted(activation="gelu")
    assert "GELU" in costs.ops and "GELU" in {op.kind for op in graph.ops}


@pytest.mark.parametrize("args, fragments", [
    (["--arch", "tinynet", "--attention", "cbam"], ["--attention does not apply to TinyNet", "(--attention, --arch)"]),
    (["--arch", "phinet", "--activation", "gelu"], ["GELU op, which TFLM has no kernel for", "(--activation)"]),
    (["--arch", "phinet", "--attention", "cbam", "--quant", "qat"],
     ["QAT cannot quantize layer", "cbam", "(--quant, --attention)"]),
])
def test_fit_refuses_what_cannot_run_before_loading_data(tmp_path, no_data_loading, args, fragments):  # noqa: F811
    assert_one_line_error(run("fit", "--out", tmp_path / "r", *args), *fragments)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("style", [{"attention": a} for a in STYLE_OPS["attention"]]
                         + [{"activation": a} for a in STYLE_OPS["activation"]])
def test_each_style_converts_to_the_ops_the_solver_expects(style):
    """`core.style_ops` (what `solve` judges a style by, building nothing) against the ops of the built model."""
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs

    (knob, value), = style.items()
    model = build("phinet", (32, 32, 3), 10, alpha=0.25, beta=1.0, t0=4, depth=4, **style)
    assert set(STYLE_OPS[knob][value]) <= set(model_costs(model).ops)


@pytest.mark.parametrize("args, fragments", [
    (["--activation", "gelu"], ["GELU op, which TFLM has no kernel for", "another activation", "(--activation)"]),
    (["--activation", "gelu", "--engine", "c"], ["GELU op, which TFLM has no kernel for (every run is checked"]),
])
def test_solve_suggests_no_fit_that_fit_refuses(args, fragments):
    """`solve` suggests `fit` for a style its laws do not know only if `fit`'s pre-flight accepts it."""
    assert_one_line_error(run("solve", "--arch", "phinet", *args), *fragments)


def test_the_c_engine_runs_cbam_as_litert_does(tmp_path):
    from test_c_engine import assert_bit_exact

    _, _, flatbuffer, _, _ = _converted(attention="cbam")
    assert_bit_exact(flatbuffer, "REDUCE_MAX", tmp_path)


@pytest.mark.slow
def test_fit_a_cbam_phinet_measured_and_recorded(tmp_path, digits_npz):
    import json

    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--arch", "phinet",
                 "--attention", "cbam", "--activation", "relu6", "--board", "nucleo-h743zi2", "--out", tmp_path / "r",
                 "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["choice"]["attention"] == "cbam" and record["choice"]["activation"] == "relu6"
    assert record["predicted_accuracy"] is None   # the laws know squeeze-excite PhiNets only
    assert {"REDUCE_MAX", "CONCATENATION"} <= set(record["check"]["ops"]) and record["litert_equals_tflm"]
    assert record["engine"] == "c" and record["check"]["c_equals_litert"] is True   # the default engine runs CBAM


@pytest.mark.parametrize("args, fragments", [
    (["--arch", "phinet", "--attention", "none", "--init-from", "{model}"],
     ["--init-from trains its model's own blocks", "(--attention, --init-from)"]),
])
def test_fit_refuses_styles_that_cannot_apply_before_loading_data(tmp_path, no_data_loading, args,  # noqa: F811
                                                                   fragments):
    import zipfile

    model = tmp_path / "m.keras"
    zipfile.ZipFile(model, "w").close()   # looks like a .keras archive: refused before it is read
    args = [a.format(model=model) for a in args]
    assert_one_line_error(run("fit", "--out", tmp_path / "r", *args), *fragments)
