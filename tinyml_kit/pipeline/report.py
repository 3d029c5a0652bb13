"""One self-contained report.html per run: budgets, where the memory goes, training, float vs int8 vs TFLM,
the confusion matrix, Grad-CAM and linear probes. Every image is inlined, nothing is fetched from a network,
so the file can be mailed or archived as the run's evidence."""

import base64
import logging
from pathlib import Path

from tinyml_kit import __version__
from tinyml_kit.check.analysis import Analysis
from tinyml_kit.check.analyze import analyze_model
from tinyml_kit.check.explain import Probes, gradcam, linear_probes
from tinyml_kit.check.validate import TITLES, validate_model
from tinyml_kit.core import progress
from tinyml_kit.core.artifacts import write_atomic
from tinyml_kit.core.evaluation import Validation
from tinyml_kit.core.record_sections import ReportNumbers, SearchRecord
from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.spec import describe
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.core.timing import memory_timing
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.pipeline.plots import (
    confusion_figure,
    gradcam_figure,
    lr_finder_figure,
    memory_figure,
    png_bytes,
    probes_figure,
    training_figure,
)
from tinyml_kit.solve.engines import get_engine

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"


def _b64(png: bytes | None) -> str:
    return base64.b64encode(png).decode() if png else ""


def _gauge(label: str, used: float, limit: float, unit: str, detail: str) -> dict:
    percent = 100.0 * used / limit if limit else 0.0
    fmt = (lambda v: f"{v:,.1f} {unit}") if unit == "ms" else (lambda v: f"{int(v):,} {unit}")
    return {"label": label, "used_text": fmt(used), "limit_text": fmt(limit), "percent": percent, "detail": detail,
            "level": "bad" if percent > 100 else "warn" if percent > 90 else "ok"}


def gauges(record: RunRecord) -> list[dict]:
    b, budget, words = record.board, record.budget, get_engine(record.engine).words
    flash, arena = words.flash_measured, words.arena_measured.format(used=record.arena_bytes)
    runtime = words.kernels
    return [
        _gauge("Flash (model)", record.flash_bytes, budget.flash_bytes, "B",
               f"{flash}; budget = {b.flash_linked_bytes:,} B linked - {b.flash_reserve_bytes:,} B "
               f"for {runtime}, HAL and application"),
        _gauge("RAM (tensor arena)", record.arena_alloc_bytes, budget.arena_bytes, "B",
               f"{arena}; budget = {b.ram_linked_bytes:,} B linked "
               f"- {b.ram_reserve_bytes:,} B for stack, heap and application"),
        *([_gauge("MACs", record.macs, budget.macs, "MACs", "per inference, counted from the model")]
          if budget.macs is not None else []),
        *([_gauge("Latency (estimate)", record.latency_ms_est, budget.latency_ms, "ms", _latency_basis(record))]
          if budget.latency_ms is not None else []),
    ]


def _latency_basis(record: RunRecord) -> str:
    b = record.board
    if record.cycles_est is None:
        return f"from MACs and the {b.core}'s estimated throughput at {b.clock_mhz:g} MHz; not measured"
    engine = get_engine(record.engine).words.title
    return (f"{record.cycles_est:,} cycles predicted per op ({engine}, fitted on QEMU profiles counted with the "
            f"{b.core}'s timing table; flash: {memory_timing(b).what}) at {b.clock_mhz:g} MHz; "
            f"a profiled `verify` estimates the cycles")


def _firmware_words(verified: VerifyResult):
    """The words of the engine a `verify` result was built for."""
    return get_engine(verified.engine).words


def render_report(record: RunRecord, analysis: Analysis, validation: Validation, cam, probes,
                  verify: list[VerifyResult], baselines: list[dict] = ()) -> str:
    import jinja2


    peak = analysis.peak
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    env.filters["firmware"] = lambda v: _firmware_words(v).firmware.format(kernels=v.kernels)
    env.filters["firmware_short"] = lambda v: _firmware_words(v).firmware_short.format(kernels=v.kernels)
    d, t = record.data, record.training
    return env.get_template("report/report.html.j2").render(
        title=f"{describe(record.arch, record.choice)} on {record.board.id}",
        subtitle=(f"data {d.source}: {d.train_images} train / {d.val_images} validation images, {len(d.classes)} "
                  f"classes, input {'x'.join(map(str, d.input_shape))}; {record.params:,} params; engine: "
                  + get_engine(record.engine).words.runtime),
        board=record.board, fits_all=record.verdict.ok, gauges=gauges(record), analysis=analysis,
        advice=record.advice.lines() if record.advice else [],
        peak_short=peak.name.split(";")[0], peak_live=peak.live_bytes,
        images=_figures(record, analysis, validation, cam, probes), validation=validation,
        training_note=(f"not trained here: deployed from {record.deployed_from}" + _conversion_note(record)
                       if record.deployed_from else
                       f"{t.epochs_run} of {t.epochs} epochs run, best epoch {t.best_epoch}, batch {t.batch_size}, "
                       f"seed {t.seed}" + _stages_note(record)),
        gradcam_layer=cam.layer if cam else "", verify=verify, baselines=_baseline_rows(record, baselines),
        version=__version__, runtime_titles=TITLES,
        run_dir=record.run_dir, **_search_notes(record.search))


def _search_notes(search: SearchRecord) -> dict:
    """The pins as given, what the solver chose, and what each pin cost (`fit --depth 7 …`); empty without pins."""
    def knobs(d: dict) -> str:
        return ", ".join(f"{k} {_pin_text(v)}" for k, v in d.items())

    return {"search_pinned": knobs(search.pinned), "search_chosen": knobs(search.chosen),
            "search_lines": search.pin_lines or (["every searched knob pinned: the model was measured as given"]
                                                 if search.fully_pinned else [])}


def _pin_text(v) -> str:
    if isinstance(v, dict):
        return f"{v['min']:g}:{v['max']:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(f"{x:g}" if isinstance(x, (int, float)) else str(x) for x in v)
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _baseline_rows(record: RunRecord, baselines: list[dict]) -> list[dict]:
    """The model's validation scores (report.json) beside each classic baseline's (`baseline_<method>.json`);
    a baseline made on other data or another split than the run's is left out, with a warning."""
    same = [b for b in baselines if (b.get("fingerprint"), b.get("seed")) == (record.data.fingerprint,
                                                                              record.data.seed)]
    for b in baselines:
        if b not in same:
            logger.warning(f"baseline {b.get('method')} was made on another split than the run's: not shown")
    if not same:
        return []
    kinds = ((record.check.int8_metrics, "int8, as deployed"), (record.check.float_metrics,
                                                                 record.check.float_model or "float"))
    model = [{"name": f"this model ({title})", "accuracy": m.accuracy, "macro_f1": m.macro_f1, "seconds": None}
             for m, title in kinds if m is not None]
    return model + [{"name": f"{b['method']}: {b['description']}", "accuracy": b["accuracy"],
                     "macro_f1": b["macro_f1"], "seconds": b["seconds"]["total_s"]} for b in same]


def _figures(record: RunRecord, analysis: Analysis, validation: Validation, cam, probes) -> dict[str, str]:
    names = validation.class_names
    history, recipe = record.training.history, record.training.recipe
    unfrozen = [{"stage": "unfrozen", **recipe["unfreeze"]}] if recipe.get("unfreeze") else []
    stages = unfrozen + record.compression.tuned_stages
    return {
        "lr_finder": _b64(png_bytes(lr_finder_figure(recipe["lr_finder"]))) if recipe.get("lr_finder") else "",
        "memory": _b64(png_bytes(memory_figure(analysis))),
        "training": _b64(png_bytes(training_figure(history, stages))) if history else "",
        "confusion": _b64(png_bytes(confusion_figure(validation.runtimes["tflm"]["confusion_matrix"], names,
                                                     "TFLM int8, rows: true class"))),
        "gradcam": _b64(png_bytes(gradcam_figure(cam, names))) if cam else "",
        "probes": _b64(png_bytes(probes_figure(probes))) if probes.rows else "",
    }


def _conversion_note(record) -> str:
    """How the converted model (`deploy` of an .onnx) agreed with its own runtime before it was quantized."""
    c = record.conversion
    return (f"; {c.how}, against {c.runtime} on {c.images} validation images: top-1 "
            f"agreement {c.top1_agreement:.4f}, largest output difference {c.max_abs_diff:.3g}" if c else "")


def _stages_note(record: RunRecord) -> str:
    recipe = record.training.recipe
    note = ""
    if recipe:
        rate = recipe.get("learning_rate")
        note = f"; {recipe.get('schedule', 'cosine')} schedule" + (f", rate {rate:.2g}" if rate else "")
        if recipe.get("lr_finder"):
            note += " (from the range test)"
        if recipe.get("class_weight", "none") != "none":
            note += f", {recipe['class_weight']} class weights"
        if recipe.get("init_from"):
            note += f"; started from {recipe['init_from']}"
            if recipe.get("freeze_stages"):
                note += (f" with the stem and {recipe['freeze_stages']} stage(s) frozen "
                         f"({recipe.get('frozen_params', 0):,} parameters)")
        if recipe.get("unfreeze"):
            u = recipe["unfreeze"]
            note += (f"; then {u['epochs']} epochs with every layer trained at {u['learning_rate']:.2g} ("
                     + ("kept" if u["kept"] else "not kept: the first phase validated better") + ")")
    tuned = [f"{s['stage']} {len(s['history'].get('val_accuracy', []))}"
             for s in record.compression.tuned_stages]
    return note + (f"; then fine-tuning epochs: {', '.join(tuned)}" if tuned else "")


def write_report(dest: Path, record: RunRecord, reference, flatbuffer: bytes, parts,
                 validation: Validation | None = None, verify: list[VerifyResult] | None = None,
                 baselines: list[dict] | None = None) -> ReportNumbers:
    """Analyze, validate against `reference` (a Keras model, with ONNX, or a float .tflite's bytes; unless the
    caller already did) and explain the run (a Keras model's Grad-CAM and probes), and write
    `dest/report.html`, with `verify`'s results if the run was verified and the classic `baselines` made on its
    split. Returns the numbers the page shows, for report.json."""
    keras_side = reference is not None and not isinstance(reference, bytes)
    floats = "Keras / ONNX / " if keras_side else "the float .tflite / " if reference is not None else ""
    logger.info(f"report: per-layer analysis, validation on {floats}LiteRT / TFLM"
                + (", Grad-CAM, linear probes ..." if keras_side else " ..."))
    with progress.task("report.html"):
        analysis = analyze_model(flatbuffer, "model.tflite")
        if validation is None:
            validation = validate_model(flatbuffer, read_model(flatbuffer), parts.val, reference, "model.tflite")
        cam, probes = _explained(reference if keras_side else None, parts, record.data.seed)
    write_atomic(Path(dest) / REPORT_FILE, render_report(record, analysis, validation, cam, probes, verify or [],
                                                           baselines or []))
    return ReportNumbers(analysis.peak_layer, analysis.peak_op, analysis.plan_matches_tflm,
                         validation.onnx_max_abs_diff, probes.rows, cam.layer if cam else "")


def _explained(keras_model, parts, seed: int):
    """Grad-CAM and the linear probes of the float model; none for a run deployed from a .tflite."""
    if keras_model is None:
        return None, Probes()
    return (gradcam(keras_model, parts.val.x, parts.val.y),
            linear_probes(keras_model, parts.train.x, parts.train.y, parts.val.x, parts.val.y, seed=seed))
