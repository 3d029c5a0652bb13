"""LiteRT and TFLM part on a user's Dense head: the checker names the op, proves the cause by recomputing it with
each runtime's arithmetic, and lets the run pass with one line; an unexplained difference still fails."""

import dataclasses

import numpy as np
import pytest

from tinyml_kit.check import op_difference as op_diff
from tinyml_kit.check.validate import validate_model
from tinyml_kit.cli.run_commands import _require_same_outputs
from tinyml_kit.core.tflite_info import read_model

SHAPE = (16, 16, 1)


@pytest.fixture(scope="module")
def dense_head():
    """Conv2D -> GlobalMaxPooling2D -> Dense, untrained (seed 0), calibrated on digits as `deploy` does: LiteRT
    and TFLM differ by 1 on a few outputs of its FULLY_CONNECTED."""
    from tinyml_kit._tf import keras
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.train.data import load_dataset, split

    k = keras()
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input(SHAPE), k.layers.Rescaling(1 / 255), k.layers.Conv2D(4, 3, activation="relu"),
                          k.layers.GlobalMaxPooling2D(), k.layers.Dense(3)])
    parts = split(load_dataset("digits", SHAPE))
    flatbuffer = quantize_int8(model, calibration_images(parts.train.x))
    return flatbuffer, parts.val, validate_model(flatbuffer, read_model(flatbuffer), parts.val, onnx=False)


def test_the_fully_connected_rounding_is_named_explained_and_passes(dense_head, capsys):
    _, val, v = dense_head
    assert not v.litert_equals_tflm and v.litert_tflm_max_abs_diff == 1
    op = v.litert_tflm_op
    assert (op.index, op.op, op.max_abs_diff) == (2, "FULLY_CONNECTED", 1) and 0 < op.outputs_differing < 20
    assert op.outputs == len(val.x) * 3 and op.explained
    _require_same_outputs(v)
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and err.count("\n") == 1 and "FULLY_CONNECTED (op 2" in err
    assert type(v).from_dict(v.to_dict()) == v


def test_outputs_the_arithmetic_does_not_reproduce_are_not_explained(dense_head, monkeypatch):
    """The proof can fail: the runtimes' outputs swapped, or one output moved, are not what their kernels compute."""
    flatbuffer, val, _ = dense_head
    x_q = (val.x.astype(np.float32) - 128).astype(np.int8)
    found = []
    original = op_diff._fully_connected_explained

    def spy(model, op, values, litert, tflm):
        moved = litert.copy()
        moved[0, 0] += 1 if moved[0, 0] < 127 else -1
        found.append((original(model, op, values, tflm, litert), original(model, op, values, moved, tflm),
                      original(model, op, values, litert, tflm)))
        return original(model, op, values, litert, tflm)

    monkeypatch.setattr(op_diff, "_fully_connected_explained", spy)
    assert op_diff.op_difference(flatbuffer, x_q).explained
    assert found == [(False, False, True)]


def test_an_unexplained_difference_fails_naming_the_op(dense_head, capsys):
    v = dense_head[2]
    unexplained = dataclasses.replace(v, litert_tflm_op=dataclasses.replace(v.litert_tflm_op, reason=None))
    with pytest.raises(SystemExit) as exit_:
        _require_same_outputs(unexplained)
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.startswith("error: TFLM outputs differ from LiteRT's by up to 1 (")
    assert "FULLY_CONNECTED (op 2" in err and "not a known rounding difference" in err


@pytest.mark.parametrize("equals_host_tflm", [True, False, None])
def test_a_tflm_firmware_that_parts_from_litert_is_held_to_host_tflm(equals_host_tflm):
    """Measured under QEMU (M4F) on this model: TFLM firmwares (reference and CMSIS-NN kernels) equal TFLM on the
    host and differ from LiteRT by 1; only the comparison with host TFLM can pass such a firmware."""
    from test_verification_records import verified

    from tinyml_kit.cli.run_commands import _require_verified

    r = verified(bit_exact=False, max_abs_diff=1, equals_host_tflm=equals_host_tflm)
    assert verified().to_dict().get("equals_host_tflm") is None and r.to_dict().get("equals_host_tflm") \
        is equals_host_tflm
    if equals_host_tflm:
        _require_verified(r)
    else:
        with pytest.raises(SystemExit):
            _require_verified(r)
