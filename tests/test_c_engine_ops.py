"""The ops a user's CNN ends or branches with (SOFTMAX, CONCATENATION, ...) on the C engine, each against LiteRT's
reference kernels on a small random graph (`test_c_engine.assert_bit_exact`)."""

import pytest
from test_c_engine import assert_bit_exact, int8_model


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
    assert_bit_exact(fb, "CONCATENATION", tmp_path)
