import json
from pathlib import Path

import numpy as np
import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.spec import phinet_blocks
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.nets.phinet import phinet
from tinyml_kit.solve.costs import phinet_plan_costs

REF = json.loads((Path(__file__).parent / "data" / "micromind_phinet_ref.json").read_text())


def test_every_family_has_a_builder_taking_each_of_its_knobs():
    """`core.family` maps each common knob to a builder argument; `nets.BUILDERS` must have that argument."""
    import inspect

    from tinyml_kit.core.family import FAMILIES
    from tinyml_kit.nets import BUILDERS

    assert set(BUILDERS) == {f.name for f in FAMILIES}
    for f in FAMILIES:
        assert set(f.knobs.values()) <= set(inspect.signature(BUILDERS[f.name]).parameters), f.name


def trainable(model) -> int:
    return int(sum(w.shape.num_elements() for w in model.trainable_weights))


def _phinet_kwargs(cfg):
    kw = cfg["kwargs"]
    c, h, w = cfg["input_shape"]
    return dict(alpha=kw.get("alpha", 0.2), beta=kw.get("beta", 1.0), t0=kw.get("t_zero", 6),
                depth=kw.get("num_layers", 7), input_shape=(h, w, c), classes=kw.get("num_classes", 10),
                divisor=kw.get("divisor", 1), squeeze_excite=kw.get("squeeze_excite", True),
                activation="hswish" if kw.get("h_swish", True) else "relu6",
                downsampling_layers=tuple(kw.get("downsampling_layers", (5, 7))),
                conv5_percent=kw.get("conv5_percent", 0.0), compatibility=kw.get("compatibility", False),
                include_top=kw.get("include_top", False))


@pytest.mark.parametrize("cfg", REF["configs"], ids=[c["name"] for c in REF["configs"]])
def test_phinet_params_identical_to_micromind(cfg):
    """Reference counts from micromind 0.2.1 (torch 2.13.0), tests/data/micromind_phinet_ref.json."""
    assert REF["micromind_version"] == "0.2.1"
    kwargs = _phinet_kwargs(cfg)
    model = phinet(**kwargs)
    assert trainable(model) == cfg["params"]
    if kwargs["include_top"]:
        plan = phinet_blocks(kwargs["alpha"], kwargs["beta"], kwargs["t0"], kwargs["depth"], kwargs["divisor"],
                             kwargs["squeeze_excite"] and not kwargs["compatibility"],
                             kwargs["downsampling_layers"], kwargs["conv5_percent"])
        assert phinet_plan_costs(plan, kwargs["input_shape"], kwargs["classes"]).params == cfg["params"]


@pytest.mark.parametrize("alpha,beta,t0,depth,shape,space", [
    (0.25, 1.0, 6, 7, (32, 32, 3), {}), (0.5, 1.35, 4, 5, (48, 48, 1), {}), (1.0, 0.75, 5, 9, (64, 64, 3), {}),
    (0.5, 1.0, 4, 6, (32, 32, 3), {"first_conv_stride": 1, "downsampling_layers": (6,), "conv5_percent": 0.3})])
def test_phinet_plan_costs_match_built_model(alpha, beta, t0, depth, shape, space):
    model = phinet(alpha=alpha, beta=beta, t0=t0, depth=depth, input_shape=shape, classes=10, **space)
    costs = model_costs(model)
    plan = phinet_plan_costs(phinet_blocks(alpha, beta, t0, depth, **space), shape, 10)
    assert (plan.params, plan.macs) == (costs.params, costs.macs)
    assert costs.macs_by_kind["se"] > 0


def test_phinet_compatibility_drops_se_and_hswish():
    ops = model_costs(phinet(alpha=0.25, compatibility=True)).ops
    assert "HARD_SWISH" not in ops and "MUL" not in ops and "LOGISTIC" not in ops
    assert "HARD_SWISH" in model_costs(phinet(alpha=0.25)).ops


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0])
def test_mobilenets_match_keras_applications(alpha):
    from tinyml_kit._tf import keras

    apps = keras().applications
    oracle_v1 = apps.MobileNet(input_shape=(64, 64, 3), alpha=alpha, weights=None, classes=10)
    oracle_v2 = apps.MobileNetV2(input_shape=(64, 64, 3), alpha=alpha, weights=None, classes=10)
    assert trainable(build("mobilenetv1", (64, 64, 3), 10, alpha=alpha)) == trainable(oracle_v1)
    assert trainable(build("mobilenetv2", (64, 64, 3), 10, alpha=alpha)) == trainable(oracle_v2)


def test_resnet8_matches_mlperf_tiny_shapes():
    model = build("resnet8", (32, 32, 3), 10)
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731  (convs with bias)
    bn = lambda c: 2 * c  # noqa: E731
    expected = (conv(3, 3, 16) + bn(16)
                + 2 * (conv(3, 16, 16) + bn(16))
                + conv(3, 16, 32) + conv(3, 32, 32) + 2 * bn(32) + conv(1, 16, 32)
                + conv(3, 32, 64) + conv(3, 64, 64) + 2 * bn(64) + conv(1, 32, 64)
                + 64 * 10 + 10)
    costs = model_costs(model)
    assert costs.params == expected == 78186
    assert 12.4e6 < costs.macs < 12.6e6  # ≈ 12.5 M MACs, as derived in boards-reference.md


def test_resnet_scales_resnet8_by_width_and_blocks_per_stage():
    """ResNet-8 is width 1, depth 1; width scales every stage's filters (multiples of 4), depth repeats blocks."""
    assert model_costs(build("resnet", (32, 32, 3), 10)).params == 78186
    names = [layer.name for layer in build("resnet", (32, 32, 3), 10, alpha=0.5, depth=3).layers]
    assert sum(n.endswith("_add") for n in names) == 9 and sum(n.endswith("_shortcut") for n in names) == 2
    filters = [layer.filters for layer in build("resnet", (32, 32, 3), 10, alpha=0.625).layers
               if type(layer).__name__ == "Conv2D" and layer.name.endswith("conv2")]
    assert filters == [12, 20, 40]
    from tinyml_kit.check.explain import block_outputs

    # Grad-CAM and probes find its stages as blocks
    assert [b for b, _ in block_outputs(build("resnet", (32, 32, 3), 10, depth=2))] == [
        "stem", "block 0", "block 1", "block 2"]


def test_tinynet_width_and_depth_scale():
    base = trainable(build("tinynet", (64, 64, 3), 8))
    assert trainable(build("tinynet", (64, 64, 3), 8, alpha=0.5)) < base
    assert trainable(build("tinynet", (64, 64, 3), 8, depth=3)) < base
    assert [type(layer).__name__ for layer in build("tinynet", (64, 64, 3), 8).layers].count("DepthwiseConv2D") == 3


@pytest.mark.parametrize("arch", ["phinet", "tinynet", "mobilenetv1", "mobilenetv2", "resnet", "resnet8"])
def test_every_builder_runs_forward(arch):
    model = build(arch, (32, 32, 3), 5)
    out = model.predict(np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32), verbose=0)
    assert out.shape == (2, 5)


def test_build_refuses_knobs_an_arch_lacks():
    with pytest.raises(UserError, match="beta does not apply to resnet8"):
        build("resnet8", (32, 32, 3), 10, beta=1.0)
    with pytest.raises(UserError, match="unknown architecture"):
        build("vgg", (32, 32, 3), 10)


@pytest.mark.parametrize("alpha,beta,t0,depth", [(0.25, 1.35, 4, 7), (0.1, 0.75, 3, 4), (0.5, 1.0, 6, 8)])
def test_plan_and_model_agree_on_flash_terms(alpha, beta, t0, depth):
    plan = phinet_plan_costs(phinet_blocks(alpha, beta, t0, depth), (32, 32, 1), 10)
    costs = model_costs(phinet(alpha, beta, t0, depth, (32, 32, 1), 10))
    assert (plan.op_count, plan.channels) == (costs.op_count, costs.channels)


def test_a_model_saved_before_the_builders_moved_still_loads():
    """model.keras files name our custom layers' module (`tinyml_kit.build.layers`, the package's old name);
    they load through the registered names, with the layers of today's `nets.layers`, and predict as before."""
    from tinyml_kit.nets import layers, load_keras_model

    data = Path(__file__).parent / "data"
    model = load_keras_model(data / "model_saved_by_tinyml_kit_build.keras")
    kinds = {type(layer) for layer in model.layers}
    assert {layers.HardSwish, layers.ChannelPool} <= kinds
    saved = np.load(data / "model_saved_by_tinyml_kit_build.npz")
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=1e-5, atol=1e-9)
