"""`compress`: prune, quantization-aware-train or distil the model of a run directory into a new run directory,
with the same data split and budget, measured again; the new record keeps the original's numbers under `before`."""

import logging
import time
from pathlib import Path

from tinyml_kit.check.engines import checks
from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.quantize import calibration_images
from tinyml_kit.compress.stages import compress
from tinyml_kit.compress.teachers import resolve_teacher
from tinyml_kit.core.artifacts import prepare_output
from tinyml_kit.core.budget import model_ram_bytes
from tinyml_kit.core.cores import kernel_family
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.record_sections import CompressionRecord, Timings
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.nets import load_keras_model
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.pipeline.advise import add_advice, log_advice
from tinyml_kit.pipeline.measure import model_latency
from tinyml_kit.pipeline.preflight import require_runnable
from tinyml_kit.pipeline.runs import timed
from tinyml_kit.solve.engines import get_engine

logger = logging.getLogger(__name__)


def compress_run(run_dir: str | Path, options: CompressOptions, out: str | Path | None = None) -> RunRecord:
    from tinyml_kit.pipeline.outcome import evaluate_compressed
    from tinyml_kit.pipeline.runs import require_float_model, run_split, write_run

    started, timings = time.perf_counter(), Timings()
    options.validate()
    if options.prune == "none" and options.quant == "ptq" and not options.teacher:
        raise UserError("nothing to do: ask for pruning, quantization-aware training or a teacher", "prune",
                        "quant", "teacher")
    run_dir = Path(run_dir)
    record = RunRecord.read(run_dir)
    engine = get_engine(record.engine)
    keras_path = require_float_model(run_dir, "compression starts from the float model")
    out = prepare_output(Path(out) if out else compressed_name(run_dir, options))
    logger.info(f"plan: {options.plan()}")
    model = load_keras_model(keras_path)
    require_runnable(model, engine, options.quant, "the run's model")   # before a teacher or a fine-tune trains
    if checks(engine).host:
        checks(engine).host.require(None)
    parts = run_split(record, tuple(model.input_shape[1:]))
    seed, batch = record.data.seed, record.training.batch_size
    calibration = calibration_images(parts.train.x, seed=seed)
    with timed(timings, "compress_s"):
        teacher, teacher_info = resolve_teacher(options, model, parts, record.training.epochs, batch, seed)
        c = compress(model, parts, calibration, options, teacher=teacher, batch_size=batch, seed=seed,
                     distil_first=not options.trains, class_weight=record.training.class_weights)
    with timed(timings, "check_s"):
        checked = evaluate_compressed(c, parts, engine, family=kernel_family(record.board.core))
    costs = model_costs(c.model)
    latency = model_latency(c.flatbuffer, costs.macs, record.board, engine,
                            model_ram_bytes(record.board, record.budget))
    new = record.derive(
        params=costs.params, macs=costs.macs, predicted_accuracy=None, flash_bytes_est=None, arena_bytes_est=None,
        latency_ms_est=round(latency.ms, 2), instructions_est=latency.instructions,
        cycles_est=latency.cycles,
        flash_bytes=checked.footprint.flash_bytes, arena_bytes=checked.footprint.arena_bytes,
        arena_alloc_bytes=checked.footprint.arena_alloc_bytes, check=checked, timings=timings,
        compression=CompressionRecord(options, teacher_info, c.stages),
        compressed_from=str(run_dir.absolute()), verify=None)
    add_advice(new, c.model, c.flatbuffer, calibration, out)
    new = write_run(out, new, c.model, c.flatbuffer, parts, checked.validation, started)
    logger.info(compress_summary(new))
    log_advice(new.advice)
    logger.info(f"run directory: {out}")
    return new


def compress_summary(new: RunRecord) -> str:
    before = new.before
    return (f"{'FITS' if new.verdict.ok else 'DOES NOT FIT'} {new.board.id}: flash {before.flash_bytes:,} -> "
            f"{new.flash_bytes:,} B, arena {before.arena_bytes:,} -> {new.arena_bytes:,} B, MACs "
            f"{before.macs:,} -> {new.macs:,}, int8 accuracy {before.int8_accuracy:.4f} -> "
            f"{new.int8_accuracy:.4f}; LiteRT == TFLM: {new.litert_equals_tflm}")


def compressed_name(run_dir: Path, options: CompressOptions) -> Path:
    """RUN_DIR-structured50-qat-kd: beside the original, named by what was applied."""
    parts = [run_dir.name]
    if options.prune != "none":
        parts.append(f"{options.prune}{round(100 * options.sparsity)}")
    if options.quant == "qat":
        parts.append("qat")
    if options.teacher:
        parts.append("kd")
    return run_dir.parent / "-".join(parts)
