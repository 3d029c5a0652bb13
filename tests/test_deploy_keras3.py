"""`deploy` of a model saved with Keras 3 (what `import keras` gives on TensorFlow 2.16+): a functional CNN and a
Sequential one as .keras and .h5, rebuilt as tf_keras models that compute what Keras 3 computes, deployed into a
run `compress` takes; a Keras 3 SavedModel (`model.export`) deployed as a float graph; a layer the rebuild does
not know refused in one line with nothing written."""

import json

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

BOARD = "nucleo-f401re"


@pytest.fixture(scope="module")
def keras3_models(tmp_path_factory):
    """Keras 3 models as a TensorFlow 2.21 user saves them, briefly trained on 3 digit classes (16x16x1): a functional
    CNN taking pixels 0..255 (Rescaling first) and a Sequential one taking [0, 1], each as .keras and .h5; the
    functional one exported as a SavedModel; a functional one around a nested Sequential block; a Sequential one with
    a LayerNormalization."""
    from sklearn.datasets import load_digits

    from tinyml_kit._tf import keras3

    k = keras3()
    k.utils.set_random_seed(0)
    inputs = k.Input((16, 16, 1))
    x = k.layers.Rescaling(1 / 255, name="scale")(inputs)
    x = k.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv_a")(x)
    x = k.layers.ReLU(name="relu_a")(k.layers.BatchNormalization(momentum=0.9, name="bn_a")(x))
    x = k.layers.MaxPooling2D(name="max_pool")(x)
    b = k.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = k.layers.Concatenate(name="concat")([x, k.layers.Add(name="add")([x, b])])
    x = k.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv_b")(x)
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    functional = k.Model(inputs, k.layers.Dense(3, activation="softmax", name="head")(x), name="user_cnn")
    sequential = k.Sequential([k.Input((16, 16, 1)), k.layers.ZeroPadding2D(1), k.layers.SeparableConv2D(6, 3),
                               k.layers.BatchNormalization(momentum=0.9), k.layers.Activation("relu"),
                               k.layers.AveragePooling2D(2), k.layers.Flatten(), k.layers.Dropout(0.2),
                               k.layers.Dense(3), k.layers.Softmax()], name="user_seq")
    block = k.Sequential([k.Input((16, 16, 1)), k.layers.Conv2D(8, 3, activation="relu"), k.layers.MaxPooling2D()],
                         name="block")
    inputs = k.Input((16, 16, 1))
    nested = k.Model(inputs, k.layers.Dense(3, activation="softmax")(k.layers.Flatten()(block(inputs))),
                     name="user_nested")
    d = load_digits()
    keep = d.target < 3
    images = np.asarray(k.layers.Resizing(16, 16)(d.images[keep][..., None] * 255 / 16))
    folder = tmp_path_factory.mktemp("keras3")
    for model, x_train in ((functional, images), (sequential, images / 255), (nested, images)):
        model.compile(k.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
        model.fit(x_train, d.target[keep], epochs=6, batch_size=16, verbose=0)
        model.save(folder / f"{model.name}.keras")
        model.save(folder / f"{model.name}.h5")
    functional.export(folder / "user_cnn_savedmodel", verbose=False)
    k.Sequential([k.Input((16, 16, 1)), k.layers.Rescaling(1 / 255), k.layers.Conv2D(4, 3),
                  k.layers.LayerNormalization(name="my_norm"), k.layers.Flatten(),
                  k.layers.Dense(3)]).save(folder / "layer_norm.keras")
    return folder, images


@pytest.mark.parametrize("name,pixels", [("user_cnn.keras", None), ("user_cnn.h5", None),
                                         ("user_seq.keras", "0-1"), ("user_seq.h5", "0-1"),
                                         ("user_nested.keras", "0-255")])
def test_a_keras3_model_is_rebuilt_in_tf_keras_computing_the_same(keras3_models, name, pixels):
    """The rebuilt model is a tf_keras model (tfmot and the advice take it) with the user's layer names (a nested
    model's in its place, one flat graph), and on pixels 0..255 gives Keras 3's float outputs (on pixels / 255 for a
    model taking [0, 1])."""
    from tinyml_kit._tf import keras, keras3
    from tinyml_kit.pipeline.foreign import open_model

    folder, images = keras3_models
    user = open_model(folder / name, pixels)
    user.sized((16, 16, 1))
    assert isinstance(user.keras_model, keras().Model)
    source = keras3().saving.load_model(folder / name, compile=False)
    leaves = [sub for layer in source.layers for sub in getattr(layer, "layers", [layer])]
    assert {layer.name for layer in leaves if type(layer).__name__ != "InputLayer"} <= set(user.layers)
    assert not any(isinstance(layer, keras().Model) for layer in user.keras_model.layers)
    expected = source.predict(images / 255 if pixels == "0-1" else images, verbose=0)
    np.testing.assert_allclose(user.keras_model.predict(images, verbose=0), expected, atol=1e-5)
    check = user.checked_conversion(images)
    assert check.source == "keras 3" and check.top1_agreement == 1.0 and check.max_abs_diff < 1e-5


def test_deploy_keras3_file_is_a_run_compress_takes(keras3_models, digits_npz, tmp_path):
    folder, _ = keras3_models
    out = tmp_path / "run"
    result = run("deploy", folder / "user_cnn.h5", "--board", BOARD, "--data", digits_npz, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["fits_all"] and report["litert_equals_tflm"] and report["check"]["c_equals_litert"] is True
    conversion = report["conversion"]
    assert conversion["runtime"].startswith("Keras 3.") and conversion["top1_agreement"] == 1.0
    assert conversion["max_abs_diff"] < 1e-5 and report["float_accuracy"] > 0.9
    assert (out / "model.keras").is_file()
    compressed = run("compress", out, "--prune", "structured", "--sparsity", "0.5", "--finetune-epochs", "1",
                     "--json")
    assert compressed.exit_code == 0, compressed.stderr
    assert json.loads(compressed.stdout)["params"] < report["params"]


def test_deploy_keras3_savedmodel_as_a_float_graph(keras3_models, digits_npz, tmp_path):
    """A Keras 3 SavedModel has no layers to rebuild: its pixel range is asked for, then it is quantized here."""
    folder, _ = keras3_models
    out = tmp_path / "run"
    path = folder / "user_cnn_savedmodel"
    assert_one_line_error(run("deploy", path, "--board", BOARD, "--data", digits_npz, "--out", out),
                          "Keras 3's model.export", "--pixels 0-255")
    assert not out.exists()
    result = run("deploy", path, "--board", BOARD, "--data", digits_npz, "--out", out, "--pixels", "0-255", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["fits_all"] and report["compression"]["stages"][0]["method"] == "ptq"
    assert report["int8_accuracy"] > 0.9
    conversion = report["conversion"]
    assert conversion["runtime"].startswith("TensorFlow ") and conversion["top1_agreement"] == 1.0


def test_deploy_refuses_a_layer_the_keras3_rebuild_does_not_know(keras3_models, digits_npz, tmp_path):
    folder, _ = keras3_models
    out = tmp_path / "run"
    result = run("deploy", folder / "layer_norm.keras", "--board", BOARD, "--data", digits_npz, "--out", out)
    assert_one_line_error(result, "layer 'my_norm' (LayerNormalization) is not one tinyml-kit rebuilds", "tf_keras")
    assert not out.exists()
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    result = run("deploy", broken, "--board", BOARD, "--data", digits_npz, "--out", out)
    assert_one_line_error(result, "could not be loaded as a Keras model (tf_keras: ", "; Keras 3: ")
    assert not out.exists()


def test_a_rebuild_disagreeing_with_keras3_is_refused(keras3_models):
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.pipeline.foreign import open_model

    folder, images = keras3_models
    user = open_model(folder / "user_cnn.keras")
    user.sized((16, 16, 1))
    head = user.keras_model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + np.array([100.0, 0.0, 0.0], np.float32)])   # always class 0
    with pytest.raises(UserError, match="rebuilt in tf_keras gives another top-1 class than Keras 3"):
        user.checked_conversion(images)
