"""One self-contained report.html per run: budgets, where the memory goes, training, float vs int8 vs TFLM,
the confusion matrix, Grad-CAM and linear probes. Every image is inlined, nothing is fetched from a network,
so the file can be mailed or archived as the run's evidence."""

import base64
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from tinyml_kit import __version__
from tinyml_kit.core.errors import UserError

Log = Callable[[str], None]
REPORT_FILE = "report.html"


def _b64(png: bytes | None) -> str:
    return base64.b64encode(png).decode() if png else ""


def _gauge(label: str, used: float, limit: float, unit: str, detail: str) -> dict:
    percent = 100.0 * used / limit if limit else 0.0
    fmt = (lambda v: f"{v:,.1f} {unit}") if unit == "ms" else (lambda v: f"{int(v):,} {unit}")
    return {"label": label, "used_text": fmt(used), "limit_text": fmt(limit), "percent": percent, "detail": detail,
            "level": "bad" if percent > 100 else "warn" if percent > 90 else "ok"}


def gauges(report: dict) -> list[dict]:
    from tinyml_kit.core.latency import latency_ms

    b = report["board"]
    latency_limit = latency_ms(report["mac_budget"], b["core"], b["clock_mhz"])
    return [
        _gauge("Flash (model)", report["flash_bytes"], report["flash_budget_bytes"], "B",
               f"measured .tflite size; budget = {b['flash_linked_bytes']:,} B linked - {b['flash_reserve_bytes']:,} B "
               f"for TFLM, kernels, HAL and application"),
        _gauge("RAM (tensor arena)", report["arena_alloc_bytes"], report["arena_budget_bytes"], "B",
               f"{report['arena_bytes']:,} B measured on TFLM + headroom; budget = {b['ram_linked_bytes']:,} B linked - "
               f"{b['ram_reserve_bytes']:,} B for stack, heap and application"),
        _gauge("MACs", report["macs"], report["mac_budget"], "MACs", "per inference, counted from the model"),
        _gauge("Latency (estimate)", report["latency_ms_est"], latency_limit, "ms",
               f"from MACs and the {b['core']}'s estimated throughput at {b['clock_mhz']:g} MHz; not measured"),
    ]


def render_report(report: dict, analysis: dict, validation: dict, cam, probes, verify: list[dict]) -> str:
    import jinja2

    from tinyml_kit.core.resources import TEMPLATES_DIR
    from tinyml_kit.pipeline.plots import (
        confusion_figure,
        gradcam_figure,
        memory_figure,
        png_bytes,
        probes_figure,
        training_figure,
    )

    names = validation["class_names"]
    history = report.get("training", {}).get("history") or {}
    images = {
        "memory": _b64(png_bytes(memory_figure(analysis))),
        "training": _b64(png_bytes(training_figure(history))) if history else "",
        "confusion": _b64(png_bytes(confusion_figure(validation["runtimes"]["tflm"]["confusion_matrix"], names,
                                                     "TFLM int8, rows: true class"))),
        "gradcam": _b64(png_bytes(gradcam_figure(cam, names))),
        "probes": _b64(png_bytes(probes_figure(probes))) if probes.rows else "",
    }
    t = report.get("training", {})
    peak = analysis["layers"][analysis["peak_layer"]]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    knobs = ", ".join(f"{k}={v:g}" for k, v in (report.get("choice") or {}).items())
    return env.get_template("report/report.html.j2").render(
        title=f"{report['arch']}{'(' + knobs + ')' if knobs else ''} on {report['board']['id']}",
        subtitle=(f"data {report['data']['source']}: {report['data']['train_images']} train / "
                  f"{report['data']['val_images']} validation images, {len(report['data']['classes'])} classes, input "
                  f"{'x'.join(map(str, report['data']['input_shape']))}; {report['params']:,} params"),
        board=report["board"], fits_all=report["fits_all"], gauges=gauges(report), analysis=analysis,
        peak_short=peak["name"].split(";")[0], peak_live=peak["live_bytes"], images=images, validation=validation,
        training_note=(f"{t.get('epochs_run')} of {t.get('epochs')} epochs run, best epoch {t.get('best_epoch')}, "
                       f"batch {t.get('batch_size')}, seed {t.get('seed')}" if t else ""),
        gradcam_layer=cam.layer, verify=verify, version=__version__, run_dir=report.get("run_dir", ""))


def write_report(dest: Path, report: dict, keras_model, flatbuffer: bytes, parts, log: Log = print,
                 validation: dict | None = None, verify: list[dict] | None = None) -> dict:
    """Analyze, validate (with ONNX; unless the caller already did) and explain the run, and write
    `dest/report.html`, with `verify`'s results if the run was verified. Returns the numbers the page shows,
    for report.json."""
    from tinyml_kit.check.analyze import analyze_model
    from tinyml_kit.check.explain import gradcam, linear_probes
    from tinyml_kit.check.validate import validate_model
    from tinyml_kit.core.tflite_info import read_model

    log("report: per-layer analysis, validation on Keras / ONNX / LiteRT / TFLM, Grad-CAM, linear probes ...")
    analysis = analyze_model(flatbuffer, "model.tflite")
    if validation is None:
        validation = validate_model(flatbuffer, read_model(flatbuffer), parts.val, keras_model, "model.tflite",
                                    log=lambda _: None)
    cam = gradcam(keras_model, parts.val.x, parts.val.y)
    probes = linear_probes(keras_model, parts.train.x, parts.train.y, parts.val.x, parts.val.y,
                           seed=report["data"]["seed"])
    html = render_report(report, analysis, validation, cam, probes, verify or [])
    (Path(dest) / REPORT_FILE).write_text(html)
    return {"peak_layer": analysis["peak_layer"], "peak_op": analysis["peak_op"],
            "plan_matches_tflm": analysis["plan_matches_tflm"], "onnx_max_abs_diff": validation["onnx_max_abs_diff"],
            "probes": probes.rows, "gradcam_layer": cam.layer}


def report_run(run_dir: str | Path, log: Log = print) -> Path:
    """`report RUN_DIR`: (re)write RUN_DIR/report.html; written beside and renamed, so a failure leaves the old
    one in place."""
    from tinyml_kit.core.tflite_info import read_model_file
    from tinyml_kit.pipeline.runs import load_keras_model, read_report, run_split

    run_dir = Path(run_dir)
    report = read_report(run_dir)
    if not (run_dir / "model.keras").is_file():
        raise UserError(f"{run_dir} has no model.keras: the report's float metrics, Grad-CAM and probes need it")
    flatbuffer, _ = read_model_file(run_dir / "model.tflite")
    model = load_keras_model(run_dir / "model.keras")
    parts = run_split(report, tuple(model.input_shape[1:]), log)
    verify = [json.loads(p.read_text()) for p in sorted(run_dir.glob("verify_*.json"))]
    with tempfile.TemporaryDirectory(prefix=".report.", dir=run_dir) as tmp:
        write_report(Path(tmp), report, model, flatbuffer, parts, log, verify=verify)
        os.replace(Path(tmp) / REPORT_FILE, run_dir / REPORT_FILE)
    return (run_dir / REPORT_FILE).absolute()
