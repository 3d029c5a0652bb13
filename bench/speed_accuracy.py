"""Does the engine's speed buy accuracy? `tinyml-kit fit --board nucleo-l4r5zi --data cifar10-5k` with the defaults
(the solver chooses the network for the C engine at 100 ms) against the network the solver chose before the
C engine's generated kernels (TinyNet α 1.75, 3 blocks), trained by the same recipe, seed and epochs in the same run.

Each run is verified under QEMU on the Cortex-M4F, so the time is measured (cycles from the emulated core with the
board's flash wait states), not only predicted. Prints and writes bench/results/speed_accuracy.json: per run the
choice, MACs, predicted and measured cycles and milliseconds, float and int8 validation accuracy; per seed the MAC
ratio and the accuracy difference, and the issue's targets (≥ 2× the MACs, ≥ 5 points) as PASS/MISS on the mean.

    .venv/bin/python bench/speed_accuracy.py [--data ../shared/datasets/cifar10-5k.npz] [--seeds 0] [--epochs 30]
        [--only default|before] [--resume]

`--resume` keeps the runs already in the JSON (same data, epochs and seed) and runs only the missing ones; the
comparison is made once both contenders of a seed are there.
"""

import argparse
import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.pipeline.fit import fit
from tinyml_kit.train.trainer import EPOCHS

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

RESULT = Path(__file__).parent / "results" / "speed_accuracy.json"
BOARD = "nucleo-l4r5zi"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-5k.npz"
MAC_RATIO_TARGET, POINTS_TARGET = 2.0, 5.0


@dataclass(frozen=True)
class Contender:
    """One side of the comparison: what `fit` is told beyond the board, the data and the seed."""
    name: str
    arch: str
    pins: dict | None


CONTENDERS = (
    Contender("default", "auto", None),
    Contender("before", "tinynet", {"alpha": 1.75, "depth": 3}),   # the solver's pick before generated kernels
)


def run(contender: Contender, data: str, seed: int, epochs: int) -> dict:
    """One `fit --verify` on the board, reduced to the numbers the comparison needs."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        record = fit(BOARD, data, arch=contender.arch, pins=contender.pins, epochs=epochs, seed=seed, verify=True,
                     out=Path(tmp) / "run")
        wall = time.perf_counter() - start
    verified = record.verify
    cycles = verified.cycles.cycles_est if verified and verified.cycles else None
    return {
        "contender": contender.name, "seed": seed, "engine": record.engine, "arch": record.arch,
        "choice": record.choice, "params": record.params, "macs": record.macs,
        "cycles_predicted": record.cycles_est, "cycles_measured": cycles,
        "ms_measured": verified.cycles.latency_ms if verified and verified.cycles else None,
        "latency_budget_ms": record.budget.latency_ms, "bit_exact": verified.bit_exact if verified else None,
        "flash_bytes": record.flash_bytes, "arena_bytes": record.arena_bytes,
        "float_accuracy": record.float_accuracy, "int8_accuracy": record.int8_accuracy,
        "predicted_accuracy": record.predicted_accuracy, "epochs_run": record.training.epochs_run,
        "wall_time_s": round(wall, 1),
    }


def compare(runs: list[dict]) -> dict:
    """Per seed, the default's MACs over the earlier pick's and its int8 accuracy minus the earlier pick's (points);
    the targets on their means."""
    pairs = []
    seeds = [s for s in sorted({r["seed"] for r in runs}) if len({r["contender"] for r in runs if r["seed"] == s}) == 2]
    if not seeds:
        return {}
    for seed in seeds:
        new, old = (next(r for r in runs if r["seed"] == seed and r["contender"] == c.name) for c in CONTENDERS)
        pairs.append({"seed": seed, "mac_ratio": round(new["macs"] / old["macs"], 3),
                      "int8_points": round(100 * (new["int8_accuracy"] - old["int8_accuracy"]), 2)})
    ratio = statistics.mean(p["mac_ratio"] for p in pairs)
    points = statistics.mean(p["int8_points"] for p in pairs)
    return {"per_seed": pairs, "mac_ratio_mean": round(ratio, 3), "int8_points_mean": round(points, 2),
            "targets": {f"MACs >= {MAC_RATIO_TARGET}x": "PASS" if ratio >= MAC_RATIO_TARGET else "MISS",
                        f"int8 accuracy >= +{POINTS_TARGET} points": "PASS" if points >= POINTS_TARGET else "MISS"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--only", choices=[c.name for c in CONTENDERS])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    head = {"board": BOARD, "data": Path(args.data).name, "epochs": args.epochs}
    kept = json.loads(RESULT.read_text())["runs"] if args.resume and RESULT.is_file() else []
    kept = [r for r in kept if {k: r.get(k) for k in ("data", "epochs")} == {k: head[k] for k in ("data", "epochs")}]
    runs = list(kept)
    for seed in map(int, args.seeds.split(",")):
        for c in CONTENDERS:
            if args.only not in (None, c.name) or any(r["contender"] == c.name and r["seed"] == seed for r in kept):
                continue
            runs.append({**run(c, args.data, seed, args.epochs), "data": head["data"], "epochs": args.epochs})
            RESULT.parent.mkdir(exist_ok=True)
            RESULT.write_text(json.dumps({**head, "runs": runs, **compare(runs)}, indent=2) + "\n")
    for r in runs:
        print(f"{r['contender']:8s} seed {r['seed']}: {r['arch']} {r['choice']} {r['macs']:,} MACs, "
              f"{r['ms_measured']} ms measured, int8 {100 * r['int8_accuracy']:.1f} %")
    print(json.dumps(compare(runs), indent=2))

if __name__ == "__main__":
    main()
