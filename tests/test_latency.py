"""Latency from instructions: the per-op instruction model (groups, features, fit), the budget it turns a time
limit into, and, on the emulated Cortex-M4F, a solver choice whose measured instructions keep the limit."""

import json

import numpy as np
import pytest
from test_cli import run

from tinyml_kit.core.boards import get_board
from tinyml_kit.core.budget import make_budget
from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.core.latency import CYCLES_PER_INSTRUCTION, latency_ms_from_instructions
from tinyml_kit.solve.instructions import (
    FEATURES,
    InstructionModel,
    estimate_latency,
    fit_instruction_model,
    instruction_model,
    op_features,
    op_group,
)


def _conv_graph(c_in: int, c_out: int, kernel: int, depthwise: bool = False) -> tuple[Graph, Op]:
    weights = (1, kernel, kernel, c_out) if depthwise else (c_out, kernel, kernel, c_in)
    g = Graph("g", [Tensor("x", (1, 8, 8, c_in)), Tensor("w", weights, data_bytes=1), Tensor("y", (1, 8, 8, c_out))])
    op = Op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", (0, 1), (2,), 1, kernel)
    g.ops.append(op)
    return g, op


def test_ops_are_grouped_by_the_kernel_cmsis_nn_runs():
    assert op_group(*_conv_graph(16, 32, 1)) == "CONV_2D/1x1"
    assert op_group(*_conv_graph(3, 16, 3)) == "CONV_2D/kxk/odd"
    assert op_group(*_conv_graph(16, 16, 3, depthwise=True)) == "DEPTHWISE_CONV_2D/3x3"
    assert op_group(*_conv_graph(8, 16, 3, depthwise=True)) == "DEPTHWISE_CONV_2D/mult"
    f = op_features(*_conv_graph(16, 32, 3))
    assert f["macs"] == 8 * 8 * 32 * 3 * 3 * 16 and f["im2col"] == 64 * 3 * 3 * 16
    assert f["outputs"] == 8 * 8 * 32 and f["pixels"] == 64 and f["channels"] == 32 and f["ops"] == 1


def test_the_fit_recovers_known_costs():
    rng = np.random.default_rng(0)
    truth = {"macs": 0.6, "outputs": 12.0, "ops": 900.0}
    ops = []
    for _ in range(40):
        f = dict.fromkeys(FEATURES, 0.0) | {"macs": float(rng.integers(1e3, 1e6)),
                                             "outputs": float(rng.integers(64, 1e4)), "ops": 1.0}
        ops.append({"group": "CONV_2D/1x1", "features": f, "instructions": sum(truth[k] * f[k] for k in truth)})
    model = InstructionModel(**fit_instruction_model("tflm", "m4", ops))
    for k, v in truth.items():
        assert model.groups["CONV_2D/1x1"][k] == pytest.approx(v, rel=1e-6)
    assert model.groups["CONV_2D/1x1"].get("channels", 0.0) == pytest.approx(0.0, abs=1e-6)


def test_a_time_limit_is_an_instruction_budget_on_emulated_cores():
    nano = get_board("nano33-ble-sense")   # Cortex-M4F @ 64 MHz
    b = make_budget(nano, max_latency_ms=50)
    assert b.instructions == int(64e6 * 0.05 / CYCLES_PER_INSTRUCTION["Cortex-M4F"]) and b.macs is None
    assert "instructions" in b.notes["latency"] and b.latency_ms == 50
    assert make_budget(nano, max_macs=1_000_000).instructions is None   # a MAC limit replaces the default time
    pico = make_budget(get_board("rpi-pico"))   # Cortex-M0+: no emulated core, time as MACs
    assert pico.instructions is None and pico.macs > 0 and "no emulated core" in pico.notes["macs"]
    # the M33 anchor: ResNet-8's 30.6 M instructions at 200 MHz take MLPerf Tiny's measured 246.2 ms
    assert latency_ms_from_instructions(30_613_150, "Cortex-M33", 200) == pytest.approx(246.2, abs=0.1)


def test_shipped_models_cover_the_emulated_cores():
    for core in ("m4", "m7", "m33", "m55"):
        model = instruction_model("tflm", core)
        assert model is not None and "CONV_2D/1x1" in model.groups and "DEPTHWISE_CONV_2D/3x3" in model.groups
    g, _ = _conv_graph(16, 32, 1)
    lat = estimate_latency(g, 8 * 8 * 32 * 16, "Cortex-M4F", 64)
    assert lat.basis == "instructions" and lat.instructions == sum(lat.per_op) > 0
    assert estimate_latency(g, 8 * 8 * 32 * 16, "Cortex-M0+", 133).basis == "macs"


@pytest.mark.slow
def test_solve_max_latency_picks_a_model_whose_measured_instructions_keep_the_limit(tmp_path):
    """On the default board (Cortex-M4F @ 64 MHz): the choice, built, converted and run under QEMU with CMSIS-NN
    kernels, takes at most the limit at the documented cycles per instruction."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.firmware import ModelSource
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    board = get_board("nano33-ble-sense")
    result = run("solve", "--board", board.id, "--max-latency-ms", "150", "--json")
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.output)
    assert chosen["latency_basis"] == "instructions" and chosen["latency_ms_est"] <= 150
    knobs = {k: chosen[k] for k in ("alpha", "beta", "t0", "depth") if k in chosen}
    model = build(chosen["family"], (32, 32, 3), 10, **knobs)
    look_trained(model)
    rng = np.random.default_rng(0)
    flatbuffer = quantize_int8(model, calibration_images(rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)))
    arena = measure_arena(flatbuffer)
    info = read_model(flatbuffer)
    src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes)
    images = rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    v = verify_model(src, images, board, kernels="cmsis_nn")
    measured_ms = latency_ms_from_instructions(v.instructions_per_inference, board.core, board.clock_mhz)
    assert measured_ms <= 150, (chosen, v.instructions_per_inference)
    assert abs(v.instructions_per_inference / chosen["instructions_est"] - 1) < 0.15


def test_analyze_predicts_instructions_per_op_and_latency_on_the_board(tiny_model):
    _, path = tiny_model
    result = run("analyze", path, "--board", "nano33-ble-sense", "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    per_op = [row["instructions_est"] for row in r["layers"]]
    assert all(n is not None and n >= 0 for n in per_op) and sum(per_op) == r["instructions_est"] > 0
    assert r["instructions_core"] == "Cortex-M4F" and r["latency_basis"] == "instructions"
    assert sum(row["latency_ms_est"] for row in r["layers"]) == pytest.approx(r["latency_ms_est"], abs=0.01)
    assert r["latency_ms_est"] == pytest.approx(latency_ms_from_instructions(r["instructions_est"], "Cortex-M4F", 64),
                                                abs=0.01)
    pico = json.loads(run("analyze", path, "--board", "rpi-pico", "--json").output)
    assert pico["instructions_est"] is None and pico["latency_basis"] == "macs"


def test_the_time_screen_drops_exactly_the_configurations_over_the_budget():
    """Bisection per series finds the same widest configuration as predicting every width."""
    from types import SimpleNamespace

    from tinyml_kit.core.family import PhiNetKnobs, WidthDepth
    from tinyml_kit.solve.estimate import phinet_graph_and_costs, resnet_graph_and_costs
    from tinyml_kit.solve.time_screen import over_time

    board = get_board("nano33-ble-sense")
    items = [SimpleNamespace(family="resnet", knobs=WidthDepth(w, d), structure=(), graph=lambda shape, classes, w=w,
                             d=d: resnet_graph_and_costs(w, d, shape, classes))
             for w in (0.25, 0.375, 0.5, 0.75, 1.0) for d in (1, 2)]
    items += [SimpleNamespace(family="phinet", knobs=PhiNetKnobs(a, 1.0, 4, 4), structure=(), graph=lambda shape,
                              classes, a=a: phinet_graph_and_costs(a, 1.0, 4, 4, shape, classes))
              for a in (0.2, 0.4, 0.6, 0.8)]
    budget = 12_000_000
    slow = over_time(items, (32, 32, 3), 10, board, "tflm", budget)

    def instructions(s) -> int:
        graph, costs = s.graph((32, 32, 3), 10)
        return estimate_latency(graph, costs.macs, board.core, board.clock_mhz).instructions

    brute = {i for i, s in enumerate(items) if instructions(s) > budget}
    assert slow == brute and 0 < len(slow) < len(items)
