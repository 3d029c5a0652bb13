import numpy as np
import pytest

from tinyml_kit.check.evaluate import evaluate
from tinyml_kit.check.tflm import TflmModel, measure_arena
from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.tflite_info import read_model, read_model_file
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.train.data import load_dataset


def test_input_maps_raw_pixels_exactly(tiny_model):
    _, path = tiny_model
    _, info = read_model_file(path)
    assert info.is_int8
    assert (info.inputs[0].scale, info.inputs[0].zero_point) == (1.0, -128)
    pixels = np.arange(256, dtype=np.float32)
    assert np.array_equal(info.inputs[0].quantize(pixels), (np.arange(256) - 128).astype(np.int8))


def test_litert_reference_equals_tflm(tiny_model):
    _, path = tiny_model
    data = path.read_bytes()
    x = np.random.default_rng(1).integers(-128, 128, (10, 16, 16, 1), dtype=np.int8)
    assert np.array_equal(LiteRtModel(data).predict(x), TflmModel(data).predict(x))


def test_arena_is_measured_not_guessed(tiny_model):
    _, path = tiny_model
    usage = measure_arena(path.read_bytes())
    assert usage.total_bytes == usage.head_bytes + usage.tail_bytes
    # the largest activation pair alone (16x16x1 input + 8x8x8 output of the first conv) is a lower bound
    assert usage.total_bytes > 16 * 16 + 8 * 8 * 8
    assert usage.alloc_bytes == arena_with_headroom(usage.total_bytes) and usage.alloc_bytes % 16 == 0


@pytest.mark.parametrize("arch,knobs", [("phinet", {"alpha": 0.25, "depth": 7}), ("resnet8", {}),
                                        ("tinynet", {"alpha": 0.25}), ("mobilenetv1", {"alpha": 0.25}),
                                        ("mobilenetv2", {"alpha": 0.35})])
def test_predicted_ops_match_converted_ops(arch, knobs):
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build

    model = build(arch, (32, 32, 3), 10, **knobs)
    images = calibration_images(np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    converted = read_model(quantize_int8(model, images)).ops
    assert sorted(model_costs(model).ops) == sorted(converted)


def test_evaluate_reports_metrics(tiny_model, digits_npz):
    model, path = tiny_model
    val = load_dataset(str(digits_npz), (16, 16, 1))
    result = evaluate(path.read_bytes(), val, reference=model)
    assert result.litert_equals_tflm is True
    assert 0.0 <= result.int8_accuracy <= 1.0 and 0.0 <= result.agreement <= 1.0
    matrix = np.array(result.int8_metrics.confusion_matrix)
    assert matrix.shape == (3, 3) and matrix.sum() == len(val.x)
    assert result.int8_metrics.accuracy == result.int8_accuracy and 0.0 <= result.int8_metrics.macro_f1 <= 1.0
    assert result.float_metrics.accuracy == result.float_accuracy and result.host is None
    assert result.footprint == result.tflm and result.tflm.arena_bytes <= result.tflm.arena_alloc_bytes
    d = result.to_dict()   # report.json's `check` section, as it always read
    assert {"macro_precision", "macro_recall", "macro_f1"} <= d["int8"].keys() and "tflm" not in d


def test_evaluate_without_data_warns(tiny_model, caplog):
    _, path = tiny_model
    with caplog.at_level("WARNING", logger="tinyml_kit"):
        result = evaluate(path.read_bytes(), None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "RANDOM" in warnings[0] and result.int8_accuracy is None and result.litert_equals_tflm
    assert result.int8_metrics is None and "int8" not in result.to_dict() and "class_names" not in result.to_dict()


def test_float_and_corrupt_models_are_refused(float_tflite, tmp_path):
    with pytest.raises(UserError, match="not int8"):
        evaluate(float_tflite.read_bytes(), None, name=str(float_tflite))
    with pytest.raises(UserError, match="not a TFLite flatbuffer"):
        read_model(b"hello world, not a model")
    data = bytearray(float_tflite.read_bytes())
    with pytest.raises(UserError, match="corrupt"):
        read_model(bytes(data[:64]))
