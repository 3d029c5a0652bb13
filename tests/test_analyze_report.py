"""analyze, validate, ONNX export, explain and report.html: on a small fitted run and on a .tflite made here from a
plain Keras model (not by tinyml-kit)."""

import base64
import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer


@pytest.fixture(scope="module")
def foreign_tflite(tmp_path_factory):
    """An int8 .tflite converted here with TensorFlow's own converter from a plain Keras model (inputs in [0, 1],
    max and average pooling, a concatenation, dense layers and softmax: ops tinyml-kit's builders never emit)."""
    from tinyml_kit._tf import keras, tf

    k, t = keras(), tf()
    inp = k.Input((24, 24, 3))
    x = k.layers.Conv2D(8, 3, activation="relu")(inp)
    x = k.layers.MaxPooling2D()(x)
    y = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = k.layers.Concatenate()([x, y])
    x = k.layers.AveragePooling2D()(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(16, activation="relu")(x)
    model = k.Model(inp, k.layers.Dense(4, activation="softmax")(x))
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [t.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = t.int8
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.random((1, 24, 24, 3), np.float32)] for _ in range(20))
    path = tmp_path_factory.mktemp("foreign") / "plain_keras.tflite"
    path.write_bytes(converter.convert())
    return path


def _check_plan_consistency(r: dict, tflite_path) -> None:
    """Totals are the measured ones; the per-layer rows add up to them and to the memory plan."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.solve.tflm_arena import memory_plan

    data = tflite_path.read_bytes()
    measured = measure_arena(data)
    assert r["tflite_bytes"] == len(data) and r["flash_bytes"] == len(compact_flatbuffer(data)) < len(data)
    assert (r["arena_bytes"], r["arena_head_bytes"], r["arena_tail_bytes"]) == \
           (measured.total_bytes, measured.head_bytes, measured.tail_bytes)
    assert r["plan_matches_tflm"] and r["plan_head_bytes"] == measured.head_bytes
    layers = r["layers"]
    assert len(layers) == r["op_count"]
    assert sum(x["weight_bytes"] for x in layers) == r["weights_bytes"] <= r["flash_bytes"]
    assert sum(x["macs"] for x in layers) == r["macs"] and sum(x["params"] for x in layers) == r["params"]
    assert max(x["high_water_bytes"] for x in layers) == r["arena_head_bytes"]
    plan = memory_plan(read_graph(data))
    planned_outputs = sum(b.size for b in plan if b.tensor is not None) - _up16(r["input_bytes"])
    assert sum(x["activation_bytes"] for x in layers) == planned_outputs   # every op output planned once
    for x in layers:
        live = [b for b in plan if b.live_at(x["index"] + 1)]
        assert x["live_bytes"] == sum(b.size for b in live) <= x["high_water_bytes"]
        assert x["output_first_op"] == x["index"] <= x["output_last_op"]
    assert sum(t["bytes"] for t in r["tensors"]) == sum(b.size for b in plan)
    assert max(t["offset"] + t["bytes"] for t in r["tensors"]) == r["arena_head_bytes"]
    assert min(t["first_op"] for t in r["tensors"]) == -1      # the input, live before the first op
    peak = layers[r["peak_layer"]]
    assert peak["live_bytes"] == max(x["live_bytes"] for x in layers)
    assert sum(t["bytes"] for t in r["peak_tensors"]) == peak["live_bytes"]


def _the_op_where_litert_and_tflm_part_is_named(out) -> None:
    """A run whose runtimes part (as `check.op_difference` locates it) shows the op and the reason on its page."""
    import dataclasses

    from tinyml_kit.check.analyze import analyze_model
    from tinyml_kit.check.explain import Probes
    from tinyml_kit.core.evaluation import OpDifference
    from tinyml_kit.pipeline.report import render_report

    record = RunRecord.read(out)
    flatbuffer = (out / "model.tflite").read_bytes()
    op = OpDifference(7, "FULLY_CONNECTED", "dense/out", 1, 3, 400, "rounds the sum otherwise")
    parted = dataclasses.replace(record.check.validation, litert_equals_tflm=False, litert_tflm_max_abs_diff=1,
                                 litert_tflm_op=op)
    html = render_report(record, analyze_model(flatbuffer, "model.tflite"), parted, None, Probes(), [])
    assert "DIFFERENT, max diff 1: FULLY_CONNECTED (op 7, &#39;dense/out&#39;) differs by up to 1 on 3 of 400 " \
           "outputs: rounds the sum otherwise." in " ".join(html.split())


def _up16(n: int) -> int:
    return -(-n // 16) * 16


def run_json(*args) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_analyze_run_totals_match_measurements_and_board(budget_run):
    out, report = budget_run
    r = run_json("analyze", out)
    _check_plan_consistency(r, out / "model.tflite")
    assert r["flash_bytes"] == report["flash_bytes"] and r["arena_bytes"] == report["arena_bytes"]
    assert r["macs"] == report["macs"]        # the same MAC count as the Keras model's
    assert r["board"] == "nucleo-f401re" and r["fits"]
    assert r["flash_margin_bytes"] == r["flash_budget_bytes"] - report["flash_bytes"]
    assert r["ram_margin_bytes"] == r["arena_budget_bytes"] - report["arena_alloc_bytes"]
    assert r["flash_margin_percent"] == pytest.approx(100 * r["flash_margin_bytes"] / r["flash_budget_bytes"], abs=0.01)

    text = run("analyze", out)
    assert text.exit_code == 0 and "PEAK" in text.stdout and "FITS nucleo-f401re" in text.stdout
    rows = list(csv.DictReader(io.StringIO(run("analyze", out, "--csv").stdout)))
    assert len(rows) == r["op_count"] and rows[r["peak_layer"]]["op"] == r["peak_op"]

    # a board whose RAM it misses: a verdict with the negative margin, and exit status 1
    assert report["arena_alloc_bytes"] > 16384      # the Uno R4 Minima leaves 16 KiB for the arena
    miss = run("analyze", out, "--board", "uno-r4-minima", "--json")
    m = json.loads(miss.stdout)
    assert miss.exit_code == 1 and not m["fits"] and m["fits_flash"] and not m["fits_ram"]
    assert m["ram_margin_bytes"] == 16384 - report["arena_alloc_bytes"] < 0
    assert "DOES NOT FIT uno-r4-minima" in run("analyze", out, "--board", "uno-r4-minima").stdout


@pytest.mark.slow
def test_analyze_foreign_tflite(foreign_tflite):
    r = run_json("analyze", foreign_tflite)
    _check_plan_consistency(r, foreign_tflite)
    assert {"MAX_POOL_2D", "CONCATENATION", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(r["ops"])
    assert "fits" not in r     # no board, no verdict
    # conv 22x22x8 over 3x3x3, conv 11x11x8 over 3x3x8, dense 5*5*16 -> 16 and 16 -> 4
    assert r["macs"] == 22 * 22 * 8 * 27 + 11 * 11 * 8 * 72 + 400 * 16 + 16 * 4
    assert run_json("analyze", foreign_tflite, "--board", "nano33-ble-sense")["fits"]


def test_analyze_bad_input(tmp_path, float_tflite, tiny_model):
    bad = tmp_path / "notes.tflite"
    bad.write_text("not a model")
    assert_one_line_error(run("analyze", bad), "not a TFLite flatbuffer")
    assert_one_line_error(run("analyze", float_tflite), "not int8")
    assert_one_line_error(run("analyze", tmp_path / "missing.tflite"), "not found")
    assert_one_line_error(run("analyze", tiny_model[1], "--board", "nope"), "unknown board")
    assert_one_line_error(run("analyze", tiny_model[1], "--json", "--csv"), "--json or --csv")


@pytest.mark.slow
def test_validate_run_across_runtimes(budget_run):
    out, report = budget_run
    r = run_json("validate", out)
    assert not r["random_inputs"] and set(r["runtimes"]) == {"keras", "onnx", "litert", "tflm"}
    pairs = {(p["a"], p["b"]): p for p in r["pairs"]}
    same = pairs[("tflm", "litert")]
    assert same["agreement"] == 1.0 and same["rmse"] == 0 and same["max_abs_diff"] == 0 and r["litert_equals_tflm"]
    cross = pairs[("tflm", "keras")]
    assert cross["cross"] and 0 < cross["rmse"] and cross["cos"] > 0.9 and cross["agreement"] == report["agreement"]
    assert pairs[("onnx", "keras")]["max_abs_diff"] <= 1e-4 and r["onnx_agreement"] == 1.0
    assert r["runtimes"]["tflm"]["accuracy"] == pytest.approx(report["int8_accuracy"])
    assert r["runtimes"]["keras"]["accuracy"] == pytest.approx(report["float_accuracy"], abs=1e-6)
    m = np.array(r["runtimes"]["tflm"]["confusion_matrix"])
    assert m.sum() == r["images"] == report["data"]["val_images"] and 0 < r["runtimes"]["tflm"]["macro_f1"] <= 1


def test_output_metrics_against_hand_computed_values():
    from tinyml_kit.check.validate import output_metrics

    ref = np.array([[1.0, 0.0], [0.0, 2.0]])
    out = np.array([[1.0, 1.5], [0.0, 2.0]])
    m = output_metrics(out, ref)
    assert m["rmse"] == pytest.approx(0.75) and m["mae"] == pytest.approx(0.375)
    assert m["l2r"] == pytest.approx(1.5 / np.sqrt(5)) and m["cos"] == pytest.approx((1 / np.sqrt(3.25) + 1) / 2)
    assert m["agreement"] == 0.5 and m["max_abs_diff"] == 1.5


def test_validate_refuses_missing_or_mismatched_data(tiny_model, digits_npz, tmp_path):
    _, model = tiny_model
    assert_one_line_error(run("validate", model), "no validation data", "--random-inputs")
    random = run("validate", model, "--random-inputs", "--json")
    assert random.exit_code == 0, random.output
    assert "RANDOM INPUTS" in random.stderr and "NO ACCURACY" in random.stderr
    r = json.loads(random.stdout)
    assert r["random_inputs"] and "accuracy" not in r["runtimes"]["tflm"] and r["litert_equals_tflm"]
    assert_one_line_error(run("validate", model, "--data", digits_npz), "8x8x1 images", "16x16x1")
    same_size = tmp_path / "16px.npz"
    np.savez(same_size, x=np.zeros((6, 16, 16, 1), np.uint8), y=np.array([0, 1, 2, 0, 1, 2]))
    assert run_json("validate", model, "--data", same_size)["skipped"]["onnx"].startswith("no float model")


@pytest.mark.slow
def test_export_onnx_matches_keras(budget_run, tmp_path):
    import onnxruntime as ort

    from tinyml_kit.nets import load_keras_model

    out, _ = budget_run
    result = run("export", out, "--format", "onnx", "--out", tmp_path, "--name", "digits")
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "digits.onnx"), providers=["CPUExecutionProvider"])
    model = load_keras_model(out / "model.keras")
    x = np.random.default_rng(1).integers(0, 256, (8, *model.input_shape[1:])).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.abs(got - model.predict(x, verbose=0)).max() <= 1e-4
    assert_one_line_error(run("export", out / "model.tflite", "--format", "onnx", "--out", tmp_path / "o"),
                          "needs the float Keras model")
    assert_one_line_error(run("export", out, "--format", "onnx", "--target", "arduino", "--out", tmp_path / "o"),
                          "--format onnx")
    assert not (tmp_path / "o").exists()


def test_gradcam_picks_correct_and_wrong_per_class(tiny_model):
    from tinyml_kit.check.explain import gradcam, pick_images

    y = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 0])
    assert pick_images(y, predicted) == [0, 1, 2, 4]
    model, _ = tiny_model
    x = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 1)).astype(np.uint8)
    cam = gradcam(model, x, y)
    assert cam.heat.shape == (len(cam.indices), 16, 16) and 0 <= cam.heat.min() and cam.heat.max() <= 1
    assert cam.layer == "b1_act" and len(cam.true) == len(cam.predicted) == len(cam.indices)   # last 4-D map with H > 1
    from tinyml_kit.check.explain import block_outputs

    assert block_outputs(model) == [("block 0", "b0_act"), ("block 1", "b1_act")]


_SECTIONS = ("budget", "memory", "training", "metrics", "confusion", "gradcam", "probes")


@pytest.mark.slow
def test_report_html_is_self_contained(budget_run, tmp_path):
    out, report = budget_run
    html = (out / "report.html").read_text()
    for section in _SECTIONS:
        assert f'<section id="{section}">' in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    for s in sources:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert f"{report['flash_bytes']:,}" in html and f"{report['arena_alloc_bytes']:,}" in html
    _the_op_where_litert_and_tflm_part_is_named(out)
    probes = report["report"]["probes"]
    first = "stem" if report["arch"] == "phinet" else "block 0"    # a PhiNet's stem, or the first block
    assert probes[0]["block"] == first and all(0 <= p["accuracy"] <= 1 for p in probes)
    # report.json reads back into its typed sections and writes the same JSON (users' scripts read its keys)
    record = RunRecord.read(out)
    assert record.report.probes == probes and record.timings.report_s > 0 and record.search.chosen
    assert record.to_dict() == json.loads((out / "report.json").read_text())
    # `report RUN_DIR` rewrites it in place; a run directory without report.json is refused
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    assert run("report", copy).exit_code == 0 and (copy / "report.html").is_file()
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]
    assert_one_line_error(run("report", tmp_path), "not a run directory")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _headless(browser: str, page, *extra: str) -> str:
    """Chromium's log of loading `page` (console messages appear as INFO:CONSOLE lines)."""
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--hide-scrollbars", "--enable-logging=stderr", "--v=0", *extra, page.as_uri()],
                            capture_output=True, text=True, timeout=180)
    return result.stdout + result.stderr


_LAYOUT_PROBE = """<script>
window.addEventListener("load", () => {
  const sections = [...document.querySelectorAll("section")].map(s => [s.id,
    Math.round(s.getBoundingClientRect().height),
    [...s.querySelectorAll("img")].every(i => i.complete && i.naturalWidth > 0)]);
  console.log("LAYOUT " + JSON.stringify(sections));
});
</script></body>"""


def _console_errors(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if ":CONSOLE" in ln and "LAYOUT " not in ln]


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_report_in_headless_chromium(budget_run, tmp_path):
    out, _ = budget_run
    browser = _chromium()
    shot = tmp_path / "report.png"
    log = _headless(browser, out / "report.html", f"--screenshot={shot}", "--window-size=1280,4800")
    assert shot.is_file(), log[-2000:]
    assert _console_errors(log) == []
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.std() > 0.05                                   # not a blank page
    rows_with_ink = (np.abs(pixels - pixels[0, -1]).sum(-1) > 0.1).any(1).mean()
    assert rows_with_ink > 0.5
    # every section laid out with a height and every image decoded, as the browser sees them
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", _LAYOUT_PROBE))
    line = next(ln for ln in _headless(browser, probe, "--dump-dom").splitlines()
                if ":CONSOLE" in ln and "LAYOUT " in ln)
    layout = json.loads(line.split("LAYOUT ", 1)[1].rsplit('", source:', 1)[0])
    assert [s[0] for s in layout] == list(_SECTIONS)
    assert all(height > 100 and images for _, height, images in layout), layout
    # the check can fail: a page with a script error is caught
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    assert _console_errors(_headless(browser, broken, "--dump-dom"))
