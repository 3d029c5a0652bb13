"""Choose a model for a board, verify it by measurement, train, quantize, export and check it.

The choice is the first candidate whose measured int8 flatbuffer and TFLM arena fit: for PhiNet the solver's
ranking by predicted accuracy (conversion-free estimates), for other architectures their grid, largest first.
Every claim of fitting comes from converting and measuring.
"""

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .boards import DEFAULT_BOARD, Board, get_board
from .budget import Budget, make_budget
from .costs import activation_peak_bytes, estimate_flash_bytes, model_costs
from .errors import UserError
from .latency import latency_ms
from .tflm import arena_with_headroom
from .units import format_bytes

if TYPE_CHECKING:
    from .compress import CompressOptions

Log = Callable[[str], None]

OTHER_GRIDS = {
    "tinynet": [{"alpha": a, "depth": d} for a in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0) for d in (2, 3, 4, 5)],
    "mobilenetv1": [{"alpha": a} for a in (0.1, 0.25, 0.35, 0.5, 0.75, 1.0)],
    "mobilenetv2": [{"alpha": a} for a in (0.1, 0.25, 0.35, 0.5, 0.75, 1.0, 1.4)],
    "resnet8": [{}],
}
MAX_ATTEMPTS = 8
ARENA_OVERHEAD_EST = 2048  # TFLM's persistent allocations for a small graph, on top of the activations


@dataclass
class Candidate:
    knobs: dict
    params: int
    macs: int
    est_flash: int
    est_arena: int                         # with headroom, as compared with the budget
    est_arena_use: int = 0                 # what TFLM should report
    predicted_accuracy: float | None = None


def candidates(arch: str, input_shape: tuple[int, int, int], classes: int, board: Board,
               budget: Budget) -> list[Candidate]:
    """Configurations to verify, best first. PhiNet: the solver's choice and runner-ups (highest predicted
    accuracy, conversion-free estimates). Other architectures: their grid, largest first, rough estimates."""
    if arch == "phinet":
        from .solver import solve

        sol = solve(board, input_shape=input_shape, classes=classes, budget=budget, runner_ups=MAX_ATTEMPTS - 1)
        return [Candidate(c.knobs(), c.estimate.params, c.estimate.macs, c.estimate.flash_bytes_est,
                          c.arena_alloc_bytes_est, c.estimate.arena_bytes_est, c.predicted_accuracy)
                for c in [sol.best, *sol.runner_ups]]
    from .builders import build

    found = []
    for knobs in OTHER_GRIDS[arch]:
        model = build(arch, input_shape, classes, **knobs)
        c = model_costs(model)
        arena = activation_peak_bytes(model) + ARENA_OVERHEAD_EST
        found.append(Candidate(knobs, c.params, c.macs, estimate_flash_bytes(c.params, c.channels, c.op_count),
                               arena_with_headroom(arena), arena))
    return sorted(found, key=lambda c: (-c.params, c.macs))


@dataclass
class Measurement:
    knobs: dict
    params: int
    macs: int
    flash_bytes: int
    arena_bytes: int
    arena_alloc_bytes: int
    fits: bool


def measure(arch: str, knobs: dict, input_shape, classes: int, calibration, budget: Budget) -> Measurement:
    """Convert an untrained model to int8 and measure its flatbuffer and TFLM arena. Sizes depend on the
    weights only through constants the converter de-duplicates, so batch-norm statistics are randomised to
    look trained (measured: within 200 B of the trained model's file on the default fit)."""
    from .builders import build
    from .quantize import quantize_int8
    from .tflm import measure_arena

    model = build(arch, input_shape, classes, **knobs)
    look_trained(model)
    costs = model_costs(model)
    flatbuffer = quantize_int8(model, calibration)
    arena = measure_arena(flatbuffer)
    fits = (len(flatbuffer) <= budget.flash_bytes and arena.alloc_bytes <= budget.arena_bytes
            and costs.macs <= budget.macs)
    return Measurement(knobs, costs.params, costs.macs, len(flatbuffer), arena.total_bytes, arena.alloc_bytes, fits)


def look_trained(model, seed: int = 0) -> None:
    """Give batch-norm layers trained-looking statistics and biases non-zero values. Untrained ones fold to
    all-zero biases, which the converter stores once and shares under other names, so an untrained model
    measures ~3 % smaller than the trained one."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
        elif getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape))


def _describe(arch: str, knobs: dict) -> str:
    return arch + ("(" + ", ".join(f"{k}={v:g}" for k, v in knobs.items()) + ")" if knobs else "")


def choose(arch: str, input_shape, classes: int, calibration, budget: Budget, board: Board, log: Log = print,
           knobs: dict | None = None) -> tuple[Measurement, list[Measurement], Candidate]:
    """The first candidate whose measured size fits. Estimates are rescaled by what each measurement
    shows, so a miss steps down to a candidate that should fit rather than to the next one in line."""
    pool = ([Candidate(knobs, 0, 0, 0, 0)] if knobs is not None
            else candidates(arch, input_shape, classes, board, budget))
    flash_ratio = arena_ratio = 1.0
    attempts: list[Measurement] = []
    tried = set()
    for _ in range(MAX_ATTEMPTS):
        fitting = [c for c in pool if c.macs <= budget.macs and c.est_flash * flash_ratio <= budget.flash_bytes
                   and c.est_arena * arena_ratio <= budget.arena_bytes and str(c.knobs) not in tried]
        if not fitting:
            break
        c = fitting[0]
        tried.add(str(c.knobs))
        predicted = f", predicted accuracy {c.predicted_accuracy:.1f} % on CIFAR-10" if c.predicted_accuracy else ""
        log(f"verifying {_describe(arch, c.knobs)}: {c.params:,} params, {c.macs:,} MACs, est. flash "
            f"{c.est_flash:,} B, arena {c.est_arena:,} B{predicted} ...")
        m = measure(arch, c.knobs, input_shape, classes, calibration, budget)
        attempts.append(m)
        log(f"  measured flash {m.flash_bytes:,} B (budget {budget.flash_bytes:,}), arena {m.arena_alloc_bytes:,} B "
            f"incl. headroom (budget {budget.arena_bytes:,}), MACs {m.macs:,} (budget {budget.macs:,}): "
            f"{'fits' if m.fits else 'does not fit'}")
        if m.fits:
            return m, attempts, c
        if c.est_flash:  # rescale by the latest (closest in size) measurement
            flash_ratio = m.flash_bytes / c.est_flash
            arena_ratio = m.arena_alloc_bytes / c.est_arena
    smallest = min(pool, key=lambda c: (c.params, c.macs))
    m = next((a for a in attempts if a.knobs == smallest.knobs), None)
    if m is None:
        log(f"verifying the smallest, {_describe(arch, smallest.knobs)} ...")
        m = measure(arch, smallest.knobs, input_shape, classes, calibration, budget)
        attempts.append(m)
        if m.fits:
            return m, attempts, smallest
    raise UserError(
        f"no {arch} configuration fits flash {format_bytes(budget.flash_bytes)} / arena "
        f"{format_bytes(budget.arena_bytes)} / {budget.macs:,} MACs: the smallest, {_describe(arch, m.knobs)}, "
        f"measures flash {m.flash_bytes:,} B, arena {m.arena_alloc_bytes:,} B, {m.macs:,} MACs: raise the limits, "
        f"use a smaller --input or pick a larger board")


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
    from ._tf import keras
    from .builders import ARCHITECTURES, build
    from .check import evaluate
    from .compress import CompressOptions, compress, resolve_teacher
    from .costs import model_costs
    from .data import VAL_FRACTION, load_dataset, split
    from .quantize import calibration_images
    from .report import write_report
    from .runs import write_run
    from .staging import prepare_output, staged_output
    from .train import train

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
    log(f"chose {_describe(arch, chosen.knobs)}: {chosen.params:,} params, {chosen.macs:,} MACs")

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
