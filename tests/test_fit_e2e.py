"""End to end: fit a small budget on real data, then check the run directory. Slow (~1 min)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tinyml_kit.cli import main
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer


@pytest.mark.slow
def test_fit_then_check(budget_run):
    out, report = budget_run
    assert {p.name for p in out.iterdir()} == {"model.keras", "model.tflite", "model_data.h", "model_data.cc",
                                               "report.json", "report.html"}
    assert report["report"]["plan_matches_tflm"] and report["report"]["onnx_max_abs_diff"] <= 1e-4
    tflite = (out / "model.tflite").read_bytes()   # the budget holds the compact flatbuffer TFLM firmware links
    assert report["flash_bytes"] == len(compact_flatbuffer(tflite)) <= report["flash_budget_bytes"] == 48000
    assert report["arena_alloc_bytes"] <= report["arena_budget_bytes"] == 24000
    assert report["arena_bytes"] > 0 and report["fits_all"] and report["litert_equals_tflm"]
    assert report["verification"][-1]["fits"] and report["params"] > 0 and report["mac_budget"] is None
    assert report["cycles_est"] <= report["cycle_budget"] and report["fits"]["latency"]
    assert report["int8_accuracy"] > 0.5 and report["agreement"] > 0.9
    assert str(report["arena_alloc_bytes"]) in (out / "model_data.h").read_text()
    # the solver's choice across families, with estimates beside measurements (estimates within 1 % / 3 %)
    from tinyml_kit.core.resources import SCALING_LAW_FILES

    law = json.loads(SCALING_LAW_FILES[report["arch"]].read_text())
    assert {"alpha", "depth", "predicted_accuracy"} <= report.keys() and str(report["depth"]) in law["curves"]
    lo, hi = report["predicted_accuracy_interval"]
    assert lo < report["predicted_accuracy"] < hi
    assert abs(report["flash_bytes_est"] - report["flash_bytes"]) <= 0.01 * report["flash_bytes"]
    assert abs(report["arena_bytes_est"] - report["arena_bytes"]) <= 0.03 * report["arena_bytes"]

    checked = CliRunner().invoke(main, ["check", str(out), "--json"])
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.stdout)
    assert data["int8_accuracy"] == pytest.approx(report["int8_accuracy"])
    assert data["float_accuracy"] == pytest.approx(report["float_accuracy"], abs=1e-6)
    assert data["arena_bytes"] == report["arena_bytes"]


@pytest.mark.slow
def test_fit_image_folder_with_tinynet(tmp_path):
    """--data DIR, --arch, --input, --max-macs and --seed through the CLI, on generated colour images."""
    from tinyml_kit._tf import tf

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (folder / name).mkdir(parents=True)
        for i in range(12):
            size = (int(rng.integers(12, 40)), int(rng.integers(12, 40)), 3)
            img = np.clip(np.array(colour) + rng.normal(0, 30, size), 0, 255).astype(np.uint8)
            (folder / name / f"{i}.png").write_bytes(tf().io.encode_png(img).numpy())
    reports = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = CliRunner().invoke(main, ["fit", "--data", str(folder), "--arch", "tinynet", "--input", "16,16,3",
                                           "--max-macs", "200k", "--epochs", "2", "--seed", "7", "--out", str(out),
                                           "--json"])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout))
    a, b = reports
    assert a["arch"] == "tinynet" and a["macs"] <= 200_000 == a["mac_budget"]
    assert a["data"]["classes"] == ["blue", "red"] and a["data"]["input_shape"] == [16, 16, 3]
    assert a["training"]["history"] == b["training"]["history"]  # same seed, same run
