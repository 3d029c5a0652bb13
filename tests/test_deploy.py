"""`deploy` on models tinyml-kit did not build: a tf_keras functional CNN as .keras and as a SavedModel, and an
int8 .tflite quantized by TFLite's own converter; each checked bit for bit (LiteRT vs TFLM, LiteRT vs the C
engine built for this machine) into a run directory the other commands take. Bad input: one line, nothing
written."""

import json

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

BOARD = "nucleo-f401re"


@pytest.fixture(scope="module")
def foreign_cnn(tmp_path_factory):
    """A small functional CNN as a user writes one (pixels 0..255 scaled by its first layer; max and average
    pooling, a concatenation, dropout, a dense head), briefly trained on 3 digit classes: (folder, Keras model)."""
    from sklearn.datasets import load_digits

    from tinyml_kit._tf import keras

    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((16, 16, 1))
    x = k.layers.Rescaling(1 / 255, name="scale")(inputs)
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    a = k.layers.MaxPooling2D(name="max_pool")(x)
    b = k.layers.AveragePooling2D(name="avg_pool")(x)
    x = k.layers.Concatenate(name="concat")([a, b])
    x = k.layers.Conv2D(12, 3, strides=2, activation="relu", name="conv_b")(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dropout(0.2)(x)
    outputs = k.layers.Dense(3, activation="softmax", name="head")(x)
    model = k.Model(inputs, outputs, name="user_cnn")
    d = load_digits()
    keep = d.target < 3
    images = k.backend.get_value(k.layers.Resizing(16, 16)(d.images[keep][..., None] * 255 / 16))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images, d.target[keep], epochs=2, verbose=0)
    folder = tmp_path_factory.mktemp("user_model")
    model.save(folder / "cnn.keras")
    model.save(folder / "cnn_savedmodel", save_format="tf")
    k.Sequential([k.Input((16, 16, 1)), k.layers.Rescaling(1 / 255), k.layers.Conv2D(4, 3, name="conv"),
                  k.layers.LayerNormalization(name="my_norm"), k.layers.Flatten(),
                  k.layers.Dense(3)]).save(folder / "layer_norm.keras")
    k.Sequential([k.Input((16, 16, 3)), k.layers.Rescaling(1 / 255), k.layers.Conv2D(4, 3), k.layers.Flatten(),
                  k.layers.Dense(3)]).save(folder / "rgb.keras")
    return folder, model


@pytest.fixture(scope="module")
def int8_tflite(foreign_cnn):
    """The CNN quantized to int8 by TFLite's converter as a user does it, calibrated on pixels 0..255."""
    from tinyml_kit._tf import tf

    folder, model = foreign_cnn
    t = tf()
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [t.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = t.int8
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.uniform(0, 255, (1, 16, 16, 1)).astype(np.float32)]
                                                for _ in range(20))
    path = folder / "cnn_int8.tflite"
    path.write_bytes(converter.convert())
    return path


def _deployed(model, data, out, *extra):
    result = run("deploy", model, "--board", BOARD, "--data", data, "--out", out, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (out / "model.tflite").is_file() and (out / "report.json").is_file()
    assert report["fits_all"] and report["litert_equals_tflm"]
    assert report["engine"] == "c" and report["check"]["c_equals_litert"] is True
    assert report["deployed_from"] == str(model.absolute())
    return report


def test_deploy_keras_file_is_a_run_the_other_commands_take(foreign_cnn, digits_npz, tmp_path):
    folder, _ = foreign_cnn
    out = tmp_path / "run"
    report = _deployed(folder / "cnn.keras", digits_npz, out)
    assert (out / "model.keras").is_file() and (out / "report.html").is_file()
    assert report["float_accuracy"] is not None and report["int8_accuracy"] is not None
    analyzed = run("analyze", out, "--json")
    assert analyzed.exit_code == 0, analyzed.stderr
    assert json.loads(analyzed.stdout)["macs"] == report["macs"]
    exported = run("export", out, "--out", tmp_path / "c")
    assert exported.exit_code == 0, exported.stderr
    assert (tmp_path / "c" / "tinyml_model.c").is_file()


def test_deploy_savedmodel(foreign_cnn, digits_npz, tmp_path):
    folder, _ = foreign_cnn
    report = _deployed(folder / "cnn_savedmodel", digits_npz, tmp_path / "run")
    assert report["compression"]["stages"][0]["method"] == "ptq"


def test_deploy_int8_tflite_as_it_is(int8_tflite, digits_npz, tmp_path):
    out = tmp_path / "run"
    report = _deployed(int8_tflite, digits_npz, out)
    assert (out / "model.tflite").read_bytes() == int8_tflite.read_bytes()
    assert report["float_accuracy"] is None and not (out / "model.keras").exists()
    assert report["compression"]["stages"][0]["method"].startswith("as given")


def test_deploy_refuses_bad_input_in_one_line(foreign_cnn, digits_npz, tmp_path):
    folder, _ = foreign_cnn
    out = tmp_path / "run"
    cases = [
        (["deploy", folder / "cnn.keras", "--input", "32,32,1"], ["takes 16x16x1 images, not 32x32x1", "--input"]),
        (["deploy", folder / "cnn.keras", "--input", "16,16,3"], ["takes 16x16x1 images, not 16x16x3"]),
        (["deploy", folder / "missing.keras"], ["not found", ".tflite"]),
        (["deploy", digits_npz], ["is not a model format deploy takes", ".keras"]),
        (["deploy", folder / "cnn.keras", "--pixels", "0-1"], ["begins with a Rescaling layer", "drop --pixels"]),
        (["deploy", folder / "rgb.keras"], ["has 1-channel images but", "takes 3 channels"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(run(*args, "--data", digits_npz, "--board", BOARD, "--out", out), *fragments)
        assert not out.exists()


def test_deploy_float_tflite_is_quantized_here(foreign_cnn, digits_npz, tmp_path):
    """A float .tflite says nothing of its pixel range: refused without --pixels, quantized with it."""
    from tinyml_kit._tf import tf

    folder, model = foreign_cnn
    path = tmp_path / "float.tflite"
    path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())
    out = tmp_path / "run"
    assert_one_line_error(run("deploy", path, "--data", digits_npz, "--out", out), "float .tflite", "--pixels 0-255")
    assert not out.exists()
    report = _deployed(path, digits_npz, out, "--pixels", "0-255")
    assert report["compression"]["stages"][0]["method"] == "ptq"
    assert_float_tflite_reference(out, report, path.read_bytes())


def float_tflite_accuracy(flatbuffer: bytes, val) -> float:
    """The float .tflite's top-1 accuracy on `val` (pixels 0..255 as floats), run here on LiteRT's float kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=flatbuffer, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    predicted = []
    for image in val.x.astype(np.float32):
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        predicted.append(int(interpreter.get_tensor(outp["index"]).argmax()))
    return float(np.mean(np.array(predicted) == val.y))


def assert_float_tflite_reference(out, report: dict, flatbuffer: bytes) -> None:
    """A run deployed from a float graph without a Keras model reports its float .tflite as the float side: its
    accuracy on the run's validation images as LiteRT gives it, named as such in report.json and report.html."""
    from tinyml_kit.pipeline.runs import load_target

    val = load_target(out).val
    assert report["float_accuracy"] == float_tflite_accuracy(flatbuffer, val) and report["agreement"] is not None
    check = report["check"]
    assert check["float_model"] == "float .tflite" and "keras" not in check["validation"]["runtimes"]
    assert {(p["a"], p["b"]) for p in check["validation"]["pairs"]} >= {("litert", "float_tflite"),
                                                                        ("tflm", "float_tflite")}
    assert "float .tflite (LiteRT)" in (out / "report.html").read_text()
    validated = run("validate", out, "--json")   # the run keeps its float side for the commands that take it
    assert validated.exit_code == 0, validated.stderr
    assert json.loads(validated.stdout)["runtimes"]["float_tflite"]["accuracy"] == report["float_accuracy"]


def test_a_savedmodel_without_keras_metadata_is_taken_by_its_serving_signature(foreign_cnn, tmp_path):
    """`tf.saved_model.save` (or `model.export`) writes no tf_keras metadata: the serving signature is converted by
    TFLite to a float .tflite (refused without the pixel range, quantized here with it)."""
    from tinyml_kit._tf import tf
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.pipeline.foreign import open_model

    _, model = foreign_cnn
    path = tmp_path / "signature"
    tf().saved_model.save(model, str(path))
    with pytest.raises(UserError, match="is a SavedModel without tf_keras metadata .*, whose pixel range"):
        open_model(path)
    found = open_model(path, "0-255")
    assert (found.kind, found.input_shape, found.classes) == ("savedmodel", (16, 16, 1), 3)
    assert found.keras_model is None and not found.is_int8


def test_deploy_names_unsupported_ops_with_their_layer(foreign_cnn, digits_npz, tmp_path):
    folder, _ = foreign_cnn
    out = tmp_path / "run"
    result = run("deploy", folder / "layer_norm.keras", "--engine", "c", "--data", digits_npz, "--out", out)
    assert_one_line_error(result, "(at layer 'my_norm') converts to the", "RSQRT", "which the C engine does not run")
    assert not out.exists()


def test_deploy_that_does_not_fit_says_by_how_much(int8_tflite, digits_npz, tmp_path):
    out = tmp_path / "run"
    result = run("deploy", int8_tflite, "--board", BOARD, "--max-ram", "1KB", "--data", digits_npz, "--out", out)
    assert result.exit_code == 1 and (out / "report.json").is_file()
    assert_one_line_error(result, f"does not fit {BOARD}: arena", "B > 1,000 B (+")


@pytest.mark.parametrize("sequential", [False, True])
def test_a_model_taking_unit_floats_gets_a_rescaling_in_front_as_one_flat_graph(sequential):
    """`--pixels 0-1`: the rebuilt model on pixels 0..255 computes what the user's computes on pixels / 255, and is
    flat (Grad-CAM and the probes reach its layers); an open input size is fixed on the way."""
    from tinyml_kit._tf import keras
    from tinyml_kit.pipeline.foreign import with_input

    k = keras()
    layers = [k.layers.Conv2D(4, 3, activation="relu"), k.layers.GlobalMaxPooling2D(), k.layers.Dense(3)]
    if sequential:
        model = k.Sequential([k.Input((None, None, 1)), *layers])
    else:
        inputs = k.Input((None, None, 1))
        x = inputs
        for layer in layers:
            x = layer(x)
        model = k.Model(inputs, x)
    rebuilt = with_input(model, (16, 16, 1), rescale=True)
    assert rebuilt.input_shape == (None, 16, 16, 1)
    assert [type(layer).__name__ for layer in rebuilt.layers][-4:] == ["Rescaling", "Conv2D", "GlobalMaxPooling2D",
                                                                        "Dense"]
    pixels = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(pixels, verbose=0), model.predict(pixels / 255, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_gradcam_reaches_a_model_used_as_a_layer():
    """A Keras application used as a backbone is a model inside the model: Grad-CAM takes its output in the outer
    graph (its own `.output` cannot be reached from the outer inputs: "Graph disconnected" after the checks)."""
    from tinyml_kit._tf import keras
    from tinyml_kit.check.explain import gradcam

    k = keras()
    backbone = k.Sequential([k.Input((16, 16, 1)), k.layers.Conv2D(4, 3, activation="relu")], name="backbone")
    inputs = k.Input((16, 16, 1))
    x = backbone(k.layers.Rescaling(1 / 255)(inputs))
    model = k.Model(inputs, k.layers.Dense(3)(k.layers.GlobalAveragePooling2D()(x)))
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 1)).astype(np.uint8)
    cam = gradcam(model, images, np.array([0, 0, 1, 1, 2, 2]))
    assert cam.layer == "backbone" and cam.heat.shape == (len(cam.indices), 16, 16)
