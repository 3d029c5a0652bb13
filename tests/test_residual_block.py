"""Residual blocks run row by row (`solve.residual_block`, `engine.residual`): a small random-weight residual
network with an identity block, a strided block with a 1x1 shortcut (both written over their input) and a block
whose output rows outgrow its input's (written beside it) is bit-exact with LiteRT, and the static plan of its
graph is the compiled plan."""

import json

import numpy as np
import pytest
from test_c_engine import int8_model, run_c

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.tflite_info import read_graph

# A flash allowance that makes every layer of the small net run generated: its ADD tables (2 KB each) would not
# pay for themselves on 11x11 maps within the default one, and a block is fused only where its layers are generated.
ALL = 1.0


def _residual_net(k, x):
    conv = k.layers.Conv2D
    x = conv(8, 3, padding="same", activation="relu")(x)
    y = conv(8, 3, padding="same", activation="relu")(x)
    x = k.layers.ReLU()(k.layers.Add()([conv(8, 3, padding="same")(y), x]))            # identity
    y = conv(12, 3, strides=2, padding="same", activation="relu")(x)
    x = k.layers.Add()([conv(12, 3, padding="same")(y), conv(12, 1, strides=2)(x)])      # strided, 1x1 shortcut
    y = conv(16, 3, padding="same", activation="relu")(x)
    x = k.layers.Add()([conv(16, 3, padding="same")(y), conv(16, 1)(x)])                 # rows outgrow the input's
    return k.layers.Dense(10)(k.layers.GlobalAveragePooling2D()(x))


@pytest.fixture(scope="module")
def residual_net() -> bytes:
    return int8_model(_residual_net, shape=(11, 11, 3))


def test_residual_blocks_run_row_by_row_bit_exact_and_as_planned(residual_net, tmp_path):
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.solve.c_size import model_kernels
    from tinyml_kit.solve.residual_block import residual_blocks
    from tinyml_kit.solve.static_plan import plan_graph

    fb = residual_net
    graph = read_graph(fb)
    kernels = model_kernels(graph, KernelFamily.DSP, ALL)
    blocks = residual_blocks(graph, kernels)
    assert [b.shortcut is None for b in blocks] == [True, False, False]
    assert [b.in_place for b in blocks] == [True, True, False]
    program = compile_model(fb, allowance=ALL)
    fused = [s for s in program.steps if s.kind == "RESIDUAL_BLOCK"]
    assert len(fused) == 3
    assert plan_graph(graph, KernelFamily.DSP, kernels).arena_bytes == program.arena_bytes
    for block, step in zip(blocks, fused, strict=True):
        same = program.plan.offset_of(step.inputs[0]) == program.plan.offset_of(step.output)
        assert same == block.in_place
    rng = np.random.default_rng(1)
    images = rng.integers(-128, 128, (40, 11, 11, 3), dtype=np.int8)
    expected = LiteRtModel(fb).predict(images)
    got = run_c(fb, images, tmp_path, allowance=ALL)
    assert np.array_equal(got, expected), f"max diff {np.abs(got.astype(int) - expected).max()}"
    assert len(np.unique(expected)) > 3
    plan = json.loads((tmp_path / "plan.json").read_text())
    order = plan["execution_order"]
    assert {b.add for b in blocks} <= set(order) and not {b.first for b in blocks} & set(order)
    listed = {k["op"]: k["kernel"] for k in plan["kernels"]}   # a block's layers, each on its generated kernel
    assert all(listed[i] == "generated" for b in blocks for i in b.ops)


def test_blocks_fuse_only_where_their_layers_run_generated(residual_net):
    """CMSIS-NN's calls are whole-layer: no block is fused on Helium cores (CMSIS-NN's MVE convolutions), nor where
    the kernel choice leaves one of its layers on CMSIS-NN."""
    from dataclasses import replace

    from tinyml_kit.solve.c_size import model_kernels
    from tinyml_kit.solve.residual_block import residual_blocks

    graph = read_graph(residual_net)
    assert residual_blocks(graph, model_kernels(graph, KernelFamily.MVE)) == []
    kernels = model_kernels(graph, KernelFamily.DSP, ALL)
    first = residual_blocks(graph, kernels)[0]
    for op in (first.first, first.add):
        fewer = {**kernels, op: replace(kernels[op], generated=False)}
        assert [b.add for b in residual_blocks(graph, fewer)] == [b.add for b in residual_blocks(graph, kernels)][1:]


def test_residual_blocks_read_weights_widened_into_ram_bit_exact(residual_net, tmp_path):
    """With RAM to spare every convolution, the blocks' row kernels too, reads its weights as the int16 stream
    copied at start-up (the portable C of it on the host)."""
    from tinyml_kit.engine.codegen import compile_model

    program = compile_model(residual_net, ram_bytes=2**20, allowance=ALL)
    fused = [s for s in program.steps if s.kind == "RESIDUAL_BLOCK"]
    assert fused and all(any(a.ram_ctype == "int16_t" for a in s.arrays) for s in fused)
    assert program.arena_bytes == compile_model(residual_net, allowance=ALL).arena_bytes
    images = np.random.default_rng(1).integers(-128, 128, (20, 11, 11, 3), dtype=np.int8)
    expected = LiteRtModel(residual_net).predict(images)
    got = run_c(residual_net, images, tmp_path, ram_bytes=2**20, allowance=ALL)
    assert np.array_equal(got, expected), f"max diff {np.abs(got.astype(int) - expected).max()}"
