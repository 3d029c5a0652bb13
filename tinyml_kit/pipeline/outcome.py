"""How `fit` and `compress` end: the int8 model checked against what it approximates, the one-line verdict,
and, when asked, the proof on an emulated Cortex-M folded back into the run's report."""

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinyml_kit.check.engines import checks, host_check, measured_footprint
from tinyml_kit.check.evaluate import evaluate
from tinyml_kit.check.verify import verify_lines
from tinyml_kit.compress.stages import Compressed, reference_words
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.evaluation import Evaluation, Validation
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.core.timing import not_validated
from tinyml_kit.solve.engines import CHECKER, DEFAULT, Engine, get_engine
from tinyml_kit.train.data import Split

logger = logging.getLogger(__name__)


def evaluate_compressed(c: Compressed, parts: Split, engine: Engine = DEFAULT, cmsis_nn_dir=None,
                        family: KernelFamily = KernelFamily.DSP) -> Evaluation:
    """LiteRT, TFLM and the float side (Keras, and ONNX for a float Keras model; or the float .tflite on LiteRT)
    on the validation split. The float side is the model the int8 one was converted from: the float model, after
    QAT the fake-quantized one, or for a model deployed from a float graph its float .tflite (`float_model` says
    which), so "float vs int8" never compares the int8 model with a model it did not come from. On an engine other
    than the checker (TFLM), the sizes the budget is judged by are the engine's (TFLM's kept beside them), and the
    engine's own build runs on the same images beside LiteRT, where it has a host check. `family`: the kernels
    the board's core takes (`core.cores.kernel_family`)."""
    float_reference = c.reference is c.model
    checked = evaluate(c.flatbuffer, parts.val, reference=c.reference, onnx=float_reference)
    checked = replace(checked, float_model=c.reference_kind)
    if engine is CHECKER:
        return checked
    images = read_model(c.flatbuffer).inputs[0].quantize(parts.val.x.astype(np.float32))
    return replace(checked, engine=engine.name, engine_footprint=measured_footprint(c.flatbuffer, engine, family),
                   host=host_check(c.flatbuffer, images, engine, cmsis_nn_dir, family=family))


def fit_summary(record: RunRecord) -> str:
    """FITS / DOES NOT FIT, each measured figure against its budget, and the accuracies."""
    v, b, engine = record.verdict, record.budget, get_engine(record.engine)
    reference = reference_words(record.check.float_model)
    arena = engine.words.arena_verdict.format(used=record.arena_bytes)
    host = checks(engine).host
    time = (f"time ~{record.latency_ms_est:g}/{b.latency_ms:g} ms ({record.cycles_est:,}/{b.cycles:,} cycles "
            f"predicted{not_validated(record.board.core)}); " if "latency" in v.checks else "")
    return (f"{'FITS' if v.ok else 'DOES NOT FIT'} {record.board.id}: flash {record.flash_bytes:,}/{b.flash_bytes:,} "
            f"B, arena {record.arena_alloc_bytes:,}/{b.arena_bytes:,} B ({arena}); {time}"
            + (f"{reference} acc {record.float_accuracy:.4f}, int8 acc {record.int8_accuracy:.4f}, agreement "
               f"{record.agreement:.4f}" if record.float_accuracy is not None else
               f"int8 acc {record.int8_accuracy:.4f} (no float model)")
            + f", LiteRT == TFLM: {record.litert_equals_tflm}"
            + (f" ({record.check.litert_tflm_op.short()})" if record.check.litert_tflm_op else "")
            + (f", {host.verdict(record.check.host)}" if host and record.check.host else ""))


def verify_and_report(record: RunRecord, tflm_dir, model, flatbuffer: bytes, parts: Split,
                      validation: Validation, cmsis_nn_dir=None) -> RunRecord:
    """`verify` (reference kernels, 20 images) on the run just written, then its report.html again, now with
    the Cortex-M4F table, from the model, data and validation `fit` already holds (nothing is re-loaded)."""
    from tinyml_kit.pipeline.checks import verify_run
    from tinyml_kit.pipeline.report import write_report

    record.verify = verify_run(record.run_dir, tflm_dir=tflm_dir, val=parts.val, engine=record.engine,
                               cmsis_nn_dir=cmsis_nn_dir)
    for line in verify_lines(record.verify):
        logger.info(line)
    write_report(Path(record.run_dir), record, model, flatbuffer, parts, validation, verify=[record.verify])
    return record
