"""Train a grid of PhiNets on CIFAR-10 (5k images) with one fixed short recipe: the data the scaling law is fitted on.

Each finished configuration is appended to models/sweep/cifar10-5k-32px.jsonl at once, so a killed sweep resumes
where it stopped. The recipe and the dataset's checksum live in the .meta.json beside it; resuming with a different
recipe or dataset is refused.

    .venv/bin/python bench/sweep.py [--data ../shared/datasets/cifar10-5k.npz] [--limit N]

Grid: the thesis' α ∈ {0.15, 0.3, 0.5, 0.9} × (β, t0) ∈ {(0.75, 4), (1.05, 5), (1.35, 6)}, plus α 1.5 at
(1.05, 5), at N ∈ {4, 7, 9} (the depths the thesis' segmentation picks): 39 configurations from 1.6 k to 4.5 M
parameters, scaled to this machine (32×32 input, 10 epochs, ~1.5 hours on 2 cores). Six off-grid configurations
are trained the same way and marked `held_out`: the scaling law never sees them, they test it.
"""

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "sweep" / "cifar10-5k-32px.jsonl"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-5k.npz"
RECIPE = {"input_shape": [32, 32, 3], "epochs": 10, "batch_size": 64, "learning_rate": 3e-3,
          "optimizer": "Adam, cosine decay to 5 %", "label_smoothing": 0.05, "augmentation": "shift + flip",
          "early_stopping_patience": 10, "val_fraction": 0.2, "split_seed": 0, "seed": 0,
          "quantization": "int8 PTQ, 200 calibration images", "classes": 10}
GRID = [{"alpha": a, "beta": b, "t0": t, "depth": n}
        for n, a, (b, t) in itertools.product((4, 7, 9), (0.15, 0.3, 0.5, 0.9), ((0.75, 4), (1.05, 5), (1.35, 6)))]
GRID += [{"alpha": 1.5, "beta": 1.05, "t0": 5, "depth": n} for n in (4, 7, 9)]  # the costliest: one shape each
HELD_OUT = [{"alpha": 0.2, "beta": 1.05, "t0": 6, "depth": 4}, {"alpha": 0.7, "beta": 0.75, "t0": 5, "depth": 7},
            {"alpha": 1.2, "beta": 1.35, "t0": 4, "depth": 9}, {"alpha": 0.4, "beta": 1.35, "t0": 4, "depth": 7},
            {"alpha": 0.25, "beta": 0.75, "t0": 6, "depth": 9}, {"alpha": 1.1, "beta": 1.05, "t0": 4, "depth": 4}]


def plan() -> list[dict]:
    """Grid then held-out, in a fixed shuffled order so a partial sweep still spans the parameter range."""
    jobs = [dict(k, held_out=False) for k in GRID] + [dict(k, held_out=True) for k in HELD_OUT]
    order = np.random.default_rng(0).permutation(len(jobs))
    return [jobs[i] for i in order]


def key(job: dict) -> str:
    return f"a{job['alpha']:g}_b{job['beta']:g}_t{job['t0']:g}_n{job['depth']}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_meta(meta_path: Path, meta: dict) -> None:
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old["recipe"] != meta["recipe"] or old["dataset_sha256"] != meta["dataset_sha256"]:
            sys.exit(f"error: {meta_path} was made with another recipe or dataset: move it and the .jsonl away "
                     f"to start a new sweep")
    else:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def run_one(job: dict, parts, calibration) -> dict:
    from tinyml_kit._tf import keras
    from tinyml_kit.build import build
    from tinyml_kit.build.costs import model_costs
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.compress.quantize import quantize_int8
    from tinyml_kit.core.litert import LiteRtModel
    from tinyml_kit.train.trainer import train

    knobs = {k: job[k] for k in ("alpha", "beta", "t0", "depth")}
    keras().utils.set_random_seed(RECIPE["seed"])
    model = build("phinet", tuple(RECIPE["input_shape"]), RECIPE["classes"], **knobs)
    costs = model_costs(model)
    t = time.perf_counter()
    trained = train(model, parts, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"],
                    learning_rate=RECIPE["learning_rate"], patience=RECIPE["early_stopping_patience"],
                    seed=RECIPE["seed"])
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    flatbuffer = quantize_int8(model, calibration)
    quantize_s = time.perf_counter() - t
    int8_pred = LiteRtModel(flatbuffer).predict(parts.val.x.astype(np.int16) - 128).argmax(1)
    arena = measure_arena(flatbuffer)
    return {**knobs, "held_out": job["held_out"], "params": costs.params, "macs": costs.macs,
            "float_accuracy": round(trained.val_accuracy, 5),
            "int8_accuracy": round(float(np.mean(int8_pred == parts.val.y)), 5),
            "flash_bytes": len(flatbuffer), "arena_bytes": arena.total_bytes,
            "epochs_run": trained.epochs_run, "best_epoch": trained.best_epoch,
            "train_s": round(train_s, 1), "quantize_s": round(quantize_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 .npz (x uint8 N×32×32×3, y)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--limit", type=int, help="stop after this many new configurations")
    args = parser.parse_args()

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from tinyml_kit.compress.quantize import calibration_images
    from tinyml_kit.train.data import load_dataset, split

    meta = {"dataset": args.data.name, "dataset_sha256": file_sha256(args.data), "recipe": RECIPE,
            "grid": GRID, "held_out": HELD_OUT}
    check_meta(args.out.with_suffix(".meta.json"), meta)
    done = set()
    if args.out.exists():
        done = {key(json.loads(line)) for line in args.out.read_text().splitlines() if line.strip()}
    jobs = plan()
    todo = [j for j in jobs if key(j) not in done][: args.limit]
    data = load_dataset(str(args.data), tuple(RECIPE["input_shape"]))
    parts = split(data, val_fraction=RECIPE["val_fraction"], seed=RECIPE["split_seed"])
    calibration = calibration_images(parts.train.x, seed=RECIPE["seed"])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("sweep", total=len(jobs), completed=len(done & {key(j) for j in jobs}))
        for job in todo:
            progress.update(task, description=f"training {key(job)}")
            row = run_one(job, parts, calibration)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            progress.console.print(f"{key(job)}: {row['params']:,} params, float {row['float_accuracy']:.3f}, "
                                   f"int8 {row['int8_accuracy']:.3f}, {row['train_s']:.0f} s")
            progress.advance(task)


if __name__ == "__main__":
    main()
