"""The ops a user's CNN ends or branches with (SOFTMAX, CONCATENATION, ...) on the C engine, each against LiteRT's
reference kernels on a small random graph (`test_c_engine.assert_bit_exact`)."""

import numpy as np
import pytest
from test_c_engine import assert_bit_exact, int8_model


def test_softmax_after_dense(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Softmax()(k.layers.Dense(10)(k.layers.Flatten()(x))), shape=(4, 4, 2))
    assert_bit_exact(fb, "SOFTMAX", tmp_path)
