"""The per-layer kernel choice (`solve.kernel_choice`): generated kernels spend a flash allowance where they save
the most instructions per byte, CMSIS-NN's calls elsewhere; the code generator, the static plan and the flash
estimate follow the same choice, and a model with both kinds of kernel is bit-exact with LiteRT."""

import numpy as np

from tests.test_c_engine import assert_bit_exact, int8_model
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.solve.c_size import linked_flash, model_kernels
from tinyml_kit.solve.kernel_choice import ALWAYS_PER_BYTE

SMALL = 12   # 3x3 convolutions of 32-43 channels on a 2x2 map: ~1 KB of code each for ~36 k instructions


def _channels(n: int) -> int:
    """The small layers' widths differ, so no two share a generated function."""
    return 32 + n


def _graph() -> Graph:
    """A 1x1 convolution on 16x16x16 (a large saving per byte), then SMALL costly 3x3 convolutions on 2x2 maps."""
    tensors = [Tensor("in", (1, 16, 16, 16)), Tensor("w0", (32, 1, 1, 16), data_bytes=512),
               Tensor("a0", (1, 16, 16, 32))]
    ops = [Op("CONV_2D", (0, 1), (2,))]
    for n in range(SMALL):
        shape = (_channels(n + 1), 3, 3, _channels(n))
        tensors += [Tensor(f"w{n + 1}", shape, data_bytes=int(np.prod(shape))),
                    Tensor(f"a{n + 1}", (1, 2, 2, _channels(n + 1)))]
        ops.append(Op("CONV_2D", (len(tensors) - 3, len(tensors) - 2), (len(tensors) - 1,), 8 if n == 0 else 1, 3))
    return Graph("g", tensors, ops, 0, len(tensors) - 1)


def test_the_allowance_goes_to_the_layers_that_save_most_per_byte():
    graph = _graph()
    everything = model_kernels(graph, KernelFamily.DSP, allowance=10.0)
    assert all(k.generated for k in everything.values())
    cmsis_only = linked_flash(graph, KernelFamily.DSP, {i: k.__class__(k.kind, False, k.extra_bytes,
                                                                       k.saved_instructions)
                                                        for i, k in everything.items()})
    for allowance in (0.0, 0.03):
        chosen = model_kernels(graph, KernelFamily.DSP, allowance)
        assert chosen[0].generated and chosen[0].per_byte(chosen[0].extra_bytes) >= ALWAYS_PER_BYTE
        assert not all(k.generated for k in chosen.values()), "the small layers should not all fit"
        extra = linked_flash(graph, KernelFamily.DSP, chosen) - cmsis_only
        assert extra <= allowance * cmsis_only + chosen[0].extra_bytes   # beyond it only the layer always kept
    # on Helium cores no convolution has a generated kernel to choose
    assert model_kernels(graph, KernelFamily.MVE) == {}


def test_a_model_with_both_kernels_is_bit_exact_and_estimated_as_compiled(tmp_path):
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.solve.c_size import c_engine_costs

    def build(k, x):
        x = k.layers.Conv2D(32, 1, activation="relu")(x)
        x = k.layers.DepthwiseConv2D(3, strides=8, padding="same")(x)
        for n in range(SMALL):
            x = k.layers.Conv2D(_channels(n + 1), 3, padding="same", activation="relu")(x)
        return k.layers.Add()([x, k.layers.Conv2D(_channels(SMALL), 1)(x)])

    fb = int8_model(build, shape=(16, 16, 16))
    program = compile_model(fb, allowance=0.0)
    kernels = {s.op_index: s.kernel.kernel for s in program.steps if s.kernel is not None}
    assert set(kernels.values()) == {"generated", "cmsis_nn"}, kernels
    assert kernels[0] == "generated"
    assert any(f.name == "tinyml_conv_0" for f in program.functions)
    assert {m["op"]: m["kernel"] for m in program.memory_map.to_dict()["kernels"]} == kernels   # plan.json
    graph = read_graph(fb, "mixed")
    costs = c_engine_costs(graph, kernels=model_kernels(graph, KernelFamily.DSP, 0.0))
    assert (costs.constant_bytes, costs.arena_bytes) == (program.constant_bytes, program.arena_bytes)
    assert_bit_exact(fb, "CONV_2D", tmp_path, allowance=0.0)


def test_layers_sharing_a_function_pay_its_code_once():
    from tinyml_kit.solve.kernel_choice import candidate, choose

    # two identical depthwise layers (1,000 B of constants and 2,000 B of shared code each) and a lone one: with
    # room for 4,000 B the pair fits (3,000 + 1,000), the lone layer of equal saving per byte does not
    pair = [candidate("DEPTHWISE_CONV_2D", 3000, 60_000, 2000, ("dw", 1)) for _ in range(2)]
    lone = candidate("DEPTHWISE_CONV_2D", 3000, 60_000, 2000, ("dw", 2))
    chosen = choose({0: pair[0], 1: pair[1], 2: lone, 3: candidate("DEPTHWISE_CONV_2D", 5000, 1, 0, ("dw", 3))},
                    lambda kernels: 40_000, allowance=0.1)
    assert [chosen[i].generated for i in range(4)] == [True, True, False, False]
