"""A model that does not fit: each budget's miss, where its flash and arena go (as `analyze` shows them), and the
`compress` line measured to make it fit, which, run, does; or one line saying why nothing would."""

import json
import shlex
from dataclasses import replace

import numpy as np
import pytest
from test_cli import run

BOARD = "nucleo-f401re"
LIMITS = ("--max-flash", "9000", "--max-ram", "1000")   # the CNN below takes ~19 KB of flash, ~1.3 KB of arena


@pytest.fixture(scope="module")
def too_big(tmp_path_factory, digits_npz):
    """A user's Keras CNN (a flatten-dense head holding most of its weights, ending in a softmax) deployed within
    limits it misses: (run directory, deploy's JSON report, the command's stderr)."""
    from tinyml_kit._tf import keras

    k, layers = keras(), keras().layers
    k.utils.set_random_seed(0)
    inputs = k.Input((8, 8, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(24, 3, padding="same", activation="relu")(layers.MaxPooling2D()(x))
    x = layers.Dense(32, activation="relu", name="hidden")(layers.Flatten()(x))
    model = k.Model(inputs, layers.Dense(3, activation="softmax")(x))
    data = np.load(digits_npz)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data["x"].astype(np.float32)[..., None], data["y"], epochs=2, verbose=0)
    folder = tmp_path_factory.mktemp("too_big")
    model.save(folder / "cnn.keras")
    out = folder / "run"
    result = run("deploy", folder / "cnn.keras", "--board", BOARD, "--data", digits_npz, *LIMITS, "--out", out,
                 "--json")
    assert result.exit_code == 1 and "does not fit" in result.stderr, result.stderr
    return out, json.loads(result.stdout), result.stderr


def test_misses_where_and_the_least_pruning_that_fits(too_big):
    from tinyml_kit.check.analyze import analyze_model
    from tinyml_kit.core.run_record import RunRecord

    out, report, stderr = too_big
    advice = report["advice"]
    budgets = {b["budget"]: b for b in advice["budgets"]}
    for name, used, limit in (("flash", "flash_bytes", "flash_budget_bytes"),
                              ("arena", "arena_alloc_bytes", "arena_budget_bytes")):
        b = budgets[name]
        assert (b["used"], b["limit"]) == (report[used], report[limit]) and b["over"] == b["used"] - b["limit"] > 0
        assert b["over_percent"] == pytest.approx(100 * b["over"] / b["limit"], abs=0.01)
    assert budgets["latency"]["over"] < 0 and budgets["latency"]["limit_ms"] == 100   # within time: its margin
    analysis = analyze_model((out / "model.tflite").read_bytes())
    assert [c["weight_bytes"] for c in advice["top_flash"]] == sorted((r.weight_bytes for r in analysis.layers),
                                                                      reverse=True)[:3]
    assert advice["top_flash"][0]["op"] == "FULLY_CONNECTED"
    assert advice["peak_arena"]["index"] == analysis.peak_layer
    pruned, suggestion = advice["pruned"], advice["compress"]
    assert pruned["fits"] and pruned["flash_bytes"] <= 9000 and pruned["arena_alloc_bytes"] <= 1000
    assert suggestion == {"run_dir": str(out), "prune": "structured", "sparsity": pruned["sparsity"], "quant": "ptq"}
    assert f"to make it fit: tinyml-kit compress {shlex.quote(str(out))} --prune structured --sparsity " \
           f"{pruned['sparsity']:g}\n" in stderr
    record = RunRecord.read(out)
    assert record.advice is not None and record.advice.to_dict() == advice   # read back as written
    page = " ".join((out / "report.html").read_text().split())
    assert "What would make it fit" in page and f"it fits with {pruned['sparsity']:.0%} of its channels removed" \
        in page and f"flash {pruned['flash_bytes']:,} B" in page
    less = _pruned(record, out, pruned["sparsity"] - 0.05)
    assert not less.fits and less.misses   # the least of the 5 % grid


def test_says_when_nothing_would_fit(too_big):
    """An arena limit below the input and the first convolution's output even at 90 % of the channels removed,
    and a run without a float model: no suggestion, one line why."""
    from tinyml_kit.core.run_record import RunRecord
    from tinyml_kit.pipeline.advise import advise

    out, _, _ = too_big
    record = RunRecord.read(out)
    record = replace(record, budget=replace(record.budget, arena_bytes=150))
    model, flatbuffer, calibration = _run_parts(out)
    advice = advise(record, model, flatbuffer, calibration, out)
    assert advice is not None and advice.compress is None and advice.pruned is not None
    assert advice.pruned.sparsity == 0.9 and not advice.pruned.fits
    assert advice.reason.startswith("no compress option makes it fit: with 90% of its channels removed it still "
                                    "misses arena")
    assert advice.lines()[-1] == advice.reason
    without = advise(record, None, flatbuffer, calibration, out)
    assert without.compress is None and "deploy the model it was converted from" in without.reason


@pytest.mark.slow
def test_the_suggested_compress_fits(too_big):
    """The printed line, run (one fine-tuning epoch), makes a run that fits the same budget, measuring what the
    advice measured on the pruned model."""
    out, report, stderr = too_big
    line = next(ln for ln in stderr.splitlines() if ln.startswith("to make it fit: "))
    args = shlex.split(line.removeprefix("to make it fit: "))[1:]
    result = run(*args, "--finetune-epochs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    compressed = json.loads(result.stdout)
    assert compressed["fits_all"] and "advice" not in compressed
    assert (compressed["flash_budget_bytes"], compressed["arena_budget_bytes"]) == (9000, 1000)
    pruned = report["advice"]["pruned"]
    assert (compressed["flash_bytes"], compressed["arena_alloc_bytes"], compressed["macs"]) == \
        (pruned["flash_bytes"], pruned["arena_alloc_bytes"], pruned["macs"])


def _run_parts(out):
    from tinyml_kit.compress.quantize import calibration_images
    from tinyml_kit.nets import load_keras_model

    model = load_keras_model(out / "model.keras")
    rng = np.random.default_rng(0)
    return model, (out / "model.tflite").read_bytes(), calibration_images(
        rng.integers(0, 256, (16, 8, 8, 1), dtype=np.uint8))


def _pruned(record, out, sparsity: float):
    from tinyml_kit.pipeline.advise import pruned_figures

    model, _, calibration = _run_parts(out)
    return pruned_figures(model, round(sparsity, 2), record, calibration, "ptq")


def test_qat_is_measured_through_the_qat_model(too_big):
    """Where QAT is suggested, the figures are the QAT model's conversion, at the least fraction where the
    post-training one fits or above."""
    from tinyml_kit.core.run_record import RunRecord
    from tinyml_kit.pipeline.advise import with_qat

    out, report, _ = too_big
    record = RunRecord.read(out)
    model, _, calibration = _run_parts(out)
    qat = with_qat(model, report["advice"]["pruned"]["sparsity"], record, calibration)
    assert qat.fits and qat.sparsity >= report["advice"]["pruned"]["sparsity"]
    assert qat.flash_bytes == pytest.approx(report["advice"]["pruned"]["flash_bytes"], rel=0.05)


def test_a_model_pruning_refuses_gets_the_reason(too_big):
    from tinyml_kit._tf import keras
    from tinyml_kit.core.run_record import RunRecord
    from tinyml_kit.pipeline.advise import advise

    out, _, _ = too_big
    k = keras()
    inputs = k.Input((8, 8, 1))
    shared = k.layers.Conv2D(1, 3, padding="same", name="shared")
    model = k.Model(inputs, k.layers.Dense(3)(k.layers.Flatten()(shared(shared(inputs)))))
    _, flatbuffer, calibration = _run_parts(out)
    advice = advise(RunRecord.read(out), model, flatbuffer, calibration, out)
    assert advice.compress is None and advice.reason.startswith("no compress option is measured: layer 'shared' "
                                                                "is used more than once")
