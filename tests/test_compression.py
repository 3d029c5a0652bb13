"""Structured and magnitude pruning, QAT with our QuantizeConfigs, distillation, and `compress` on a run."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tinyml_kit.cli import main
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer


@pytest.fixture(scope="module")
def digits16():
    """The built-in digits at 16x16: enough steps per epoch for batch-norm statistics to settle in a few epochs."""
    from tinyml_kit.train.data import load_dataset, split

    return split(load_dataset("digits", (16, 16, 1)), seed=0)


@pytest.fixture(scope="module")
def trained_phinet(digits16):
    """A PhiNet trained on digits16, the calibration images and its int8 flatbuffer: the float model that QAT and
    magnitude pruning start from (neither modifies it), and the post-training-quantized model they are compared with.
    """
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.train.trainer import train

    model = _phinet(classes=10)
    train(model, digits16, epochs=4)
    calibration = calibration_images(digits16.train.x)
    return model, calibration, quantize_int8(model, calibration)


def _phinet(shape=(16, 16, 1), classes=3, **knobs):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    keras().utils.set_random_seed(0)   # the same initial weights whatever ran before
    model = build("phinet", shape, classes, **{"alpha": 0.25, "beta": 1.0, "t0": 4, "depth": 4, **knobs})
    look_trained(model)
    return model


def test_structured_pruning_removes_exactly_the_dead_channels():
    """Channels whose batch-norms output 0 (or whose producing filters are 0 where no batch-norm follows) carry
    nothing, so removing them must leave the outputs unchanged while every prunable group halves."""
    from tinyml_kit.compress.prune_channels import prune_channels, trace_groups
    from tinyml_kit.nets.costs import model_costs

    model = _phinet(shape=(24, 24, 3), classes=5)
    groups, out_group, _ = trace_groups(model)
    rng = np.random.default_rng(1)
    roots = {groups.find(g) for g in out_group.values()}
    prunable = [groups.info[r] for r in roots if groups.info[r].prunable]
    assert len(prunable) >= 6 and any(len(g.producers) > 1 for g in prunable)   # residual / SE unions
    for g in prunable:
        dead = rng.choice(g.channels, g.channels - int(round(g.channels * 0.5)), replace=False)
        for name in g.batch_norms:
            layer = model.get_layer(name)
            gamma, beta, mean, var = layer.get_weights()
            gamma[dead], beta[dead] = 0.0, 0.0
            layer.set_weights([gamma, beta, mean, var])
        if not g.batch_norms:
            for name in g.producers:
                kernel = model.get_layer(name).get_weights()[0]
                kernel[..., dead] = 0.0
                model.get_layer(name).set_weights([kernel])
    result = prune_channels(model, 0.5, "bn")
    x = rng.integers(0, 256, (4, 24, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)
    assert result.channels_after == sum(int(round(g.channels * 0.5)) for g in prunable)
    before, after = model_costs(model), model_costs(result.model)
    assert after.params < 0.45 * before.params and after.macs < 0.45 * before.macs
    assert type(result.model.get_layer("b2_se_mul")).__name__ == "Multiply"   # an ordinary dense Keras model


def _user_cnn(sequential: bool):
    """A CNN as users write one: a concatenation of two poolings with a batch-norm after it, a flatten-dense head
    (both ways of writing it: functional, Sequential without the concatenation)."""
    from tinyml_kit._tf import keras

    k, layers = keras(), keras().layers
    keras().utils.set_random_seed(0)
    if sequential:
        return k.Sequential([k.Input((12, 12, 3)), layers.Conv2D(8, 3, activation="relu", name="conv_a"),
                             layers.MaxPooling2D(), layers.Conv2D(6, 3, activation="relu", name="conv_b"),
                             layers.Flatten(), layers.Dense(16, activation="relu", name="hidden"),
                             layers.Dense(3, activation="softmax")])
    inputs = k.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = layers.Concatenate()([layers.MaxPooling2D()(x), layers.AveragePooling2D()(x)])
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Conv2D(6, 3, activation="relu", name="conv_b")(x)
    x = layers.Dropout(0.1)(layers.Flatten()(x))
    return k.Model(inputs, layers.Dense(3, activation="softmax")(layers.Dense(16, name="hidden")(x)))


@pytest.mark.parametrize("sequential", [False, True])
def test_structured_pruning_user_cnn_through_concatenate_and_flatten(sequential):
    """Dead channels (zero filters; zero batch-norm outputs at both of their places in the concatenation) are
    removed from the convolutions, the batch-norm after the concatenation and the dense layer after the flatten,
    and the outputs do not change."""
    from tinyml_kit.compress.prune_channels import prune_channels

    model = _user_cnn(sequential)
    rng = np.random.default_rng(0)
    for name, channels in (("conv_a", 8), ("conv_b", 6), ("hidden", 16)):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        dead = np.arange(channels) % 2 == 1
        kernel[..., dead], bias[dead] = 0.0, 0.0
        layer.set_weights([kernel, bias])
    if not sequential:
        bn = model.get_layer("bn")
        gamma, beta, mean, var = [rng.uniform(0.5, 1.5, 16).astype(np.float32) for _ in range(4)]
        gamma[np.arange(16) % 2 == 1], beta[np.arange(16) % 2 == 1] = 0.0, 0.0
        bn.set_weights([gamma, beta, mean, var])
    result = prune_channels(model, 0.5, "magnitude")
    assert result.channels_before == 30 and result.channels_after == 15
    x = rng.integers(0, 256, (4, 12, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)
    widths = {name: result.model.get_layer(name).get_weights()[0].shape for name in ("conv_a", "conv_b", "hidden")}
    assert widths["conv_a"][-1] == 4 and widths["conv_b"][-2:] == ((4 if sequential else 8), 3)
    assert widths["hidden"] == (model.get_layer("hidden").get_weights()[0].shape[0] // 2, 8)


@pytest.mark.parametrize("arch", ["mobilenetv1", "mobilenetv2", "resnet8", "tinynet"])
def test_structured_pruning_every_builder(arch):
    from tinyml_kit.compress.prune_channels import prune_channels
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs

    model = build(arch, (32, 32, 3), 4, **({} if arch == "resnet8" else {"alpha": 0.25}))
    result = prune_channels(model, 0.3, "magnitude")
    assert 0.25 < result.removed_fraction < 0.35
    assert model_costs(result.model).params < 0.75 * model_costs(model).params
    assert result.model.output_shape == model.output_shape
    with pytest.raises(Exception, match="fraction"):
        prune_channels(model, 1.0)


def test_structured_pruning_shrinks_the_measured_int8_model():
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.compress.prune_channels import prune_channels
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8

    model = _phinet(shape=(32, 32, 3), classes=10, alpha=0.75)
    calibration = calibration_images(np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8))
    dense = quantize_int8(model, calibration)
    pruned = quantize_int8(prune_channels(model, 0.5).model, calibration)
    assert len(pruned) < 0.6 * len(dense)
    assert measure_arena(pruned).total_bytes < 0.75 * measure_arena(dense).total_bytes


def test_qat_phinet_with_squeeze_excitation_and_hard_swish(digits16, trained_phinet):
    """tfmot alone refuses HardSwish and Multiply; ours trains, converts to the same int8 ops, keeps the input at
    scale 1 / zero point -128, and TFLM computes exactly what LiteRT does."""
    from tinyml_kit.check.evaluate import evaluate
    from tinyml_kit.compress.qat import quantize_aware
    from tinyml_kit.compress.quantize import quantize_int8
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.train.trainer import train

    parts = digits16
    model, calibration, post_training = trained_phinet
    qat = quantize_aware(model)
    kinds = {type(layer.layer).__name__ for layer in qat.layers if hasattr(layer, "layer")}
    assert {"HardSwish", "Multiply", "Conv2D", "DepthwiseConv2D"} <= kinds
    train(qat, parts, epochs=2, learning_rate=3e-4)
    flatbuffer = quantize_int8(qat, calibration)
    info = read_model(flatbuffer)
    assert {"HARD_SWISH", "MUL", "LOGISTIC", "CONV_2D", "DEPTHWISE_CONV_2D"} <= set(info.ops)
    assert set(info.ops) == set(read_model(post_training).ops)
    checked = evaluate(flatbuffer, parts.val, reference=qat)
    assert checked.litert_equals_tflm
    assert checked.agreement >= 0.95 and checked.int8_accuracy > 0.7   # the int8 model is the QAT model


@pytest.mark.parametrize("arch", ["mobilenetv1", "mobilenetv2", "resnet8", "tinynet"])
def test_qat_applies_to_every_builder(arch):
    from tinyml_kit.compress.qat import quantize_aware
    from tinyml_kit.nets import build

    model = build(arch, (32, 32, 3), 4, **({} if arch == "resnet8" else {"alpha": 0.25}))
    qat = quantize_aware(model)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    assert qat.predict(x, verbose=0).shape == (2, 4)


def test_qat_names_a_layer_it_cannot_quantize():
    from tinyml_kit._tf import keras
    from tinyml_kit.compress.qat import quantize_aware
    from tinyml_kit.core.errors import UserError

    L = keras().layers
    inputs = keras().Input((8, 8, 1))
    x = L.Conv2D(4, 3)(inputs)
    x = L.LayerNormalization(name="odd_norm")(x)
    model = keras().Model(inputs, L.Flatten()(x))
    with pytest.raises(UserError, match="odd_norm.*LayerNormalization"):
        quantize_aware(model)


def test_magnitude_pruning_zeroes_weights_but_not_flash(digits16, trained_phinet):
    from tinyml_kit.compress.options import CompressOptions
    from tinyml_kit.compress.stages import compress

    model, calibration, dense = trained_phinet
    sparse = compress(model, digits16, calibration, CompressOptions(prune="magnitude", sparsity=0.6,
                                                                   finetune_epochs=2))
    stage = next(s for s in sparse.stages if s["stage"] == "magnitude_prune")
    assert stage["weight_sparsity"] > 0.4          # depthwise kernels stay dense in tfmot
    assert abs(len(sparse.flatbuffer) - len(dense)) < 0.01 * len(dense)
    int8 = sparse.stages[-1]
    assert int8["int8_weight_sparsity"] == pytest.approx(stage["weight_sparsity"], abs=0.02)
    assert int8["gzip_bytes"] < 0.85 * int8["flash_bytes"] and "still take one byte" in int8["note"]
    assert not any(type(layer).__name__ == "PruneLowMagnitude" for layer in sparse.model.layers)


def test_magnitude_pruned_model_is_a_graph_of_its_own(tiny_model, tmp_path):
    """The report cuts Grad-CAM and probe sub-models out of the pruned model by layer name: tfmot's strip alone
    reuses the fine-tuned model's batch norms and activations, whose `.output` lies in that model's graph ("Graph
    disconnected"). The copy has the same weights, so the same int8 model, and saves and loads as itself."""
    import tensorflow_model_optimization as tfmot

    from tinyml_kit.check.explain import gradcam
    from tinyml_kit.compress.prune_weights import magnitude_pruned, strip
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import load_keras_model

    wrapped = magnitude_pruned(tiny_model[0], 0.5, steps_per_epoch=1)
    pruned = strip(wrapped)
    x = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 1), dtype=np.uint8)
    cam = gradcam(pruned, x, np.arange(6) % 3)
    assert cam.heat.shape == (len(cam.indices), 16, 16)
    calibration = calibration_images(x)
    assert quantize_int8(pruned, calibration) == quantize_int8(tfmot.sparsity.keras.strip_pruning(wrapped),
                                                               calibration)
    pruned.save(tmp_path / "pruned.keras")
    assert np.array_equal(load_keras_model(tmp_path / "pruned.keras").predict(x, verbose=0),
                          pruned.predict(x, verbose=0))


def test_distillation_teaches_what_the_labels_do_not(digits16):
    """With lambda = 1 the labels are ignored: a student given a constant label learns the classes only from a
    trained teacher, so its accuracy on the true labels is far above the 10 % a constant guess gets."""
    from dataclasses import replace

    from tinyml_kit._tf import keras
    from tinyml_kit.nets import build
    from tinyml_kit.train.data import Split
    from tinyml_kit.train.trainer import train

    parts = digits16
    keras().utils.set_random_seed(0)
    teacher = build("phinet", (16, 16, 1), 10, alpha=0.5, beta=1.0, t0=4, depth=4)
    train(teacher, parts, epochs=6)
    blind = Split(replace(parts.train, y=np.zeros_like(parts.train.y)), parts.val)
    student = build("phinet", (16, 16, 1), 10, alpha=0.25, beta=1.0, t0=4, depth=4)
    result = train(student, blind, epochs=6, teacher=teacher, alpha_kd=1.0, temperature=2.0)
    teacher_acc = np.mean(teacher.predict(parts.val.x.astype(np.float32), verbose=0).argmax(1) == parts.val.y)
    assert teacher_acc > 0.8
    assert result.val_accuracy > 0.5


def test_auto_teacher_is_the_most_accurate_network_at_least_twice_the_student():
    from tinyml_kit.solve.scaling_law import load_laws
    from tinyml_kit.solve.solver import _screen
    from tinyml_kit.train.distill import auto_teacher

    family, knobs = auto_teacher(50_000, (32, 32, 3), 10)
    rows = [s for s in _screen(load_laws(), (32, 32, 3), 10) if s.params >= 100_000]
    best = max(rows, key=lambda s: s.accuracy)
    assert (family, tuple(knobs.values())) == (best.family, best.knobs) and best.params >= 100_000
    with pytest.raises(UserError, match="no network with at least 20,000,000 parameters"):
        auto_teacher(10_000_000, (32, 32, 3), 10)
    # twice a 137 k student, only TinyNets and deep PhiNets are in the laws' range: all rated below smaller ResNets
    with pytest.raises(UserError, match="rated more accurate than smaller ones"):
        auto_teacher(137_000, (32, 32, 3), 10)


@pytest.mark.slow
def test_fit_with_compression_then_compress(tmp_path, digits_npz, fitted):
    """`fit --prune structured --quant qat`, then `compress` on its run with a teacher (the session's run on the same
    data and board without the flash limit): each stage reported, each result measured and fitting, LiteRT == TFLM."""
    out = tmp_path / "run"
    common = ["--board", "nucleo-f401re", "--data", str(digits_npz), "--input", "16,16,1", "--epochs", "3",
              "--max-flash", "60KB", "--engine", "tflm"]
    result = CliRunner().invoke(main, ["fit", *common, "--prune", "structured", "--sparsity", "0.3", "--quant",
                                       "qat", "--finetune-epochs", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stages = [s["stage"] for s in report["compression"]["stages"]]
    assert stages == ["trained", "structured_prune", "qat", "int8"]
    assert report["params"] < report["compression"]["stages"][0]["params"]
    assert report["fits_all"] and report["litert_equals_tflm"] and report["compression"]["quant"] == "qat"
    # the int8 model is compared with the fake-quantized model it was converted from, not the float one before QAT
    # (its accuracy is the one QAT's last fine-tuning measured, on the same validation split)
    qat = next(s for s in report["compression"]["stages"] if s["stage"] == "qat")
    assert report["check"]["float_model"] == "fake-quant (QAT)"
    assert report["float_accuracy"] == pytest.approx(qat["fake_quant_accuracy"], abs=1e-3)
    assert len(qat["history"]["val_accuracy"]) == qat["epochs_run"] == 2

    teacher, _ = fitted
    compressed = CliRunner().invoke(main, ["compress", str(out), "--prune", "structured", "--sparsity", "0.5",
                                           "--teacher", str(teacher), "--finetune-epochs", "2", "--json"])
    assert compressed.exit_code == 0, compressed.output
    new = json.loads(compressed.stdout)
    assert new["run_dir"] == str(tmp_path / "run-structured50-kd")
    assert new["before"]["flash_bytes"] == report["flash_bytes"] and new["flash_bytes"] < report["flash_bytes"]
    assert new["macs"] < report["macs"] and new["compression"]["teacher"]["size_ratio"] > 1
    assert new["check"]["float_model"] == "float"
    assert json.loads((tmp_path / "run-structured50-kd" / "report.json").read_text())["flash_bytes"] == \
        len(compact_flatbuffer((tmp_path / "run-structured50-kd" / "model.tflite").read_bytes()))
    checked = CliRunner().invoke(main, ["check", str(tmp_path / "run-structured50-kd"), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["int8_accuracy"] == pytest.approx(new["int8_accuracy"])


def test_compress_bad_input(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["compress", str(tmp_path), "--prune", "structured"])
    assert r.exit_code == 2 and "not a run directory" in r.output and "Traceback" not in r.output
    (tmp_path / "report.json").write_text("{}")
    r = runner.invoke(main, ["compress", str(tmp_path)])
    assert r.exit_code == 2 and "nothing to do" in r.output
    r = runner.invoke(main, ["fit", "--prune", "structured", "--sparsity", "1.5"])
    assert r.exit_code == 2 and "sparsity" in r.output
    r = runner.invoke(main, ["fit", "--teacher", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "teacher" in r.output and "not found" in r.output
    assert list(tmp_path.iterdir()) == [tmp_path / "report.json"]
