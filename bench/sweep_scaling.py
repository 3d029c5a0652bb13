"""Benchmark `tinyml-kit sweep`'s executor: the same 8-configuration sweep (the `small` grid) with 1 worker and
with 2, side by side in one run, on cifar10-5k at 32x32x3. Prints and writes bench/results/sweep_scaling.json:
wall time, configurations per minute and the throughput ratio of 2 workers to 1.

    .venv/bin/python bench/sweep_scaling.py [--epochs 1] [--workers 1,2]

Each variant sweeps into a fresh temporary directory; nothing is resumed.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "sweep_scaling.json"
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-5k.npz"


def main() -> None:
    from tinyml_kit.pipeline.sweep import run_sweep

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = run_sweep(str(DATA), Path(tmp) / "sweep", "small", args.epochs, (32, 32, 3), workers)
            seconds = time.perf_counter() - start
        rows.append({"executor": "local", "workers": workers, "configurations": summary["finished"],
                     "failed": summary["failed"], "seconds": round(seconds, 1),
                     "configurations_per_minute": round(60 * summary["finished"] / seconds, 2)})
        print(f"local, {workers} worker(s): {summary['finished']} configurations in {seconds:.0f} s "
              f"({rows[-1]['configurations_per_minute']:.2f}/min)", flush=True)
    base = rows[0]["configurations_per_minute"]
    for r in rows:
        r["throughput_vs_first"] = round(r["configurations_per_minute"] / base, 2)
    RESULT.write_text(json.dumps({"grid": "small", "epochs": args.epochs, "data": DATA.name, "runs": rows},
                                 indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
