"""Train a grid of PhiNets on CIFAR-10 (5k images) with one fixed short recipe: the data the scaling law is fitted on.

Each configuration is trained by `tinyml-kit sweep`'s `train_one` (fit's training) and appended to
models/sweep/cifar10-5k-32px.jsonl at once, so a killed sweep resumes where it stopped. The recipe and the dataset's checksum live in the .meta.json beside it; resuming with a different
recipe or dataset is refused.

    .venv/bin/python bench/sweep.py [--data ../shared/datasets/cifar10-5k.npz] [--limit N]

Grid: the thesis' α ∈ {0.15, 0.3, 0.5, 0.9} × (β, t0) ∈ {(0.75, 4), (1.05, 5), (1.35, 6)}, plus α 1.5 at
(1.05, 5), at N ∈ {4, 7, 9} (the depths the thesis' segmentation picks): 39 configurations from 1.6 k to 4.5 M
parameters, scaled to this machine (32×32 input, 10 epochs, ~1.5 hours on 2 cores). Six off-grid configurations
are trained the same way and marked `held_out`: the scaling law never sees them, they test it.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tinyml_kit.pipeline.sweep import (
    Recipe,
    data_checksum,
    job_key,
    load_grid,
    train_one,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "sweep" / "cifar10-5k-32px.jsonl"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-5k.npz"
# Pinned in the sweep's .meta.json: what `Recipe` below and `fit`'s training (pipeline.fit.train_model) do.
RECIPE = {"input_shape": [32, 32, 3], "epochs": 10, "batch_size": 64, "learning_rate": 3e-3,
          "optimizer": "Adam, cosine decay to 5 %", "label_smoothing": 0.05, "augmentation": "shift + flip",
          "early_stopping_patience": 10, "val_fraction": 0.2, "split_seed": 0, "seed": 0,
          "quantization": "int8 PTQ, 200 calibration images", "classes": 10}


def plan() -> list[dict]:
    """`tinyml-kit sweep`'s thesis grid then its held-out points, in a fixed shuffled order so a partial sweep still
    spans the parameter range."""
    jobs = load_grid("thesis")
    order = np.random.default_rng(0).permutation(len(jobs))
    return [jobs[i] for i in order]


def check_meta(meta_path: Path, meta: dict) -> None:
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old["recipe"] != meta["recipe"] or old["dataset_sha256"] != meta["dataset_sha256"]:
            sys.exit(f"error: {meta_path} was made with another recipe or dataset: move it and the .jsonl away "
                     f"to start a new sweep")
    else:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")


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

    jobs = plan()
    meta = {"dataset": args.data.name, "dataset_sha256": data_checksum(str(args.data)), "recipe": RECIPE,
            "grid": [j for j in jobs if not j["held_out"]], "held_out": [j for j in jobs if j["held_out"]]}
    check_meta(args.out.with_suffix(".meta.json"), meta)
    done = set()
    if args.out.exists():
        done = {job_key(json.loads(line)) for line in args.out.read_text().splitlines() if line.strip()}
    todo = [j for j in jobs if job_key(j) not in done][: args.limit]
    recipe = Recipe(tuple(RECIPE["input_shape"]), RECIPE["classes"], epochs=RECIPE["epochs"],
                    batch_size=RECIPE["batch_size"], val_fraction=RECIPE["val_fraction"], seed=RECIPE["seed"])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("sweep", total=len(jobs), completed=len(done & {job_key(j) for j in jobs}))
        for job in todo:
            progress.update(task, description=f"training {job_key(job)}")
            row = train_one(job, str(args.data), recipe)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            progress.console.print(f"{job_key(job)}: {row['params']:,} params, float {row['float_accuracy']:.3f}, "
                                   f"int8 {row['int8_accuracy']:.3f}, {row['seconds']:.0f} s")
            progress.advance(task)


if __name__ == "__main__":
    main()
