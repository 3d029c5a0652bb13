"""Training options: class weights, schedules, the learning-rate range test, stages and freezing, starting from
another model (`fit --init-from`), and their refusals."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_bad_input import no_data_loading  # noqa: F401  (fixture)
from test_cli import assert_one_line_error, run


def _tiny(arch="phinet", shape=(16, 16, 1), classes=3, **knobs):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import build

    keras().utils.set_random_seed(0)
    knobs = knobs or ({"alpha": 0.25, "beta": 1.0, "t0": 4, "depth": 4} if arch == "phinet" else {})
    return build(arch, shape, classes, **knobs)


@pytest.fixture(scope="module")
def digits16():
    from tinyml_kit.train.data import load_dataset, split

    return split(load_dataset("digits", (16, 16, 1)), seed=0)


def test_balanced_class_weights_make_every_class_weigh_the_same():
    from tinyml_kit.train.trainer import balanced_class_weights

    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    w = balanced_class_weights(labels, 4)
    totals = [w[c] * np.sum(labels == c) for c in range(3)]
    assert np.allclose(totals, len(labels) / 4) and w[3] == 0.0
    assert w[2] == pytest.approx(100 / 4)


@pytest.mark.parametrize("kind, first, peak_at, last", [("cosine", 1.0, 0, 0.05), ("onecycle", 1 / 25, 30, 1e-4)])
def test_schedules_start_peak_and_end_where_documented(kind, first, peak_at, last):
    from tinyml_kit.train.schedules import learning_rate_schedule

    s = learning_rate_schedule(kind, 2e-3, 100)
    rates = np.array([float(s(i)) for i in range(101)])
    assert rates[0] == pytest.approx(first * 2e-3, rel=1e-3)
    assert int(np.argmax(rates)) == peak_at and rates.max() == pytest.approx(2e-3, rel=1e-3)
    assert rates[-1] == pytest.approx(last * 2e-3, rel=1e-2)


def test_range_test_restores_the_weights_and_stops_at_divergence(digits16):
    from tinyml_kit.train.lr_finder import RATE_BOUNDS, choose, range_curves

    model = _tiny(classes=10)
    before = [w.copy() for w in model.get_weights()]
    curves = range_curves(model, digits16, 32, seed=0, steps=120, class_weight=None, tests=2)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=False))
    assert len(curves.raw) == 2 and curves.raw[0] != curves.raw[1]   # each test its own batch order
    assert all(len(r) < 120 for r in curves.raw)   # each batch's own loss is watched: it blows up before rate 10
    test = choose(*curves.mean(), 2)
    assert RATE_BOUNDS[0] <= test.chosen_rate <= RATE_BOUNDS[1] and test.tests == 2
    assert len(test.rates) == len(test.losses) <= min(len(r) for r in curves.raw)


def test_range_test_records_each_batch_loss_not_the_epochs_running_mean():
    """Keras' `loss` in batch logs is the mean since the epoch began unless the metrics are reset per batch: the
    recorder must reset them, or the curve lags the rate and hides the divergence."""
    from tinyml_kit._tf import keras
    from tinyml_kit.train.lr_finder import _recorder

    class Model:
        stop_training, resets = False, 0

        class optimizer:
            learning_rate = keras().backend.variable(0.0)

        def reset_metrics(self):
            self.resets += 1

    recorder, model = _recorder(keras(), 1e-6, 2.0), Model()
    recorder.set_model(model)
    for batch, loss in enumerate([2.0, 2.0, 4.0]):
        recorder.on_train_batch_begin(batch)
        recorder.on_train_batch_end(batch, {"loss": loss})
    assert model.resets == 3 and float(Model.optimizer.learning_rate.numpy()) == pytest.approx(4e-6)
    assert recorder.losses[:2] == pytest.approx([2.0, 2.0]) and recorder.losses[2] > 2.5


def _valley(rates, noise_seed):
    """A range-test-like curve: flat, a valley centred at 1e-2 (log-symmetric), divergence; and batch noise."""
    x = np.log10(rates)
    clean = 2.3 - 0.4 * np.exp(-0.5 * ((x + 2) / 0.5) ** 2) + np.where(x > -1, 3 * (x + 1) ** 2, 0)
    return clean + np.random.default_rng(noise_seed).normal(0, 0.15, len(rates))


def test_range_test_choice_is_the_valleys_centre_and_noise_barely_moves_it():
    from tinyml_kit.train.lr_finder import choose

    rates = np.geomspace(1e-6, 1, 180)
    chosen = [choose(rates, _valley(rates, seed)).chosen_rate for seed in range(5)]
    assert all(abs(np.log10(c) + 2) < 0.15 for c in chosen)   # each within ±40 % of the centre
    assert max(chosen) / min(chosen) < 1.4
    lucky = _valley(rates, 0)
    lucky[0] = 0.5   # one lucky first batch is not the valley
    assert choose(rates, lucky).chosen_rate == pytest.approx(chosen[0], rel=0.05)


def test_a_range_test_without_finite_losses_is_refused():
    from tinyml_kit.core.errors import UserError
    from tinyml_kit.train.lr_finder import Curves, choose

    curves = Curves([1e-6, 1e-5, 1e-4], [[float("nan"), 2.0, 2.0], [2.0, 2.0, 2.0]])
    with pytest.raises(UserError, match="never finite"):
        choose(*curves.mean())


@pytest.mark.parametrize("arch, knobs, resolutions", [
    ("phinet", {"alpha": 0.25, "beta": 1.0, "t0": 4, "depth": 7}, [16, 8, 4, 2]),
    ("resnet", {}, [32, 16, 8]),
    ("tinynet", {"alpha": 0.5, "depth": 3}, [16, 8, 4]),
])
def test_a_stage_is_a_resolution_and_the_head_is_in_none(arch, knobs, resolutions):
    from tinyml_kit.train.stages import stages

    model = _tiny(arch, (32, 32, 3), 10, **knobs)
    groups = stages(model)
    assert groups[0][0] == "pixels"
    smallest = [min(model.get_layer(n).output_shape[1] for n in g if model.get_layer(n).weights
                    and model.get_layer(n).output_shape[1] > 1) for g in groups]
    assert smallest == resolutions
    names = {n for g in groups for n in g}
    assert not names & {"pool", "logits", "flatten"}


def test_frozen_stages_do_not_change_while_the_rest_trains(digits16):
    from tinyml_kit.train.stages import freeze_stages, stages
    from tinyml_kit.train.trainer import train

    model = _tiny(classes=10)
    frozen_names = [n for g in stages(model)[:2] for n in g]
    before = {n: [w.copy() for w in model.get_layer(n).get_weights()] for n in frozen_names}
    logits_before = model.get_layer("logits").get_weights()[0].copy()
    assert freeze_stages(model, 2) > 0
    train(model, digits16, epochs=1)
    for n in frozen_names:   # batch-norm statistics too: a frozen batch-norm runs in inference mode
        assert all(np.array_equal(a, b) for a, b in zip(before[n], model.get_layer(n).get_weights(), strict=False)), n
    assert not np.array_equal(logits_before, model.get_layer("logits").get_weights()[0])


def test_a_transferred_model_keeps_the_features_and_gets_a_new_head_for_other_classes(tmp_path):
    from tinyml_kit.train.transfer import load_source, transferred

    source = _tiny(classes=3)
    source.save(tmp_path / "m.keras")
    loaded = load_source(tmp_path / "m.keras")
    assert loaded.family is None and loaded.input_shape == (16, 16, 1)
    same = transferred(loaded, (16, 16, 1), 3)
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), same.get_weights(), strict=False))
    other = transferred(loaded, (16, 16, 1), 7)
    assert other.output_shape[-1] == 7
    for layer in source.layers:
        if layer.name not in ("logits",) and layer.weights:
            assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), other.get_layer(layer.name)
                                                             .get_weights(), strict=False)), layer.name


@pytest.mark.parametrize("args, fragments", [
    (["--freeze-stages", "1"], ["give --init-from", "(--freeze-stages, --unfreeze-epochs)"]),
    (["--unfreeze-epochs", "2"], ["give --init-from"]),
    (["--init-from", "/nonexistent/run"], ["--init-from model '/nonexistent/run' not found", "(--init-from)"]),
    (["--lr", "0"], ["learning rate 0.0 is not in (0, 1)", "(--lr)"]),
    (["--lr", "0.01", "--lr-finder"], ["the range test picks the learning rate itself, so the rate 0.01 would be "
                                       "ignored", "not both", "(--lr, --lr-finder)"]),
    (["--init-from", "x", "--freeze-stages", "-1"], ["give 0 or more"]),
])
def test_bad_training_options_are_refused_before_loading_data(tmp_path, no_data_loading, args, fragments):  # noqa: F811
    assert_one_line_error(run("fit", "--out", tmp_path / "r", *args), *fragments)
    assert not (tmp_path / "r").exists()


def test_a_file_that_is_not_a_model_is_refused_as_init_from(tmp_path, no_data_loading):  # noqa: F811
    (tmp_path / "m.keras").write_text("no")
    assert_one_line_error(run("fit", "--init-from", tmp_path / "m.keras", "--out", tmp_path / "r"),
                          "is not a Keras model", "(--init-from)")


# Saved in another process, as a user would: that one does not know the layer class the loading process is asked for.
SAVE_FOREIGN_MODELS = """
import os, sys
from pathlib import Path
import keras                                     # Keras 3: what `import keras` gives
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).save(Path(sys.argv[1]) / "keras3.keras")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tf_keras

class Doubling(tf_keras.layers.Layer):
    def call(self, x):
        return 2 * x

inputs = tf_keras.Input((4,))
tf_keras.Model(inputs, Doubling()(inputs)).save(Path(sys.argv[1]) / "custom.keras")
"""


def test_a_model_init_from_cannot_use_is_refused_saying_what_it_is_and_what_to_give(tmp_path,
                                                                                     no_data_loading):  # noqa: F811
    """A folder without model.keras, a file saved by Keras 3 (plain `import keras`), and one with a layer class
    defined in the user's code: each named, with what a run directory holds or why Keras cannot read it."""
    (tmp_path / "empty").mkdir()
    subprocess.run([sys.executable, "-c", SAVE_FOREIGN_MODELS, str(tmp_path)], check=True, capture_output=True)
    for model, fragments in [("empty", ["directory", "holds no model.keras", "holds model.keras, model.tflite and "
                                        "report.json"]),
                             ("keras3.keras", ["saved by Keras 3.", "cannot read Keras 3 files"]),
                             ("custom.keras", ["uses the layer class Doubling, which neither Keras nor tinyml-kit"])]:
        assert_one_line_error(run("fit", "--init-from", tmp_path / model, "--out", tmp_path / "r"), *fragments,
                              "pass a run directory", "(--init-from)")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, digits_npz):
    out = tmp_path_factory.mktemp("source") / "run"
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--arch", "tinynet",
                 "--board", "nucleo-f401re", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_fit_from_another_run_with_frozen_stages_and_every_training_option(tmp_path, source_run):
    """A 3-class run starts a 10-class one: the head is re-initialised, the stem and a stage are frozen, the rate
    comes from the range test, one-cycle, balanced weights, then every layer trained one more epoch."""
    out = tmp_path / "r"
    result = run("fit", "--data", "digits", "--input", "16,16,1", "--epochs", "2", "--board", "nucleo-f401re",
                 "--init-from", source_run, "--freeze-stages", "1", "--unfreeze-epochs", "1", "--lr-finder",
                 "--schedule", "onecycle", "--class-weight", "balanced", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    source = json.loads((source_run / "report.json").read_text())
    recipe = record["training"]["recipe"]
    assert record["arch"] == "tinynet" and record["choice"] == source["choice"]
    assert recipe["init_from"] == str((source_run / "model.keras").absolute()) and recipe["frozen_params"] > 0
    assert recipe["schedule"] == "onecycle" and recipe["learning_rate"] == recipe["lr_finder"]["chosen_rate"]
    assert recipe["lr_rule"] == recipe["lr_finder"]["rule"] and recipe["lr_finder"]["tests"] == 3
    assert len(recipe["class_weights"]) == 10 and recipe["unfreeze"]["epochs"] == 1
    from tinyml_kit.nets import load_keras_model

    features = load_keras_model(source_run / "model.keras").get_layer("pool").input_shape[-1]
    assert record["params"] == source["params"] + 7 * (features + 1)   # the head: 7 more classes
    assert "learning-rate range test" in (out / "report.html").read_text()


@pytest.mark.slow
def test_init_from_refuses_another_architecture_or_input_before_loading_data(tmp_path, source_run,
                                                                              no_data_loading):  # noqa: F811
    assert_one_line_error(run("fit", "--init-from", source_run, "--arch", "phinet", "--out", tmp_path / "r"),
                          "is a tinynet", "drop --arch phinet", "(--arch, --init-from)")
    assert_one_line_error(run("fit", "--init-from", source_run, "--input", "32,32,1", "--out", tmp_path / "r"),
                          "takes 16x16x1 images, the data is 32x32x1", "--input 16,16,1")
    assert_one_line_error(run("fit", "--init-from", source_run, "--freeze-stages", "9", "--out", tmp_path / "r"),
                          "give at most", "(--freeze-stages)")
    assert not (tmp_path / "r").exists()
