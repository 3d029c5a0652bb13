"""report.json's `check` section as typed data: the sizes measured on TFLM and on the run's engine are separate
fields, and every section written so far (the first schema's, a C-engine run's) reads into them and is written
back key for key, in the same order."""

import json
from pathlib import Path

from tinyml_kit.core.evaluation import Evaluation, HostResult

DATA = Path(__file__).parent / "data"
OLD = DATA / "report_schema1.json"        # a TFLM run written before `schema_version`
C_RUN = DATA / "check_c_engine.json"      # the `check` section of `fit --engine c --epochs 1` on 300 digits


def test_a_schema1_check_reads_as_tflm_only_and_writes_back_the_same():
    section = json.loads(OLD.read_text())["check"]
    e = Evaluation.from_dict(section)
    assert e.engine is e.engine_footprint is e.host is None and e.float_model == "float"
    assert e.footprint == e.tflm and e.tflm.flash_bytes == section["flash_bytes"] == 35784
    assert e.int8_metrics.accuracy == e.int8_accuracy and e.float_metrics.macro_f1 == section["float"]["macro_f1"]
    assert e.validation.images == e.images and e.validation.runtimes["tflm"]["accuracy"] == e.int8_accuracy
    assert list(e.to_dict().items()) == list(section.items())


def test_a_c_engine_check_keeps_tflm_sizes_apart_from_the_engine_s():
    section = json.loads(C_RUN.read_text())
    e = Evaluation.from_dict(section)
    assert e.engine == "c" and e.footprint is e.engine_footprint and e.float_model == "float"
    assert e.tflm.flash_bytes == section["tflm"]["flash_bytes"] != e.engine_footprint.flash_bytes
    assert e.engine_footprint.constant_bytes == section["constant_bytes"]
    assert e.host == HostResult("c", section["c_images"], True, 0, section["c_flash_bytes"], section["c_arena_bytes"])
    assert list(e.to_dict().items()) == list(section.items())
    assert Evaluation.from_dict(e.to_dict()) == e
