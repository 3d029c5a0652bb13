"""Latency from cycles: the per-op cost model (groups, features, fit), the cycle budget a time limit becomes on
the emulated cores, the board's flash wait states on predicted data reads, and, on the emulated Cortex-M4F, a
solver choice whose estimated cycles keep the limit."""

import json
from dataclasses import replace

import numpy as np
import pytest
from test_cli import run

from tinyml_kit.core.boards import get_board
from tinyml_kit.core.budget import make_budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.core.latency import latency_ms_from_cycles
from tinyml_kit.core.timing import memory_timing
from tinyml_kit.solve.instructions import (
    FEATURES,
    QUANTITIES,
    OpCostModel,
    fit_instruction_model,
    instruction_model,
    op_features,
    op_group,
)
from tinyml_kit.solve.latency_estimate import estimate_latency


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


def test_the_fit_recovers_known_costs_of_every_quantity():
    rng = np.random.default_rng(0)
    truth = {"instructions": {"macs": 0.6, "outputs": 12.0, "ops": 900.0},
             "cycles": {"macs": 0.8, "outputs": 20.0, "ops": 1500.0},
             "flash_misses": {"macs": 0.01, "ops": 40.0}, "flash_loads": {"macs": 0.25, "outputs": 1.0}}
    ops = []
    for _ in range(40):
        f = dict.fromkeys(FEATURES, 0.0) | {"macs": float(rng.integers(1e3, 1e6)),
                                             "outputs": float(rng.integers(64, 1e4)), "ops": 1.0}
        ops.append({"group": "CONV_2D/1x1", "features": f,
                    **{q: sum(c * f[k] for k, c in truth[q].items()) for q in QUANTITIES}})
    model = OpCostModel.from_dict(fit_instruction_model("tflm", "m4", ops))
    assert model.has_cycles
    for q in QUANTITIES:
        coef = model.costs[q].groups["CONV_2D/1x1"]
        for k in ("macs", "outputs", "ops"):
            assert coef.get(k, 0.0) == pytest.approx(truth[q].get(k, 0.0), rel=1e-6, abs=1e-6), (q, k)
        assert coef.get("channels", 0.0) == pytest.approx(0.0, abs=1e-6)
    without = OpCostModel.from_dict(fit_instruction_model("tflm", "m4", [
        {k: v for k, v in op.items() if k not in QUANTITIES[1:]} for op in ops]))
    assert not without.has_cycles and set(without.costs) == {"instructions"}   # profiles from before cycles


def test_a_time_limit_is_a_cycle_budget_on_emulated_cores():
    nano = get_board("nano33-ble-sense")   # Cortex-M4F @ 64 MHz
    b = make_budget(nano, max_latency_ms=50)
    assert b.cycles == 64_000 * 50 and b.macs is None and b.latency_ms == 50
    assert "3,200,000 cycles" in b.notes["latency"] and "2 wait states" in b.notes["latency"]
    assert make_budget(nano, max_macs=1_000_000).cycles is None   # a MAC limit replaces the default time
    pico = make_budget(get_board("rpi-pico"))   # Cortex-M0+: no emulated core, time as MACs
    assert pico.cycles is None and pico.macs > 0 and "no emulated core" in pico.notes["macs"]
    assert latency_ms_from_cycles(12_000_000, 120) == pytest.approx(100.0)


def test_a_board_without_memory_data_gets_one_line():
    blind = replace(get_board("nucleo-f401re"), memory=None)
    for call in (lambda: make_budget(blind), lambda: estimate_latency(*_conv_graph(16, 32, 1)[:1], 1, blind)):
        with pytest.raises(UserError) as e:
            call()
        assert "nucleo-f401re" in str(e.value) and "\n" not in str(e.value)


def test_the_estimate_adds_the_boards_wait_states_on_predicted_flash_reads():
    g, _ = _conv_graph(16, 32, 1)
    f401 = get_board("nucleo-f401re")   # ART data cache, 16-B lines
    model = instruction_model("tflm", "m4")
    cycles, misses, loads = (sum(model.per_op(g, q)) for q in ("cycles", "flash_misses", "flash_loads"))
    art = memory_timing(f401)
    assert art.lines and art.wait_states == 2
    lat = estimate_latency(g, 8 * 8 * 32 * 16, f401)
    assert lat.cycles == pytest.approx(cycles + 2 * misses, abs=len(g.ops))
    assert lat.ms == pytest.approx(lat.cycles / 84e3)
    nano = get_board("nano33-ble-sense")   # instruction cache only, left off: every flash data read waits
    assert memory_timing(nano).lines == 0
    assert estimate_latency(g, 1, nano).cycles == pytest.approx(cycles + 2 * loads, abs=len(g.ops))
    l4 = get_board("nucleo-l4r5zi")   # ART with 8-B lines: twice the reference cache's misses
    assert memory_timing(l4).wait_cycles(misses, loads) == pytest.approx(5 * misses * 2)
    assert memory_timing(get_board("stm32n6570-dk")).wait_cycles(misses, loads) == 0   # no internal flash


def test_shipped_models_cover_the_emulated_cores():
    for core in ("m4", "m7", "m33", "m55"):
        model = instruction_model("tflm", core)
        assert model is not None and model.has_cycles and "CONV_2D/1x1" in model.costs["cycles"].groups
    g, _ = _conv_graph(16, 32, 1)
    lat = estimate_latency(g, 8 * 8 * 32 * 16, get_board("nano33-ble-sense"))
    assert lat.basis == "cycles" and lat.instructions == sum(lat.per_op) > 0 and lat.cycles == sum(lat.per_op_cycles)
    assert estimate_latency(g, 8 * 8 * 32 * 16, get_board("rpi-pico")).basis == "macs"


@pytest.mark.slow
def test_solve_max_latency_picks_a_model_whose_plugin_cycles_keep_the_limit(tmp_path):
    """On the default board (Cortex-M4F @ 64 MHz): the choice, built, converted and run under QEMU with CMSIS-NN
    kernels and the board's flash timing, takes at most the limit in the plugin's cycle estimate."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.firmware import ModelSource
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    board = get_board("nano33-ble-sense")
    result = run("solve", "--board", board.id, "--max-latency-ms", "150", "--engine", "tflm", "--json")
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.output)
    assert chosen["latency_basis"] == "cycles" and chosen["latency_ms_est"] <= 150
    knobs = {k: chosen[k] for k in ("alpha", "beta", "t0", "depth") if k in chosen}
    model = build(chosen["family"], (32, 32, 3), 10, **knobs)
    look_trained(model)
    rng = np.random.default_rng(0)
    flatbuffer = quantize_int8(model, calibration_images(rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)))
    arena = measure_arena(flatbuffer)
    info = read_model(flatbuffer)
    src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes)
    images = rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    v = verify_model(src, images, board, kernels="cmsis_nn", engine="tflm", memory=memory_timing(board))
    assert v.cycles.latency_ms <= 150, (chosen, v.cycles)
    assert abs(v.cycles.cycles_est / chosen["cycles_est"] - 1) < 0.15


def test_analyze_predicts_instructions_per_op_and_latency_on_the_board(tiny_model):
    _, path = tiny_model
    result = run("analyze", path, "--board", "nano33-ble-sense", "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    per_op = [row["instructions_est"] for row in r["layers"]]
    assert all(n is not None and n >= 0 for n in per_op) and sum(per_op) == r["instructions_est"] > 0
    assert r["instructions_core"] == "Cortex-M4F" and r["latency_basis"] == "cycles"
    assert sum(row["cycles_est"] for row in r["layers"]) == r["cycles_est"] > 0
    assert sum(row["latency_ms_est"] for row in r["layers"]) == pytest.approx(r["latency_ms_est"], abs=0.01)
    assert r["latency_ms_est"] == pytest.approx(latency_ms_from_cycles(r["cycles_est"], 64), abs=0.01)
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
    budget = 20_000_000
    slow = over_time(items, (32, 32, 3), 10, board, "tflm", budget)

    def cycles(s) -> int:
        graph, costs = s.graph((32, 32, 3), 10)
        return estimate_latency(graph, costs.macs, board).cycles

    brute = {i for i, s in enumerate(items) if cycles(s) > budget}
    assert slow == brute and 0 < len(slow) < len(items)

    # the C engine's screen predicts each op on its faster kernel: a lower bound, so it drops only what misses
    # with the per-layer kernel choice made, and keeps some of what does
    fast_board, c_budget = get_board("nucleo-l4r5zi"), 3_000_000
    bound, chosen = [], []
    for s in items:
        graph, costs = s.graph((32, 32, 3), 10)
        bound.append(estimate_latency(graph, costs.macs, fast_board, "c", fastest=True).cycles)
        chosen.append(estimate_latency(graph, costs.macs, fast_board, "c").cycles)
    assert all(b <= c for b, c in zip(bound, chosen, strict=True)) and bound != chosen
    slow_c = over_time(items, (32, 32, 3), 10, fast_board, "c", c_budget)
    assert slow_c == {i for i, b in enumerate(bound) if b > c_budget}
    assert slow_c <= {i for i, c in enumerate(chosen) if c > c_budget} and 0 < len(slow_c) < len(items)


def test_cycles_of_a_core_never_checked_against_published_counts_say_so():
    """The M7's and M55's tables come from compilers' scheduling models only: every printed figure says so; the M4F's
    and M33's were checked (bench/cycle_model.py), and a core without an emulated stand-in has no cycles at all."""
    from tinyml_kit.core.timing import not_validated

    assert "not validated" in not_validated("Cortex-M7") and "not validated" in not_validated("Cortex-M55")
    assert not_validated("Cortex-M4F") == not_validated("Cortex-M33") == not_validated("Cortex-M0+") == ""


def test_generated_kernels_are_costed_by_what_their_code_computes():
    """On the DSP family the C engine's convolutions are their own groups, their MACs as the generated blocks run
    them (kernel rows padded to whole words), the depthwise ones' over the valid taps only; Helium builds and
    TFLM keep CMSIS-NN's groups."""
    from tinyml_kit.core.cores import KernelFamily
    from tinyml_kit.solve.conv_layout import graph_layout

    g, op = _conv_graph(3, 16, 3)
    assert op_group(g, op, KernelFamily.DSP) == "CONV_2D/gen"
    assert op_group(g, op, KernelFamily.MVE) == op_group(g, op) == "CONV_2D/kxk/odd"
    f, layout = op_features(g, op, KernelFamily.DSP), graph_layout(g, op)
    assert f["macs"] + f["tail_macs"] == 8 * 8 * 16 * 3 * layout.padded_window_row > op_features(g, op)["macs"]
    assert f["ldr_macs"] == f["macs"] > 0 and f["outputs"] == 8 * 8 * 16
    g, op = _conv_graph(6, 6, 3, depthwise=True)
    f = op_features(g, op, KernelFamily.DSP)
    valid = sum(min(y + 2, 8) - max(y - 1, 0) for y in range(8)) ** 2   # taps inside the 8 x 8 input, SAME
    assert op_group(g, op, KernelFamily.DSP) == "DEPTHWISE_CONV_2D/gen"
    assert (f["macs"], f["tail_macs"]) == (valid * 4, valid * 2)
    assert f["edge_outputs"] == (64 - 36) * 6
    for core in ("m4", "m7", "m33"):
        model = instruction_model("c", core)
        assert model is not None and model.family is KernelFamily.DSP
        assert {"CONV_2D/gen", "DEPTHWISE_CONV_2D/gen"} <= set(model.costs["cycles"].groups)


def test_convolutions_whose_weights_the_build_copies_to_ram_are_costed_reading_them_there():
    """A generated convolution with its weights in RAM is a group of its own reading no flash lines for them; a
    graph is estimated faster where the board's RAM takes its weights than where none is left for them, and the
    screen's bound stays below both."""
    from tinyml_kit.core.cores import KernelFamily
    from tinyml_kit.solve.latency_estimate import ram_weight_convs

    g, op = _conv_graph(32, 64, 3)
    flash, ram = op_features(g, op, KernelFamily.DSP), op_features(g, op, KernelFamily.DSP, in_ram=True)
    assert op_group(g, op, KernelFamily.DSP, in_ram=True) == "CONV_2D/gen/ram"
    assert flash["weight_lines"] > 0 and ram["weight_lines"] == ram["streamed_lines"] == 0
    assert ram["macs"] + ram["tail_macs"] == flash["macs"] + flash["tail_macs"]
    board = get_board("nucleo-l4r5zi")
    model = instruction_model("c", "m4")
    assert model is not None and ram_weight_convs(model, g, 2**20) == {0} and not ram_weight_convs(model, g, 1)
    in_ram, in_flash = (estimate_latency(g, 1, board, "c", ram_bytes=ram) for ram in (2**20, 1))
    bound = estimate_latency(g, 1, board, "c", fastest=True)
    assert bound.cycles <= in_ram.cycles < in_flash.cycles


def test_the_screens_search_is_exact_from_any_start_and_short_from_a_good_one():
    """`fitting_prefix` finds how many lead members fit whatever member it starts from; started at the last one that
    fits, it asks twice."""
    from tinyml_kit.solve.time_screen import fitting_prefix

    for n in range(0, 12):
        for fitting in range(n + 1):
            for start in range(-2, n + 2):
                asked: list[int] = []
                assert fitting_prefix(n, lambda k, asked=asked, fitting=fitting: asked.append(k) or k < fitting,
                                      start) == fitting
                assert all(0 <= k < n for k in asked) and len(asked) == len(set(asked))
    asked = []
    assert fitting_prefix(30, lambda k: asked.append(k) or k < 17, 16) == 17 and asked == [16, 17]
