"""The C engine planned for CMSIS-NN's Helium (MVE) kernels (Cortex-M55): every scratch buffer exactly what the MVE
build asks, by CMSIS-NN's own `*_mve` size functions compiled on the host; the solver's estimate equal to the
plan; the generated C built only for the family it was planned for. Bit-exactness on the emulated M55 is
`test_cores.py`'s."""

import json

from test_c_engine import int8_model

from tinyml_kit.core.cores import CORES, KernelFamily, kernel_family
from tinyml_kit.core.tflite_info import read_graph

MVE, DSP = KernelFamily.MVE, KernelFamily.DSP


def _mixed(k, x):
    """One input channel (the MVE depthwise kernel runs it as a convolution), 3x3 and strided 1x1 convolutions, a
    5x5 depthwise, an average pool and a dense layer: each kernel whose scratch differs between the families."""
    x = k.layers.DepthwiseConv2D(3, depth_multiplier=4, padding="same", activation="relu")(x)
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = k.layers.Conv2D(12, 1, strides=2, activation="relu")(x)
    x = k.layers.DepthwiseConv2D(5, padding="same", activation="relu")(x)
    x = k.layers.AveragePooling2D(2)(x)
    return k.layers.Dense(10)(k.layers.Flatten()(x))


def test_the_helium_plan_is_what_cmsis_nn_asks_and_the_estimate_is_the_plan(tmp_path):
    from tinyml_kit.check.c_scratch import family_scratch_sizes
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir
    from tinyml_kit.solve.c_size import c_engine_costs

    fb = int8_model(_mixed, shape=(12, 12, 1))
    programs = {family: compile_model(fb, family=family) for family in KernelFamily}
    sizes = family_scratch_sizes(programs[MVE], find_cmsis_nn_dir())
    # the per-channel dense layer is generated (`engine.dense`), not a CMSIS-NN call asking for scratch
    assert {s.kind for s in sizes} == {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"}
    assert all(s.planned == s.asked for s in sizes), sizes   # not a byte less, not a byte more
    dsp = {s.op: s.planned for s in family_scratch_sizes(programs[DSP], find_cmsis_nn_dir())}
    assert any(dsp[s.op] != s.planned for s in sizes)   # the families differ on this graph
    for family, program in programs.items():
        assert c_engine_costs(read_graph(fb), family).arena_bytes == program.arena_bytes
        out = tmp_path / family.value
        out.mkdir()
        program.write(out, [str(i) for i in range(10)])
        assert json.loads((out / "plan.json").read_text())["kernel_family"] == family.value
        guard = "#if !defined(ARM_MATH_MVEI)" if family is MVE else "#if defined(ARM_MATH_MVEI)"
        assert guard in (out / "tinyml_model.c").read_text()


def test_the_board_core_names_the_kernel_family():
    assert kernel_family("Cortex-M55") is MVE and CORES["m55"].family is MVE and CORES["m55"].mve
    assert kernel_family("Cortex-M4F") is DSP and kernel_family(None) is DSP and not CORES["m33"].mve


def test_the_solver_estimates_the_c_engine_on_an_m55_board_with_its_helium_plan():
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.solve.c_size import c_engine_costs
    from tinyml_kit.solve.estimate import estimate_tinynet
    from tinyml_kit.solve.tinynet_graph import tinynet_graph

    graph = tinynet_graph(0.5, 2, (32, 32, 3), 10)
    on = {board: estimate_tinynet(0.5, 2, (32, 32, 3), 10, "c", get_board(board)).arena_bytes_est
          for board in ("stm32n6570-dk", "nucleo-f401re")}
    assert on == {"stm32n6570-dk": c_engine_costs(graph, MVE).arena_bytes,
                  "nucleo-f401re": c_engine_costs(graph).arena_bytes}
    assert on["stm32n6570-dk"] != on["nucleo-f401re"]
