"""report.json across versions: a record written before `schema_version` existed still reads, and says the same
thing when written again; a record from a newer tinyml-kit is refused in one line instead of half-read."""

import json
from pathlib import Path

import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.run_record import SCHEMA_VERSION, RunRecord

OLD = Path(__file__).parent / "data" / "report_schema1.json"   # written by `fit --epochs 1` before schema 2


def test_a_record_without_schema_version_reads_and_round_trips():
    old = json.loads(OLD.read_text())
    record = RunRecord.from_dict(old)
    assert record.verdict.to_dict() == old["fits"]
    again = record.to_dict()
    assert again.pop("schema_version") == SCHEMA_VERSION == 2
    assert again == old


def test_a_newer_schema_is_refused(tmp_path):
    newer = dict(json.loads(OLD.read_text()), schema_version=SCHEMA_VERSION + 1)
    (tmp_path / "report.json").write_text(json.dumps(newer))
    with pytest.raises(UserError, match=f"schema version {SCHEMA_VERSION + 1}, newer .* upgrade tinyml-kit"):
        RunRecord.read(tmp_path)
