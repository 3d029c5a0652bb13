"""The compact .tflite TFLM runs on the device: smaller, and the same outputs and arena as the converter's file."""

import numpy as np
import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer


def _phinet_flatbuffer():
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets.phinet import phinet
    from tinyml_kit.pipeline.measure import look_trained

    model = phinet(alpha=0.35, beta=1.0, t0=4, depth=5, input_shape=(24, 24, 3), classes=4)   # SE, hard-swish
    look_trained(model)
    rng = np.random.default_rng(0)
    return quantize_int8(model, calibration_images(rng.integers(0, 256, (8, 24, 24, 3), np.uint8)))


@pytest.mark.parametrize("which", ["tinynet", "phinet"])
def test_compact_flatbuffer_runs_bit_exact_on_tflm_with_the_same_arena(tiny_model, which):
    from tinyml_kit.check.tflm import TflmModel
    from tinyml_kit.core.litert import LiteRtModel
    from tinyml_kit.core.tflite_info import schema

    full = tiny_model[1].read_bytes() if which == "tinynet" else _phinet_flatbuffer()
    compact = compact_flatbuffer(full)
    assert len(compact) < 0.85 * len(full)
    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(compact, 0))
    tensors = model.subgraphs[0].tensors
    assert not any(t.name for t in tensors) and not model.signatureDefs
    assert all(len(t.quantization.zeroPoint) == 1 for t in tensors if t.quantization is not None
               and t.quantization.zeroPoint is not None)
    side = 16 if which == "tinynet" else 24
    channels = 1 if which == "tinynet" else 3
    x = np.random.default_rng(1).integers(-128, 128, (20, side, side, channels)).astype(np.int8)
    on_device = TflmModel(compact).predict(x)
    assert np.array_equal(on_device, TflmModel(full).predict(x))
    assert np.array_equal(on_device.astype(np.int32), LiteRtModel(full).predict(x.astype(np.int16)).astype(np.int32))
    assert TflmModel(compact).arena() == TflmModel(full).arena()


def test_compact_flatbuffer_refuses_what_is_not_a_model():
    with pytest.raises(UserError, match="not a TFLite flatbuffer"):
        compact_flatbuffer(b"\x00" * 64)
    with pytest.raises(UserError, match="corrupt TFLite flatbuffer"):
        compact_flatbuffer(b"\x10\x00\x00\x00TFL3" + b"\xff" * 16)
