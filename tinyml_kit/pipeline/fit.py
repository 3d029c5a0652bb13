"""`fit`: budget, data, choice (`pipeline.choose`), training, compression, checks, report, run directory.

Every claim of fitting comes from converting and measuring.
"""

import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tinyml_kit import __version__
from tinyml_kit.core.boards import DEFAULT_BOARD, get_board
from tinyml_kit.core.budget import make_budget
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.latency import latency_ms
from tinyml_kit.pipeline.choose import choose, describe

if TYPE_CHECKING:
    from tinyml_kit.compress.stages import CompressOptions

Log = Callable[[str], None]


def _versions() -> dict:
    from importlib.metadata import version

    found = {"tinyml_kit": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "tf_keras", "ai-edge-litert", "tflite-micro", "numpy"):
        try:
            found[pkg] = version(pkg)
        except Exception:
            found[pkg] = None
    return found


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("fit-%Y%m%d-%H%M%S")


def fit(board_id: str = DEFAULT_BOARD, data: str = "digits", arch: str = "phinet", epochs: int = 30,
        max_flash: int | None = None, max_ram: int | None = None, max_macs: int | None = None,
        max_latency_ms: float | None = None, out: str | Path | None = None, seed: int = 0,
        input_shape: tuple[int, int, int] | None = None,
        knobs: dict | None = None, batch_size: int = 32, compression: "CompressOptions | None" = None,
        log: Log = print) -> dict:
    """The whole pipeline; returns the report also written to `<out>/report.json`. `compression` adds pruning,
    QAT and distillation (see `compress`); the default is post-training int8 alone."""
    from tinyml_kit._tf import keras
    from tinyml_kit.build import ARCHITECTURES, build
    from tinyml_kit.build.costs import model_costs
    from tinyml_kit.check.evaluate import evaluate
    from tinyml_kit.compress.quantize import calibration_images
    from tinyml_kit.compress.stages import CompressOptions, compress, resolve_teacher
    from tinyml_kit.core.artifacts import prepare_output, staged_output
    from tinyml_kit.pipeline.report import write_report
    from tinyml_kit.pipeline.runs import write_run
    from tinyml_kit.train.data import VAL_FRACTION, load_dataset, split
    from tinyml_kit.train.trainer import train

    timings: dict[str, float] = {}
    start = time.perf_counter()
    board = get_board(board_id)
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture '{arch}': choose one of {', '.join(ARCHITECTURES)}")
    if epochs < 1:
        raise UserError(f"--epochs must be at least 1 (got {epochs})")
    budget = make_budget(board, max_flash, max_ram, max_macs, max_latency_ms)
    compression = compression or CompressOptions()
    compression.validate()
    out = prepare_output(Path(out) if out else default_run_dir())
    log(f"board {board.id} ({board.name}, {board.core} @ {board.clock_mhz:g} MHz): model flash budget "
        f"{budget.flash_bytes:,} B, arena budget {budget.arena_bytes:,} B, {budget.macs:,} MACs")

    t = time.perf_counter()
    dataset = load_dataset(data, input_shape)
    parts = split(dataset, seed=seed)
    classes = len(dataset.class_names)
    calibration = calibration_images(parts.train.x, seed=seed)
    timings["data_s"] = time.perf_counter() - t
    log(f"data {dataset.source}: {len(parts.train.x)} train / {len(parts.val.x)} validation images, "
        f"{classes} classes, input {'x'.join(map(str, dataset.input_shape))}")

    t = time.perf_counter()
    chosen, attempts, estimate = choose(arch, dataset.input_shape, classes, calibration, budget, board, log, knobs)
    timings["choose_s"] = time.perf_counter() - t
    log(f"chose {describe(arch, chosen.knobs)}: {chosen.params:,} params, {chosen.macs:,} MACs")

    t = time.perf_counter()
    keras().utils.set_random_seed(seed)  # weight initialisation too, not only training, follows --seed
    model = build(arch, dataset.input_shape, classes, **chosen.knobs)
    teacher, teacher_info = resolve_teacher(compression, model, parts, epochs, batch_size, seed, log)
    trained = train(model, parts, epochs=epochs, batch_size=batch_size, seed=seed, log=log, teacher=teacher,
                    temperature=compression.temperature, alpha_kd=compression.alpha_kd)
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    compressed = compress(model, parts, calibration, compression, teacher=teacher, batch_size=batch_size, seed=seed,
                          log=log)
    model, flatbuffer = compressed.model, compressed.flatbuffer
    final = model_costs(model)
    timings["compress_s" if compression.trains else "quantize_s"] = time.perf_counter() - t

    t = time.perf_counter()
    checked = evaluate(flatbuffer, parts.val, keras_model=model, log=log, onnx=True)
    timings["check_s"] = time.perf_counter() - t
    fits = {
        "flash": checked["flash_bytes"] <= budget.flash_bytes,
        "arena": checked["arena_alloc_bytes"] <= budget.arena_bytes,
        "macs": final.macs <= budget.macs,
    }
    report = {
        "board": board.to_dict(),
        "arch": arch,
        "choice": chosen.knobs,
        **{k: chosen.knobs.get(k) for k in ("alpha", "beta", "t0", "depth")},
        "params": final.params,
        "macs": final.macs,
        "predicted_accuracy": estimate.predicted_accuracy,
        "flash_bytes_est": estimate.est_flash or None,
        "arena_bytes_est": estimate.est_arena_use or None,
        "latency_ms_est": round(latency_ms(final.macs, board.core, board.clock_mhz), 2),
        "flash_bytes": checked["flash_bytes"],
        "arena_bytes": checked["arena_bytes"],
        "arena_alloc_bytes": checked["arena_alloc_bytes"],
        "flash_budget_bytes": budget.flash_bytes,
        "arena_budget_bytes": budget.arena_bytes,
        "mac_budget": budget.macs,
        "budget_sources": budget.notes,
        "fits": fits,
        "fits_all": all(fits.values()),
        "verification": [asdict(a) for a in attempts],
        "float_accuracy": checked["float_accuracy"],
        "int8_accuracy": checked["int8_accuracy"],
        "agreement": checked["agreement"],
        "litert_equals_tflm": checked["litert_equals_tflm"],
        "check": checked,
        "compression": {**compression.to_dict(), "teacher": teacher_info, "stages": compressed.stages},
        "training": {"epochs": epochs, "epochs_run": trained.epochs_run, "best_epoch": trained.best_epoch,
                     "batch_size": batch_size, "seed": seed, "history": trained.history},
        "data": {"source": data if data == "digits" else str(Path(data).resolve()),
                 "input_shape": list(dataset.input_shape), "classes": dataset.class_names,
                 "train_images": len(parts.train.x), "val_images": len(parts.val.x), "val_fraction": VAL_FRACTION,
                 "seed": seed, "fingerprint": dataset.fingerprint()},
        "versions": _versions(),
    }
    with staged_output(out) as tmp:
        report["run_dir"] = str(out)
        t = time.perf_counter()
        report["report"] = write_report(tmp, report, model, flatbuffer, parts, log, checked["validation"])
        timings["report_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - start
        report["timings"] = {k: round(v, 2) for k, v in timings.items()}
        write_run(tmp, model, flatbuffer, dataset.class_names, checked, report)
    verdict = "FITS" if report["fits_all"] else "DOES NOT FIT"
    log(f"{verdict} {board.id}: flash {report['flash_bytes']:,}/{budget.flash_bytes:,} B, arena "
        f"{report['arena_alloc_bytes']:,}/{budget.arena_bytes:,} B (measured {report['arena_bytes']:,} + headroom); "
        f"float acc {report['float_accuracy']:.4f}, int8 acc {report['int8_accuracy']:.4f}, agreement "
        f"{report['agreement']:.4f}, LiteRT == TFLM: {report['litert_equals_tflm']}")
    log(f"run directory: {out} (report.html: budgets, memory plan, metrics, Grad-CAM, probes)")
    return report
