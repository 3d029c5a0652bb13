"""The reductions and the gate of CBAM-style attention on the C engine: REDUCE_MAX and MEAN over height and
width or over the channels, MUL by a per-pixel map, each against LiteRT's reference kernels on a small random
graph (`test_c_engine.assert_bit_exact`). A CBAM PhiNet whole: tests/test_attention.py."""

import numpy as np
import pytest
from test_c_engine import assert_bit_exact, int8_model
from test_c_engine_ops import assert_estimated_plan_is_exact


def _tf():
    from tinyml_kit._tf import tf

    return tf()


def _channel_stat(reduce):
    """CBAM's spatial input: a statistic over each pixel's channels (keepdims), then a convolution on it."""
    return lambda k, x: k.layers.Conv2D(3, 3, padding="same")(reduce(k.layers.Conv2D(6, 1)(x), axis=3,
                                                                      keepdims=True))


def _gated(k, x):
    """CBAM's spatial gate: the features times a sigmoid map of one value per pixel."""
    features = k.layers.Conv2D(5, 1)(x)
    gate = k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return k.layers.Multiply()([features, gate])


REDUCTIONS = {   # name: (op, build)
    "global_max_pooling": ("REDUCE_MAX", lambda k, x: k.layers.GlobalMaxPooling2D()(k.layers.Conv2D(8, 3)(x))),
    "global_max_pooling_keepdims": ("REDUCE_MAX", lambda k, x: k.layers.Conv2D(4, 1)(
        k.layers.GlobalMaxPooling2D(keepdims=True)(k.layers.Conv2D(6, 1)(x)))),
    "max_over_channels": ("REDUCE_MAX", _channel_stat(lambda t, **kw: _tf().reduce_max(t, **kw))),
    "mean_over_channels": ("MEAN", _channel_stat(lambda t, **kw: _tf().reduce_mean(t, **kw))),
    "mul_by_a_pixel_map": ("MUL", _gated),
    "mul_by_a_pixel_map_first": ("MUL", lambda k, x: k.layers.Multiply()(list(reversed(_gated_inputs(k, x))))),
}


def _gated_inputs(k, x):
    return k.layers.Conv2D(5, 1)(x), k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_and_the_pixel_gate(name, tmp_path):
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.solve.c_size import c_engine_costs

    op, build = REDUCTIONS[name]
    fb = int8_model(build, shape=(6, 5, 3))
    program = compile_model(fb)
    assert_estimated_plan_is_exact(fb, program.arena_bytes)
    assert c_engine_costs(read_graph(fb)).constant_bytes == program.constant_bytes
    assert_bit_exact(fb, op, tmp_path)


def test_a_reduction_over_other_axes_is_one_line_naming_op_and_axes():
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.engine.model_ir import read_int8_model
    from tinyml_kit.engine.reduce import reduction

    fb = int8_model(lambda k, x: _tf().reduce_max(k.layers.Conv2D(4, 1)(x), axis=2, keepdims=True), shape=(4, 4, 2))
    model = read_int8_model(fb, "m")
    op = next(op for op in model.ops if op.kind == "REDUCE_MAX")
    with pytest.raises(UserError, match=r"^REDUCE_MAX \(op \d+\) reduces axes \[2\] of \[1, 4, 4, 4\]: .*use .*tflm"):
        reduction(model, op, model.tensor(op, 0))



def test_a_requantizing_max_is_refused_as_tflm_refuses_it():
    """LiteRT's converter quantizes a max as its input; TFLM's int8 REDUCE_MAX refuses any other output."""
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.engine.model_ir import Model, Operator, Tensor
    from tinyml_kit.engine.reduce import reduce_max

    def activation(index: int, scale: float, shape) -> Tensor:
        return Tensor(index, f"t{index}", shape, "int8", np.full(1, scale, np.float32), np.zeros(1, np.int64))

    axes = Tensor(1, "axes", (2,), "int32", np.zeros(0, np.float32), np.zeros(0, np.int64),
                  data=np.array([1, 2], np.int32))
    op = Operator(4, "REDUCE_MAX", (0, 1), (2,), None)
    model = Model("m", [activation(0, 0.1, (1, 3, 3, 4)), axes, activation(2, 0.2, (1, 1, 1, 4))], [op], 0, 2)
    with pytest.raises(UserError, match=r"^REDUCE_MAX \(op 4\) changes the quantization"):
        reduce_max(model, op)
