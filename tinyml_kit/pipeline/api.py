"""The Python API behind `inspect`, `check` and `export` (`fit` lives in `fit`, `boards` in `boards`)."""

import os
from collections.abc import Callable
from pathlib import Path

from tinyml_kit.core.errors import UserError

Log = Callable[[str], None]


def inspect_arch(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs) -> dict:
    """Parameters, MACs (with a per-kind breakdown) and the TFLite ops of a freshly built model."""
    from tinyml_kit.build import build
    from tinyml_kit.build.costs import model_costs

    model = build(arch, input_shape, classes, **knobs)
    costs = model_costs(model)
    result = {"arch": arch, "name": model.name, "input_shape": list(input_shape), "classes": classes,
              **costs.to_dict()}
    if arch == "phinet":
        result.update(_phinet_estimates(input_shape, classes, **knobs))
    return result


def _phinet_estimates(input_shape, classes: int, **knobs) -> dict:
    """Conversion-free .tflite size and TFLM arena (see `estimate`), for the builder's defaults where unset."""
    import inspect as pyinspect

    from tinyml_kit.build.phinet import phinet
    from tinyml_kit.core.arena import arena_with_headroom
    from tinyml_kit.solve.estimate import estimate_phinet

    defaults = {k: p.default for k, p in pyinspect.signature(phinet).parameters.items()}
    values = {k: defaults[k] if knobs.get(k) is None else knobs[k]
              for k in ("alpha", "beta", "t0", "depth", "divisor")}
    e = estimate_phinet(input_shape=input_shape, classes=classes, **values)
    return {"flash_bytes_est": e.flash_bytes_est, "arena_bytes_est": e.arena_bytes_est,
            "arena_alloc_bytes_est": arena_with_headroom(e.arena_bytes_est)}


def inspect_tflite(path: str | Path) -> dict:
    """File size, TFLM-measured arena, ops and I/O of an int8 .tflite."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.core.tflite_info import read_model_file, require_int8

    data, info = read_model_file(path)
    require_int8(info, str(path))
    arena = measure_arena(data)
    return {"model": str(path), "flash_bytes": info.size_bytes, "arena_bytes": arena.total_bytes,
            "arena_alloc_bytes": arena.alloc_bytes, "ops": info.ops, "op_count": info.op_count,
            "inputs": [vars(t) for t in info.inputs], "outputs": [vars(t) for t in info.outputs]}


def check_target(target: str | Path, data: str | None = None, log: Log = print) -> dict:
    """Evaluate a run directory (on its own validation split unless `data` is given) or a .tflite."""
    from tinyml_kit.check.evaluate import evaluate
    from tinyml_kit.pipeline.runs import load_target

    t = load_target(target, data, log)
    return evaluate(t.flatbuffer, t.val, keras_model=t.keras_model, name=t.name, log=log)


EXPORT_TARGETS = ("c", "arduino", "stm32")


def export_model(model: str | Path, out: Path, target: str = "c", labels: list[str] | None = None,
                 name: str = "model", board_id: str | None = None, tflm_dir: str | Path | None = None,
                 log: Log = print) -> list[Path]:
    """Export a run directory's model (or a bare .tflite) for `target`: `c` writes the model data and the model
    API, `arduino` a library folder and its .zip, `stm32` a Makefile project. The arena size comes from a TFLM
    measurement of this model; an op TFLM cannot run is refused by name before anything is written, and a bad
    name or label before any work."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.core.artifacts import prepare_output, staged_output
    from tinyml_kit.core.tflite_info import read_model_file, require_int8
    from tinyml_kit.export.firmware import (
        ModelSource,
        library_name,
        write_arduino_library,
        write_stm32_project,
        zip_folder,
    )
    from tinyml_kit.export.text import check_labels, require_identifier
    from tinyml_kit.pipeline.runs import read_report

    if target not in EXPORT_TARGETS:
        raise UserError(f"--target {target} is unknown: choose one of {', '.join(EXPORT_TARGETS)}")
    require_identifier(name)
    model = Path(model)
    run_dir = model if model.is_dir() else (model.parent if (model.parent / "report.json").is_file() else None)
    report = read_report(run_dir) if run_dir else None
    tflite = model / "model.tflite" if model.is_dir() else model
    data, info = read_model_file(tflite)
    require_int8(info, str(tflite))
    classes = info.outputs[0].sample_size
    if labels is None:
        labels = report["data"]["classes"] if report else [f"class{i}" for i in range(classes)]
    check_labels(labels, classes)
    board = _export_board(target, board_id, report)
    arena = measure_arena(data)
    src = ModelSource(data, info, labels, arena.total_bytes, arena.alloc_bytes, name=name, source=str(tflite))
    log(f"{tflite}: {len(data):,} bytes, arena {arena.total_bytes:,} B measured on TFLM, "
        f"{arena.alloc_bytes:,} B with headroom")
    if target == "c":
        with staged_output(out, allow_existing=True) as tmp:
            written = src.write_api(tmp)
        return [Path(out).absolute() / p.name for p in written]
    folder = library_name(name) + ("_stm32" if target == "stm32" else "")
    items = [folder, f"{folder}.zip"] if target == "arduino" else [folder]
    for item in items:
        prepare_output(Path(out) / item)
    sample = _sample(data, info, report, labels, log)
    with staged_output(out, allow_existing=True) as tmp:
        if target == "arduino":
            write_arduino_library(src, sample, tmp / folder, board)
            zip_folder(tmp / folder, tmp / f"{folder}.zip")
        else:
            from tinyml_kit.export.toolchain import TFLM_DIR_ENV, find_tflm_dir

            tree = find_tflm_dir(tflm_dir).tree if tflm_dir or os.environ.get(TFLM_DIR_ENV) else None
            write_stm32_project(src, sample, tmp / folder, board, tree)
    return [Path(out).absolute() / item for item in items]


def _export_board(target: str, board_id: str | None, report: dict | None):
    from tinyml_kit.core.boards import get_board

    board_id = board_id or (report["board"]["id"] if report else None)
    if board_id is None:
        if target == "stm32":
            raise UserError("--target stm32 needs the board's core flags: pass --board ID (see `tinyml-kit boards`)")
        return None
    board = get_board(board_id)
    if target == "stm32":
        _ = board.gcc_cpu_flags   # refuses a board arm-none-eabi-gcc cannot build for
    return board


def _sample(model: bytes, info, report: dict | None, labels: list[str], log: Log, search: int = 64):
    """A validation image of the run the int8 model gets right (the first of `search` if none; a mid-grey image
    without a run), with the host's int8 prediction for it."""
    import numpy as np

    from tinyml_kit.check.litert import LiteRtModel
    from tinyml_kit.export.firmware import Sample
    from tinyml_kit.pipeline.runs import run_split

    shape = tuple(info.inputs[0].shape[1:])
    if report is not None:
        val = run_split(report, shape, log).val
        images, truth, origin = val.x[:search], val.y[:search], "validation"
    else:
        images, truth, origin = np.full((1, *shape), 128, np.uint8), None, "synthetic (mid-grey)"
    pixels = np.clip(np.round(images), 0, 255).astype(np.uint8)
    predicted = LiteRtModel(model).predict(info.inputs[0].quantize(pixels.astype(np.float32))).argmax(1)
    right = np.flatnonzero(predicted == truth) if truth is not None else []
    i = int(right[0]) if len(right) else 0
    true_label = labels[int(truth[i])] if truth is not None else "unknown"
    return Sample(pixels[i], true_label, labels[int(predicted[i])], origin)


def compress_run(run_dir: str | Path, options, out: str | Path | None = None, log: Log = print) -> dict:
    """Prune / quantization-aware-train / distil the model of a run directory into a new run directory, with
    the same data split and budget; the report keeps the original's numbers under `before`."""
    import time

    from tinyml_kit.build.costs import model_costs
    from tinyml_kit.check.evaluate import evaluate
    from tinyml_kit.compress.quantize import calibration_images
    from tinyml_kit.compress.stages import compress, resolve_teacher
    from tinyml_kit.core.artifacts import prepare_output, staged_output
    from tinyml_kit.pipeline.report import write_report
    from tinyml_kit.pipeline.runs import load_keras_model, read_report, run_split, write_run

    start = time.perf_counter()
    run_dir = Path(run_dir)
    report = read_report(run_dir)
    options.validate()
    if not (run_dir / "model.keras").is_file():
        raise UserError(f"{run_dir} has no model.keras to compress: re-run fit")
    out = prepare_output(Path(out) if out else _compressed_name(run_dir, options))
    model = load_keras_model(run_dir / "model.keras")
    parts = run_split(report, tuple(model.input_shape[1:]), log)
    seed, batch = report["data"]["seed"], report["training"].get("batch_size", 32)
    teacher, teacher_info = resolve_teacher(options, model, parts, report["training"]["epochs"], batch, seed, log)
    c = compress(model, parts, calibration_images(parts.train.x, seed=seed), options, teacher=teacher,
                 batch_size=batch, seed=seed, log=log, distil_first=not options.trains)
    checked = evaluate(c.flatbuffer, parts.val, keras_model=c.model, log=log, onnx=True)
    costs = model_costs(c.model)
    fits = {"flash": checked["flash_bytes"] <= report["flash_budget_bytes"],
            "arena": checked["arena_alloc_bytes"] <= report["arena_budget_bytes"],
            "macs": costs.macs <= report["mac_budget"]}
    keys = ("params", "macs", "flash_bytes", "arena_bytes", "arena_alloc_bytes", "float_accuracy", "int8_accuracy")
    new = {**report, "params": costs.params, "macs": costs.macs, "predicted_accuracy": None,
           "flash_bytes_est": None, "arena_bytes_est": None,
           **{k: checked[k] for k in ("flash_bytes", "arena_bytes", "arena_alloc_bytes", "float_accuracy",
                                      "int8_accuracy", "agreement", "litert_equals_tflm")},
           "fits": fits, "fits_all": all(fits.values()), "check": checked,
           "compression": {**options.to_dict(), "teacher": teacher_info, "stages": c.stages},
           "compressed_from": str(run_dir.absolute()), "before": {k: report.get(k) for k in keys},
           "timings": {"total_s": round(time.perf_counter() - start, 2)}, "run_dir": str(out)}
    with staged_output(out) as tmp:
        new["report"] = write_report(tmp, new, c.model, c.flatbuffer, parts, log, checked["validation"])
        write_run(tmp, c.model, c.flatbuffer, report["data"]["classes"], checked, new)
    before, after = new["before"], new
    log(f"{'FITS' if new['fits_all'] else 'DOES NOT FIT'} {report['board']['id']}: flash {before['flash_bytes']:,} -> "
        f"{after['flash_bytes']:,} B, arena {before['arena_bytes']:,} -> {after['arena_bytes']:,} B, MACs "
        f"{before['macs']:,} -> {after['macs']:,}, int8 accuracy {before['int8_accuracy']:.4f} -> "
        f"{after['int8_accuracy']:.4f}; LiteRT == TFLM: {after['litert_equals_tflm']}")
    log(f"run directory: {out}")
    return new


def _compressed_name(run_dir: Path, options) -> Path:
    parts = [run_dir.name]
    if options.prune != "none":
        parts.append(f"{options.prune}{round(100 * options.sparsity)}")
    if options.quant == "qat":
        parts.append("qat")
    if options.teacher:
        parts.append("kd")
    return run_dir.parent / "-".join(parts)
