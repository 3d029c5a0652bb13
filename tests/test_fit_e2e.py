"""End to end: fit a small budget on real data, then check the run directory. Slow (~1 min)."""

import json

import pytest
from click.testing import CliRunner

from tinyml_kit.cli import main


@pytest.mark.slow
def test_fit_then_check(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["fit", "--board", "nucleo-f401re", "--max-flash", "48KB", "--max-ram", "24KB",
                                       "--epochs", "4", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {p.name for p in out.iterdir()} == {"model.keras", "model.tflite", "model_data.h", "model_data.cc",
                                               "report.json"}
    assert report["flash_bytes"] == (out / "model.tflite").stat().st_size <= report["flash_budget_bytes"] == 48000
    assert report["arena_alloc_bytes"] <= report["arena_budget_bytes"] == 24000
    assert report["arena_bytes"] > 0 and report["fits_all"] and report["litert_equals_tflm"]
    assert report["verification"][-1]["fits"] and report["params"] > 0 and report["macs"] <= report["mac_budget"]
    assert report["int8_accuracy"] > 0.5 and report["agreement"] > 0.9
    assert str(report["arena_alloc_bytes"]) in (out / "model_data.h").read_text()

    checked = CliRunner().invoke(main, ["check", str(out), "--json"])
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.stdout)
    assert data["int8_accuracy"] == pytest.approx(report["int8_accuracy"])
    assert data["float_accuracy"] == pytest.approx(report["float_accuracy"], abs=1e-6)
    assert data["arena_bytes"] == report["arena_bytes"]
