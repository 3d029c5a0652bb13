import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist hands its workers the controller's terminal width (80 without a terminal); a run of one process
    # leaves COLUMNS unset, and the commands' tables take their own width, which the tests read
    os.environ.pop("COLUMNS", None)

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory):
    """300 digits images of classes 0-2 as an .npz (8x8 uint8), small enough for seconds-long fits."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = d.target < 3
    x = np.round(d.images[keep] * 255 / 16).astype(np.uint8)[:300]
    y = d.target[keep][:300]
    path = tmp_path_factory.mktemp("data") / "digits3.npz"
    np.savez(path, x=x, y=y)
    return path


def untrained_tinynet(classes: int):
    """An untrained TinyNet on 16x16x1 input and its int8 flatbuffer: (Keras model, .tflite bytes)."""
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build

    model = build("tinynet", (16, 16, 1), classes, alpha=0.25, depth=2)
    rng = np.random.default_rng(0)
    return model, quantize_int8(model, calibration_images(rng.integers(0, 256, (20, 16, 16, 1), dtype=np.uint8)))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """An untrained int8 TinyNet on 16x16x1 input with 3 classes: (Keras model, .tflite path)."""
    model, flatbuffer = untrained_tinynet(3)
    path = tmp_path_factory.mktemp("model") / "tiny.tflite"
    path.write_bytes(flatbuffer)
    return model, path


@pytest.fixture(scope="session")
def fitted(tmp_path_factory, digits_npz):
    """A small run on nucleo-f401re (Cortex-M4F) fitted with --verify on TFLM (the engine named; the tests of the
    default engine fit without naming one): (run directory, fit's JSON report)."""
    import json

    from test_cli import run

    out = tmp_path_factory.mktemp("fw") / "run"
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "3", "--board", "nucleo-f401re",
                 "--verify", "--engine", "tflm", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def budget_run(tmp_path_factory):
    """A run of the built-in digits on nucleo-f401re within 48 KB of flash and 24 KB of RAM, on TFLM (the engine
    named): (run directory, fit's JSON report). Tests that write into a run work on a copy."""
    import json

    from test_cli import run

    out = tmp_path_factory.mktemp("runs") / "run"
    result = run("fit", "--board", "nucleo-f401re", "--max-flash", "48KB", "--max-ram", "24KB", "--epochs", "3",
                 "--engine", "tflm", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def float_tflite(tmp_path_factory, tiny_model):
    from tinyml_kit._tf import tf

    model, _ = tiny_model
    path = tmp_path_factory.mktemp("model") / "float.tflite"
    path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())
    return path

# The TFLM directory firmware tests and `verify` build against: the shared copy beside the repository.
os.environ.setdefault("TINYML_TFLM_DIR",
                      str(Path(__file__).resolve().parents[2] / "shared" / "third_party" / "tflm-qemu"))


def patch_everywhere(monkeypatch, module, name: str, replacement) -> None:
    """Replace `module.name` and every tinyml_kit module's binding of the same object (modules import functions by
    name, so patching the defining module alone would miss its callers). Every module of the package is imported
    first (none loads TensorFlow at import), so that none binds the replacement while the patch is on and keeps it
    afterwards."""
    import importlib
    import pkgutil

    import tinyml_kit

    for found in pkgutil.walk_packages(tinyml_kit.__path__, "tinyml_kit."):
        if not found.name.endswith("__main__"):   # that one runs the command line
            importlib.import_module(found.name)
    original = getattr(module, name)
    for loaded in list(sys.modules.values()):
        if getattr(loaded, "__name__", "").startswith("tinyml_kit") and getattr(loaded, name, None) is original:
            monkeypatch.setattr(loaded, name, replacement)

