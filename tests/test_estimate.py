"""Conversion-free estimates against the converter and TFLM: graph structure, file size, arena."""

import random

import numpy as np
import pytest

from tinyml_kit.core.spec import phinet_blocks, phinet_name
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer
from tinyml_kit.engine.codegen import compile_model
from tinyml_kit.nets.phinet import phinet
from tinyml_kit.solve.c_size import c_engine_costs
from tinyml_kit.solve.estimate import estimate_phinet
from tinyml_kit.solve.phinet_graph import phinet_graph
from tinyml_kit.solve.tflite_size import serialized_bytes, tflite_bytes

CONVERTED = [  # SE blocks reaching 1x1 (pools removed); ReLU6 folded, no SE, divisor 8, one channel
    dict(alpha=0.25, beta=1.35, t0=4, depth=7, input_shape=(32, 32, 3), classes=10, compatibility=False),
    dict(alpha=0.2, beta=0.75, t0=5, depth=5, input_shape=(40, 40, 1), classes=4, compatibility=True, divisor=8),
    # the search-space knobs: full resolution after the stem, one late downsampling, 5x5 kernels at the end
    dict(alpha=0.3, beta=1.0, t0=4, depth=6, input_shape=(24, 24, 3), classes=5, compatibility=False,
         first_conv_stride=1, downsampling_layers=(5,), conv5_percent=0.4),
]
SPACE = ("first_conv_stride", "downsampling_layers", "conv5_percent")


def _converted(cfg):
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflite_info import schema as tflite_schema
    from tinyml_kit.pipeline.measure import look_trained

    model = phinet(**cfg)
    look_trained(model)
    rng = np.random.default_rng(0)
    flatbuffer = quantize_int8(model, calibration_images(rng.integers(0, 256, (8, *cfg["input_shape"]), np.uint8)))
    schema = tflite_schema()
    return flatbuffer, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))


def _graph(cfg):
    plan = phinet_blocks(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"], cfg.get("divisor", 1),
                         not cfg["compatibility"], **{k: cfg[k] for k in SPACE if k in cfg})
    return phinet_graph(plan, cfg["input_shape"], cfg["classes"],
                        phinet_name(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"]),
                        "relu6" if cfg["compatibility"] else "hswish")


@pytest.mark.parametrize("cfg", CONVERTED, ids=["se-hswish", "relu6-divisor8", "stride1-conv5"])
def test_graph_matches_converter_and_tflm(cfg):
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.solve.tflm_arena import arena_bytes

    flatbuffer, model = _converted(cfg)
    graph = _graph(cfg)
    real = model.subgraphs[0]
    assert len(graph.tensors) == len(real.tensors) and len(graph.ops) == len(real.operators)
    for mine, theirs in zip(graph.tensors, real.tensors, strict=False):
        data = model.buffers[theirs.buffer].data
        assert mine.shape == tuple(int(d) for d in theirs.shape), theirs.name
        assert mine.data_bytes == (0 if data is None else len(data)) or mine.shares_buffer_of, theirs.name
    # MLIR numbers its de-duplicated zero constants (arith.constantN) in an order not reproduced here
    differ = [t.name.decode() for m, t in zip(graph.tensors, real.tensors, strict=False) if m.name != t.name.decode()]
    assert all("arith.constant" in n or "se_reduce" in n for n in differ), differ
    assert abs(serialized_bytes(graph) - len(flatbuffer)) <= 0.002 * len(flatbuffer)
    compact = len(compact_flatbuffer(flatbuffer))   # the device's file: names and repeated zero points dropped
    assert abs(serialized_bytes(graph, compact=True) - compact) <= 0.002 * compact, (compact, len(flatbuffer))
    assert abs(tflite_bytes(graph) - len(flatbuffer)) <= 0.01 * len(flatbuffer)
    assert abs(tflite_bytes(graph, compact=True) - compact) <= 0.01 * compact
    measured, estimated = measure_arena(flatbuffer), arena_bytes(graph)
    assert (estimated.head_bytes, estimated.tail_bytes) == (measured.head_bytes, measured.tail_bytes)
    assert c_engine_costs(graph).arena_bytes == compile_model(flatbuffer).arena_bytes   # the C engine's arena, exact


def test_size_formula_tracks_exact_serialization():
    rng = random.Random(1)
    for _ in range(12):
        alpha, depth = rng.choice([0.1, 0.25, 0.5, 1.0, 2.0]), rng.randint(4, 9)
        side = rng.choice([32, 64, 96, 160])
        graph = phinet_graph(phinet_blocks(alpha, 1.0, 5, depth), (side, side, 3), 10,
                             phinet_name(alpha, 1.0, 5, depth))
        for compact in (False, True):
            exact = serialized_bytes(graph, compact)
            assert abs(tflite_bytes(graph, compact) - exact) <= 0.006 * exact


def test_estimate_counts_params_and_grows_with_width():
    small = estimate_phinet(0.25, 1.0, 6, 7, (32, 32, 3), 10)
    large = estimate_phinet(0.5, 1.0, 6, 7, (32, 32, 3), 10)
    assert small.params == 49765            # micromind's count for this configuration (tests/data)
    assert small.flash_bytes_est > small.params and large.flash_bytes_est > small.flash_bytes_est
    assert large.arena_bytes_est > small.arena_bytes_est >= small.activations_bytes


@pytest.mark.parametrize("family,width,depth,shape,classes", [
    ("resnet", 1.0, 1, (32, 32, 3), 10), ("resnet", 0.5, 2, (40, 40, 1), 4), ("resnet", 0.375, 3, (17, 17, 3), 2),
    ("tinynet", 1.0, 4, (64, 64, 3), 8), ("tinynet", 0.25, 2, (32, 32, 1), 4), ("tinynet", 1.5, 5, (40, 40, 3), 10)])
def test_resnet_and_tinynet_estimates_match_the_converter_and_tflm(family, width, depth, shape, classes):
    """Costs (Keras counting), compact flash and TFLM arena of the other ranked families, against a converted
    model."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs
    from tinyml_kit.pipeline.measure import look_trained
    from tinyml_kit.solve.costs import resnet_costs, tinynet_costs
    from tinyml_kit.solve.estimate import estimate_resnet, estimate_tinynet
    from tinyml_kit.solve.resnet_graph import resnet_graph
    from tinyml_kit.solve.tinynet_graph import tinynet_graph

    costs_of, graph_of, estimate_of = {"resnet": (resnet_costs, resnet_graph, estimate_resnet),
                                       "tinynet": (tinynet_costs, tinynet_graph, estimate_tinynet)}[family]

    model = build(family, shape, classes, alpha=width, depth=depth)
    look_trained(model)
    costs, planned = model_costs(model), costs_of(width, depth, shape, classes)
    assert (planned.params, planned.macs) == (costs.params, costs.macs)
    rng = np.random.default_rng(0)
    flatbuffer = quantize_int8(model, calibration_images(rng.integers(0, 256, (8, *shape), np.uint8)))
    compact, measured = len(compact_flatbuffer(flatbuffer)), measure_arena(flatbuffer)
    graph = graph_of(width, depth, shape, classes)
    assert abs(serialized_bytes(graph, compact=True) - compact) <= 0.002 * compact
    e = estimate_of(width, depth, shape, classes, engine="tflm")
    # the closed formula's fitted overheads are within 90 B (bench/fit_tflite_size.py): 1 % or that
    assert abs(e.flash_bytes_est - compact) <= max(0.01 * compact, 100), (e.flash_bytes_est, compact)
    assert e.arena_bytes_est == measured.total_bytes and e.params == costs.params
    assert c_engine_costs(graph).arena_bytes == compile_model(flatbuffer).arena_bytes   # the C engine's arena, exact


def test_each_ranked_family_has_an_estimator_and_a_knob_record_of_its_searched_knobs():
    """`core.family` holds the facts, `solve.families` the estimators: they must describe the same families."""
    from tinyml_kit.core.family import FAMILIES, RANKED_NAMES
    from tinyml_kit.solve.families import ESTIMATORS, estimator, has_estimator

    assert set(ESTIMATORS) == set(RANKED_NAMES)
    for f in FAMILIES:
        assert has_estimator(f.name) == bool(f.ranked or f.alias_of), f.name
        if not f.ranked:
            continue
        assert f.record._fields == f.searched and f.searched[-1] == "depth"   # the solver builds records so
        assert set(f.axes) == set(f.searched) - {"depth"}
        knobs = dict(f.grid[0])
        e = estimator(f.name).estimate(f.configuration(knobs), (32, 32, 3), 10)
        assert (e.family, e.knobs()) == (f.name, knobs) and e.params > 0
    assert estimator("resnet8").family.name == "resnet"
