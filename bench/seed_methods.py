"""The research's other methods, measured through `fit` on CIFAR-10 (5k) at 32 px on the default board
(nano33-ble-sense): transfer with frozen stages, one-cycle + range test against cosine, class weights on an
imbalanced subset, the BoVW baseline against the default model, CBAM against SE against none, and the
distillation variants.

    .venv/bin/python bench/seed_methods.py [--sections transfer schedule imbalance bovw attention distill]

Every row is one `fit` (or one `baseline`) with the options it names and the default recipe otherwise (30 epochs,
the solver's choice for the board, int8 by PTQ); its int8 accuracy and macro F1 are on fit's validation split
unless the row says `heldout_*`, which are LiteRT int8 on images no run saw. Rows are appended to
bench/results/seed_methods_rows.jsonl as they finish (a rerun resumes) and summarised in seed_methods.json.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from portable import data_record, portable

HERE = Path(__file__).parent
ROWS = HERE / "results" / "seed_methods_rows.jsonl"
RESULT = HERE / "results" / "seed_methods.json"
WORK = Path(tempfile.gettempdir()) / "tinyml-seed-methods"   # scratch runs; results name them relative to it
DATA = HERE.resolve().parent.parent / "shared" / "datasets" / "cifar10-5k.npz"
EPOCHS = 30
FINETUNE_PER_CLASS = 125   # fit's 80/20 split leaves 100 per class to train on
RARE_CLASS, RARE_KEEP = 0, 0.1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def done() -> dict[str, dict]:
    if not ROWS.exists():
        return {}
    return {r["key"]: r for r in map(json.loads, ROWS.read_text().splitlines())}


def keep(row: dict) -> dict:
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    with ROWS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def subset(x, y, path: Path, remap: dict[int, int] | None = None) -> Path:
    names = [str(c) for c in sorted(set(remap.values()))] if remap else None
    labels = np.array([remap[int(v)] for v in y]) if remap else y
    np.savez(path, x=x, y=labels, **({"class_names": np.array(names)} if names else {}))
    return path


def heldout_accuracy(run: Path, x, y) -> dict:
    from tinyml_kit.check.metrics import classification_report
    from tinyml_kit.core.litert import LiteRtModel

    predicted = LiteRtModel((run / "model.tflite").read_bytes()).predict(x.astype(np.int16) - 128).argmax(1)
    report = classification_report(y, predicted, int(max(y.max(), predicted.max())) + 1)
    return {"heldout_images": len(y), "heldout_accuracy": round(float(np.mean(predicted == y)), 4),
            "heldout_macro_f1": round(float(report["macro_f1"]), 4)}


def fit_row(key: str, data: Path, rows: dict, arch: str = "auto", knobs: dict | None = None, epochs: int = EPOCHS,
            training: dict | None = None, compression: dict | None = None, heldout=None, **extra) -> dict:
    """One `fit` on `data`, or its row from an earlier run."""
    if key in rows:
        return rows[key]
    from tinyml_kit.compress.options import CompressOptions
    from tinyml_kit.pipeline.fit import fit
    from tinyml_kit.train.options import TrainOptions

    out = WORK / key
    if out.exists():
        import shutil

        shutil.rmtree(out)
    log(f"== {key}")
    start = time.perf_counter()
    record = fit(data=str(data), arch=arch, pins=knobs, epochs=epochs, out=out,
                 training=TrainOptions(**(training or {})), compression=CompressOptions(**(compression or {})),
                 **extra)
    int8 = record.check.int8_metrics
    row = {"key": key, "run": str(out), "arch": record.arch, "choice": record.choice, "epochs": epochs,
           "training": training or {}, "compression": compression or {}, "params": record.params,
           "flash_bytes": record.flash_bytes, "arena_bytes": record.arena_alloc_bytes,
           "float_accuracy": round(record.float_accuracy, 4), "int8_accuracy": round(int8.accuracy, 4),
           "int8_macro_f1": round(int8.macro_f1, 4), "epochs_run": record.training.epochs_run,
           "learning_rate": record.training.recipe.get("learning_rate"),
           "seconds": round(time.perf_counter() - start, 1)}
    if heldout is not None:
        row.update(heldout_accuracy(out, *heldout))
    log(json.dumps({k: v for k, v in row.items() if k not in ("run",)}))
    return keep(portable(row, WORK, WORK.name))


def run_of(row: dict) -> Path:
    """Where a row's run is on this machine (rows name it portably, relative to WORK's parent)."""
    return WORK / row["key"]


def cifar():
    with np.load(DATA) as f:
        return f["x"], f["y"]


def transfer(rows: dict) -> list[dict]:
    """Pre-train on classes 0–4; fine-tune on 5–9 with 100 training images per class: from scratch, from the
    pre-trained weights, and with the stem and 1 or 2 stages frozen. Held-out: every other image of 5–9."""
    x, y = cifar()
    rng = np.random.default_rng(0)
    first = y < 5
    pre = subset(x[first], y[first], WORK / "classes0-4.npz")
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == c), FINETUNE_PER_CLASS, replace=False)
                             for c in range(5, 10)])
    rest = np.setdiff1d(np.flatnonzero(~first), chosen)
    remap = {c: c - 5 for c in range(5, 10)}
    small = subset(x[chosen], y[chosen], WORK / "classes5-9-small.npz", remap)
    heldout = (x[rest], y[rest] - 5)
    pretrained = fit_row("transfer/pretrain-classes0-4", pre, rows)
    arch, knobs = pretrained["arch"], pretrained["choice"]
    init = str(run_of(pretrained))
    out = [pretrained, fit_row("transfer/scratch", small, rows, arch, knobs, heldout=heldout)]
    for frozen in (0, 1, 2):
        out.append(fit_row(f"transfer/init-frozen{frozen}", small, rows, heldout=heldout,
                           training={"init_from": init, "freeze_stages": frozen}))
    return out


def schedule(rows: dict) -> list[dict]:
    """cosine at the default rate against one-cycle at the range test's rate, 10 and 30 epochs; and at 30 epochs
    on a second network, ResNet-8 (timed on no board's limit)."""
    out = []
    for epochs in (10, 30):
        out.append(fit_row(f"schedule/cosine-{epochs}", DATA, rows, epochs=epochs))
        out.append(fit_row(f"schedule/onecycle-finder-{epochs}", DATA, rows, epochs=epochs,
                           training={"schedule": "onecycle", "lr_finder": True}))
    for kind in ("cosine", "onecycle"):   # the rate alone: 9.4e-3, a steepest-descent rate the test once gave
        out.append(fit_row(f"schedule/{kind}-lr0.0094-30", DATA, rows, training={"schedule": kind,
                                                                                   "learning_rate": 0.0094}))
    board = {"board_id": "nucleo-h743zi2", "max_latency_ms": 100_000}
    out.append(fit_row("schedule/resnet8-cosine-30", DATA, rows, "resnet8", {}, **board))
    out.append(fit_row("schedule/resnet8-onecycle-finder-30", DATA, rows, "resnet8", {}, **board,
                       training={"schedule": "onecycle", "lr_finder": True}))
    return out


def imbalance(rows: dict) -> list[dict]:
    """Class 0 ten times rarer; no class weights against balanced ones. Held-out: the class-0 images left out,
    so `heldout_accuracy` is the rare class's recall."""
    x, y = cifar()
    rare = np.flatnonzero(y == RARE_CLASS)
    kept = np.random.default_rng(0).choice(rare, round(RARE_KEEP * len(rare)), replace=False)
    index = np.sort(np.concatenate([np.flatnonzero(y != RARE_CLASS), kept]))
    data = subset(x[index], y[index], WORK / "imbalanced.npz")
    left = np.setdiff1d(rare, kept)
    return [fit_row(f"imbalance/{w}", data, rows, heldout=(x[left], y[left]), training={"class_weight": w})
            for w in ("none", "balanced")]


def bovw(rows: dict) -> list[dict]:
    """The BoVW baseline on the same split as the default fit (its row is schedule/cosine-30)."""
    default = fit_row("schedule/cosine-30", DATA, rows)
    key = "bovw/vocab200"
    if key not in rows:
        import subprocess

        start = time.perf_counter()
        done_ = subprocess.run([sys.executable, "-m", "tinyml_kit.cli", "baseline", "--method", "bovw", "--data",
                                str(DATA), "--vocab", "200", "--run", str(run_of(default)), "--json"],
                               capture_output=True, text=True, check=True)
        result = json.loads(done_.stdout)
        rows[key] = keep({"key": key, **{k: result[k] for k in ("accuracy", "macro_f1") if k in result},
                          "result": portable(result, WORK, WORK.name),
                          "seconds": round(time.perf_counter() - start, 1)})
    return [default, rows[key]]


def distill(rows: dict) -> list[dict]:
    """The default student (schedule/cosine-30 is it without a teacher) distilled from the network the laws rate
    most accurate at twice its size or more (`fit --teacher auto`'s choice, trained once here as its own row), by
    logits, features, attention, and progressively through an auto-sized assistant."""
    from tinyml_kit.train.distill import auto_teacher

    student = fit_row("schedule/cosine-30", DATA, rows)
    family, knobs = auto_teacher(student["params"], (32, 32, 3), 10)
    teacher = fit_row("distill/teacher", DATA, rows, family, knobs, board_id="nucleo-h743zi2",
                      max_latency_ms=100_000)
    out = [student, teacher]
    for kind in ("logits", "features", "attention"):
        out.append(fit_row(f"distill/{kind}", DATA, rows, student["arch"], student["choice"],
                           compression={"teacher": str(run_of(teacher)), "distill": kind}))
    out.append(fit_row("distill/progressive", DATA, rows, student["arch"], student["choice"],
                       compression={"teacher": str(run_of(teacher)), "assistant": "auto"}))
    return out


PHINET = {"alpha": 0.35, "beta": 1.0, "t0": 6, "depth": 7}


def _phinet_flash(knobs: dict) -> int:
    """The TFLM flash of a PhiNet, converted untrained (batch-norms made to look trained)."""
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    model = build("phinet", (32, 32, 3), 10, **knobs)
    look_trained(model)
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    return tflm_flash_bytes(quantize_int8(model, calibration_images(images)))


def equal_params_alpha(attention: str, target: int) -> float:
    """The width at which a PhiNet with `attention` has the parameters closest to `target`."""
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs

    widths = [round(0.25 + 0.0125 * i, 4) for i in range(40)]
    params = {a: model_costs(build("phinet", (32, 32, 3), 10, **{**PHINET, "alpha": a, "attention": attention}))
              .params for a in widths}
    return min(widths, key=lambda a: abs(params[a] - target))


def equal_flash_alpha(attention: str, target: int) -> float:
    """The width (in steps of 0.0125) at which a PhiNet with `attention` measures the flash closest to `target`:
    bisection on the measured flash, which grows with the width."""
    lo, hi = 0.2, 0.7
    for _ in range(6):
        mid = round(round((lo + hi) / 2 / 0.0125) * 0.0125, 4)
        if _phinet_flash({**PHINET, "alpha": mid, "attention": attention}) < target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda a: abs(_phinet_flash({**PHINET, "alpha": a, "attention": attention}) - target))


def attention(rows: dict) -> list[dict]:
    """PhiNet (α 0.35, β 1, t0 6, N 7) with squeeze-excite (its own), CBAM, and none; then CBAM and none at the
    width where their measured flash is closest to the SE model's, and none at its parameters. Timed on no
    board's limit."""
    board = {"board_id": "nucleo-h743zi2", "max_latency_ms": 100_000}
    se = fit_row("attention/se", DATA, rows, "phinet", {**PHINET, "attention": "se"}, **board)
    out = [se, fit_row("attention/cbam", DATA, rows, "phinet", {**PHINET, "attention": "cbam"}, **board)]
    out.append(fit_row("attention/none-equal-params", DATA, rows, "phinet",
                       {**PHINET, "alpha": equal_params_alpha("none", se["params"]), "attention": "none"}, **board))
    for kind in ("cbam", "none"):
        key = f"attention/{kind}-equal-flash"
        width = rows[key]["choice"]["alpha"] if key in rows else equal_flash_alpha(kind, se["flash_bytes"])
        out.append(fit_row(key, DATA, rows, "phinet", {**PHINET, "alpha": width, "attention": kind}, **board))
    return out


SECTIONS = {"schedule": schedule, "transfer": transfer, "imbalance": imbalance, "bovw": bovw, "distill": distill,
            "attention": attention}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = done()
    results = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    for name in args.sections:
        results[name] = SECTIONS[name](rows)
        rows = done()
        RESULT.write_text(json.dumps({**data_record(DATA), "epochs": EPOCHS, **results}, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
