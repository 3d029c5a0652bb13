"""Generated depthwise kernels (`engine.depthwise_kernels`) against LiteRT's reference kernels on the host (the
portable C path): kernel 3 and 5, stride 1 and 2, SAME and VALID, channel counts with and without a tail of 1-3,
odd widths, relu/relu6/none; and the tap rectangles they are cut into."""

import pytest

from tests.test_c_engine import assert_bit_exact, int8_model
from tinyml_kit.solve.depthwise_shape import segments

LAYERS = {
    "3x3_same_c8": ((9, 9, 8), dict(kernel_size=3, padding="same", activation="relu6")),
    "3x3_same_s2_c6": ((10, 7, 6), dict(kernel_size=3, strides=2, padding="same", activation="relu")),
    "3x3_valid_c5": ((7, 6, 5), dict(kernel_size=3, padding="valid")),
    "5x5_same_s2_c12": ((11, 9, 12), dict(kernel_size=5, strides=2, padding="same")),
    "5x5_same_c3": ((6, 5, 3), dict(kernel_size=5, padding="same", activation="relu")),
    "3x3_same_1px_c7": ((1, 1, 7), dict(kernel_size=3, padding="same", activation="relu6")),
}


@pytest.mark.parametrize("name", LAYERS)
def test_depthwise_bit_exact(name, tmp_path):
    shape, options = LAYERS[name]
    fb = int8_model(lambda k, x: k.layers.DepthwiseConv2D(**options)(x), shape=shape)
    assert_bit_exact(fb, "DEPTHWISE_CONV_2D", tmp_path)


def test_segments_cover_each_output_once_with_its_valid_taps():
    # 3 taps, stride 1, pad 1 on 5 pixels: the first misses tap 0, the last tap 2, the three inside use all
    assert segments(5, 5, 3, 1, 1) == [(0, 1, 1, 3), (1, 4, 0, 3), (4, 5, 0, 2)]
    # stride 2, SAME on an even size: TFLite pads 0 before, 1 after
    assert segments(4, 2, 3, 2, 0) == [(0, 1, 0, 3), (1, 2, 0, 2)]
