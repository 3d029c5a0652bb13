"""The ops a user's CNN ends or branches with (SOFTMAX, CONCATENATION, ...) on the C engine, each against LiteRT's
reference kernels on a small random graph (`test_c_engine.assert_bit_exact`)."""

import numpy as np
import pytest
from test_c_engine import assert_bit_exact, bit_exact_on_the_m4, int8_model


def test_softmax_after_dense(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Softmax()(k.layers.Dense(10)(k.layers.Flatten()(x))), shape=(4, 4, 2))
    assert_bit_exact(fb, "SOFTMAX", tmp_path)


def test_softmax_over_the_channels_of_every_pixel(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Softmax()(k.layers.Conv2D(6, 3, padding="same")(x)), shape=(5, 5, 3))
    assert_bit_exact(fb, "SOFTMAX", tmp_path)


CONCATS = {   # name: (build, input shape, inputs the plan should put inside the output instead of copying)
    "channels": (lambda k, x: k.layers.Concatenate()([k.layers.Conv2D(4, 1)(x),
                                                      k.layers.Conv2D(3, 3, padding="same")(x)]), (6, 6, 3), 0),
    "height": (lambda k, x: k.layers.Concatenate(axis=1)([k.layers.Conv2D(4, 1)(x),
                                                          k.layers.Conv2D(4, 3, strides=(2, 1), padding="same")(x)]),
               (6, 6, 3), 2),
    "pooled_channels": (lambda k, x: k.layers.Concatenate()([k.layers.AveragePooling2D(6)(x),
                                                             k.layers.MaxPooling2D(6)(x)]),
                        (6, 6, 8), 2),
    "features": (lambda k, x: k.layers.Concatenate()([k.layers.Flatten()(k.layers.Conv2D(2, 1)(x)),
                                                      k.layers.Flatten()(k.layers.AveragePooling2D(4)(x)),
                                                      k.layers.Flatten()(k.layers.Conv2D(1, 1)(x))]),
                 (4, 4, 2), 2),
}


def assert_estimated_plan_is_exact(flatbuffer: bytes, arena_bytes: int) -> None:
    """The plan the estimators make from the graph alone (`solve.c_size.c_engine_costs`) is the compiled one."""
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.solve.c_size import c_engine_costs

    assert c_engine_costs(read_graph(flatbuffer)).arena_bytes == arena_bytes


@pytest.mark.parametrize("first, second, both", [(3, 2, False), (2, 3, True)])
def test_a_concatenated_input_is_placed_in_its_output_only_where_no_live_bytes_clash(first, second, both):
    """t1 feeds t2 and, dying, a convolution writing t3 from 16 bytes before it; t4 = concat(first, second). With
    t3 first, t1's bytes land where t2 (alive with t1) would go: t2 is copied. With t2 first, both are placed."""
    from tinyml_kit.solve.static_plan import PlanOp, _plan

    sizes = {0: 32, 1: 32, 2: 32, 3: 32, 4: 64}
    ops = [PlanOp((0,), 1), PlanOp((1,), 2), PlanOp((1,), 3, overlap=16),
           PlanOp((first, second), 4, placed=((first, 0), (second, 32)))]
    p = _plan(sizes, ops, [0, 1, 2, 3], 0, 4, 1.0)
    assert p.offset_of(first) == p.offset_of(4) and p.offset_of(1) == p.offset_of(3) + 16
    assert (p.offset_of(second) == p.offset_of(4) + 32) == both


@pytest.mark.parametrize("name", CONCATS)
def test_concatenation(name, tmp_path):
    """Copies where the inputs interleave in the output; where one is a contiguous, aligned run of it, none: its
    producer writes it in place (the third 'features' input starts at byte 34, so it is copied)."""
    from tinyml_kit.engine.codegen import compile_model

    build, shape, zero_copy = CONCATS[name]
    fb = int8_model(build, shape=shape)
    program = compile_model(fb)
    step = next(s for s in program.steps if s.kind == "CONCATENATION")
    assert len(step.code) == len(program.model.ops[step.op_index].inputs) - zero_copy, step.code
    in_output = {b.name for b in program.memory_map.buffers if b.alias_of == f"tensor_{step.output}"}
    assert in_output == {f"tensor_{t}" for t in step.inside} and len(in_output) == zero_copy   # plan.json says so
    assert_estimated_plan_is_exact(fb, program.arena_bytes)
    assert_bit_exact(fb, "CONCATENATION", tmp_path)


def residual_cnn(k, x):
    """A plain Keras functional CNN: a residual ADD, a two-branch CONCATENATION, pooling, Dense and Softmax."""
    y = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = k.layers.Add()([y, k.layers.Conv2D(8, 3, padding="same")(y)])
    y = k.layers.Concatenate()([k.layers.Conv2D(4, 1, activation="relu")(y),
                                k.layers.Conv2D(4, 3, padding="same", activation="relu")(y)])
    y = k.layers.GlobalAveragePooling2D()(k.layers.MaxPooling2D(2)(y))
    return k.layers.Softmax()(k.layers.Dense(10)(y))


RESIDUAL_CNN_OPS = {"CONV_2D", "ADD", "CONCATENATION", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}


@pytest.fixture(scope="module")
def residual_cnn_tflite(tmp_path_factory):
    from tinyml_kit.core.tflite_info import read_model

    fb = int8_model(residual_cnn, shape=(12, 12, 3))
    assert RESIDUAL_CNN_OPS <= set(read_model(fb).ops)
    path = tmp_path_factory.mktemp("cnn") / "residual_cnn.tflite"
    path.write_bytes(fb)
    return path


def test_a_keras_residual_cnn_is_bit_exact_on_the_host(residual_cnn_tflite, tmp_path):
    from tinyml_kit.engine.codegen import compile_model

    fb = residual_cnn_tflite.read_bytes()
    assert_estimated_plan_is_exact(fb, compile_model(fb).arena_bytes)
    assert_bit_exact(fb, "SOFTMAX", tmp_path)


def test_export_and_check_take_the_residual_cnn_with_the_c_engine(residual_cnn_tflite, tmp_path):
    """`export --engine c` writes it; `check --engine c` on the bare .tflite (no data: random images) builds it
    for this machine and finds it equal to LiteRT, and TFLM too."""
    import json

    from test_cli import run

    result = run("export", residual_cnn_tflite, "--engine", "c", "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert "arm_softmax_s8(" in (tmp_path / "c" / "tinyml_model.c").read_text()
    result = run("check", residual_cnn_tflite, "--engine", "c", "--json")
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["c_equals_litert"] and checked["litert_equals_tflm"] and checked["c_images"] > 0




def _two_branches(k, x):
    return k.layers.Conv2D(4, 1)(x), k.layers.Conv2D(4, 3, padding="same", activation="relu")(x)


BINARY = {
    "SUB": lambda k, x: k.layers.Subtract()(list(_two_branches(k, x))),
    "SUB_per_channel": lambda k, x: k.layers.Subtract()(
        [k.layers.Conv2D(4, 1)(x), k.layers.GlobalAveragePooling2D(keepdims=True)(k.layers.Conv2D(4, 3)(x))]),
    "MAXIMUM": lambda k, x: k.layers.Maximum()(list(_two_branches(k, x))),
    "MINIMUM": lambda k, x: k.layers.Minimum()(list(_two_branches(k, x))),
}


@pytest.mark.parametrize("name", BINARY)
def test_sub_maximum_minimum(name, tmp_path):
    from tinyml_kit.engine.codegen import compile_model

    fb = int8_model(BINARY[name], shape=(6, 6, 3))
    assert_estimated_plan_is_exact(fb, compile_model(fb).arena_bytes)
    assert_bit_exact(fb, name.split("_")[0], tmp_path)


def _tf():
    from tinyml_kit._tf import tf

    return tf()


MOVES = {   # name: (op, build)
    "slice": ("STRIDED_SLICE", lambda k, x: k.layers.Conv2D(6, 1)(x)[:, 1:5:2, ::-1, 1:5]),
    "slice_shrink": ("STRIDED_SLICE", lambda k, x: k.layers.Conv2D(6, 1)(x)[:, 2, 1:, :]),
    "transpose": ("TRANSPOSE", lambda k, x: _tf().transpose(k.layers.Conv2D(4, 1)(x), [0, 2, 1, 3])),
    "upsampling": ("RESIZE_NEAREST_NEIGHBOR", lambda k, x: k.layers.UpSampling2D(2)(k.layers.Conv2D(4, 1)(x))),
    "resize_corners": ("RESIZE_NEAREST_NEIGHBOR", lambda k, x: _tf().compat.v1.image.resize_nearest_neighbor(
        k.layers.Conv2D(4, 1)(x), (9, 7), align_corners=True)),
}


@pytest.mark.parametrize("name", MOVES)
def test_data_movement(name, tmp_path):
    from tinyml_kit.engine.codegen import compile_model

    op, build = MOVES[name]
    fb = int8_model(build, shape=(6, 5, 3))
    assert_estimated_plan_is_exact(fb, compile_model(fb).arena_bytes)
    assert_bit_exact(fb, op, tmp_path)


def _every_new_op(k, x):
    """The residual CNN's ADD and CONCATENATION, then SUB, MAXIMUM, MINIMUM, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR and
    STRIDED_SLICE, and its pooling, Dense and Softmax: one graph, so one firmware per engine."""
    y = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = k.layers.Add()([y, k.layers.Conv2D(8, 3, padding="same")(y)])
    y = k.layers.Concatenate()([k.layers.Conv2D(4, 1, activation="relu")(y),
                                k.layers.Conv2D(4, 3, padding="same", activation="relu")(y)])
    a, b = _two_branches(k, k.layers.MaxPooling2D(2)(y))
    y = k.layers.Minimum()([k.layers.Maximum()([k.layers.Subtract()([a, b]), a]), b])
    y = k.layers.UpSampling2D(2)(_tf().transpose(y, [0, 2, 1, 3]))[:, 1:9:2, ::-1, :]
    return k.layers.Softmax()(k.layers.Dense(10)(k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 1)(y))))


@pytest.mark.slow
def test_a_cnn_with_every_new_op_is_bit_exact_on_the_emulated_cortex_m4():
    """The C engine's firmware and TFLM's with CMSIS-NN kernels (whose SOFTMAX, MAXIMUM, MINIMUM and TRANSPOSE
    are CMSIS-NN's), both equal to LiteRT's reference kernels."""
    from tinyml_kit.core.tflite_info import read_model

    fb = int8_model(_every_new_op, shape=(12, 10, 3))
    assert RESIDUAL_CNN_OPS | {"SUB", "MAXIMUM", "MINIMUM", "TRANSPOSE", "RESIZE_NEAREST_NEIGHBOR",
                               "STRIDED_SLICE"} <= set(read_model(fb).ops)
    bit_exact_on_the_m4(fb, ("c", "tflm"))


def _activation(index: int, scale: float, shape=(1, 1, 1, 4)):
    from tinyml_kit.engine.model_ir import Tensor

    return Tensor(index, f"t{index}", shape, "int8", np.full(1, scale, np.float32), np.zeros(1, np.int64))


def test_what_tflm_refuses_too_is_one_line_naming_op_and_index():
    """Inputs quantized unlike the concatenation (TFLM's int8 kernel refuses them); a softmax whose input scale
    TFLM's Prepare aborts on."""
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.core.tflite_info import schema
    from tinyml_kit.engine.copies import concatenation
    from tinyml_kit.engine.model_ir import Model, Operator
    from tinyml_kit.engine.softmax import OUTPUT_SCALE, softmax

    options = schema().ConcatenationOptionsT()
    options.axis = 3
    op = Operator(3, "CONCATENATION", (0, 1), (2,), options)
    model = Model("m", [_activation(0, 0.1), _activation(1, 0.2), _activation(2, 0.1, (1, 1, 1, 8))], [op], 0, 2)
    with pytest.raises(UserError, match=r"^CONCATENATION \(op 3\) takes an input quantized unlike its output") as e:
        concatenation(model, op)
    assert "\n" not in str(e.value)
    out = _activation(1, OUTPUT_SCALE)
    out.zero_points[:] = -128
    op = Operator(5, "SOFTMAX", (0,), (1,))
    with pytest.raises(UserError, match=r"^SOFTMAX \(op 5\) has an input scale of 1e-09, too small"):
        softmax(Model("m", [_activation(0, 1e-9), out], [op], 0, 1), op)
