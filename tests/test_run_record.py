"""report.json across versions: a record written before `schema_version` existed still reads, and says the same
thing when written again; a record from a newer tinyml-kit is refused in one line instead of half-read."""

import json
from pathlib import Path

import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.record_sections import Timings
from tinyml_kit.core.run_record import SCHEMA_VERSION, RunRecord

OLD = Path(__file__).parent / "data" / "report_schema1.json"   # written by `fit --epochs 1` before schema 2


def with_cycle_keys(old: dict) -> dict:
    """What a record from before the cycle model writes back: the keys of cycles added, empty."""
    return old | {"cycles_est": None, "cycle_budget": None,
                  "verification": [m | {"cycles": None} for m in old["verification"]]}


def test_a_record_without_schema_version_reads_and_round_trips():
    """Its time limit was instructions (before the cycle model): it is judged as written, and gains the cycle
    keys, empty."""
    old = json.loads(OLD.read_text())
    record = RunRecord.from_dict(old)
    assert record.verdict.to_dict() == old["fits"] and "latency" in old["fits"]
    again = record.to_dict()
    assert again.pop("schema_version") == SCHEMA_VERSION == 2
    assert again == with_cycle_keys(old)


def test_a_newer_schema_is_refused(tmp_path):
    newer = dict(json.loads(OLD.read_text()), schema_version=SCHEMA_VERSION + 1)
    (tmp_path / "report.json").write_text(json.dumps(newer))
    with pytest.raises(UserError, match=f"schema version {SCHEMA_VERSION + 1}, newer .* upgrade tinyml-kit"):
        RunRecord.read(tmp_path)


def test_the_sections_read_typed_and_write_back_key_for_key():
    """A compressed run's record with a teacher and pin costs: each section reads as its type and writes the same
    JSON back (users' scripts read these keys)."""
    old = json.loads(OLD.read_text())
    teacher = {"source": "runs/big", "params": 90000, "float_accuracy": 0.9, "size_ratio": 3.2}
    cost = {"knob": "depth", "pinned": "3", "free_best": "phinet a=1 d=4", "free_predicted_accuracy": 71.2,
            "gain_points": 1.5}
    d = dict(old, compressed_from="/runs/fit", before={**{k: old[k] for k in ("params", "macs", "flash_bytes",
             "arena_bytes", "arena_alloc_bytes", "float_accuracy", "int8_accuracy")}},
             compression={**old["compression"], "prune": "structured", "teacher": teacher},
             search={**old["search"], "pinned": {"depth": 3}, "pin_effects": [cost], "pin_lines": ["depth 3: ..."]})
    record = RunRecord.from_dict(d)
    assert record.compression.settings.prune == "structured" and record.compression.settings.teacher == "runs/big"
    assert record.compression.teacher == teacher and record.compression.tuned_stages == []
    assert record.search.pin_effects[0].gain_points == 1.5 and record.search.chosen == {"alpha": 1.5, "depth": 3}
    assert record.report.peak_op == "DEPTHWISE_CONV_2D" and record.timings.quantize_s == 6.45
    assert record.timings.compress_s is None and record.before.flash_bytes == old["flash_bytes"]
    again = record.to_dict()
    again.pop("schema_version")
    assert again == with_cycle_keys(d)


def test_timings_add_up_per_step_and_refuse_an_unknown_step():
    timings = Timings()
    timings.add("choose_s", 1.004)
    timings.add("choose_s", 2.0)
    timings.add("train_s", 3.0)
    assert timings.to_dict() == {"choose_s": 3.0, "train_s": 3.0}
    with pytest.raises(AttributeError):
        timings.add("trian_s", 1.0)
