"""Benchmark `tinyml-kit sweep`'s executors: the same 8-configuration sweep (the `small` grid) with 1 worker and
with 2, on the local process pool and on a local Ray, side by side in one run, on cifar10-5k at 32x32x3. Prints
and writes bench/results/sweep_scaling.json: wall time, configurations per minute, the throughput ratio of 2
workers to 1 per executor, and Ray's overhead per configuration against the local pool with as many workers.

    .venv/bin/python bench/sweep_scaling.py [--epochs 1] [--workers 1,2] [--executors local,ray]

Each configuration gets the machine's cores split between the workers, on either executor. Each variant sweeps
into a fresh temporary directory; nothing is resumed. Ray is started by the sweep itself, as `--executor ray`
without an address does, and its start-up is reported apart.
"""

import argparse
import json
import os
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
    parser.add_argument("--executors", default="local,ray")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    for executor in args.executors.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                summary = run_sweep(str(DATA), Path(tmp) / "sweep", "small", args.epochs, (32, 32, 3), workers,
                                    executor=executor, cpus_per_task=max(1, cores // workers))
                seconds = time.perf_counter() - start
            rows.append({"executor": executor, "workers": workers, "cpus_per_configuration": max(1, cores // workers),
                         "configurations": summary["finished"], "failed": summary["failed"],
                         "seconds": round(seconds, 1), "startup_seconds": summary["startup_seconds"],
                         "configurations_per_minute": round(60 * summary["finished"] / seconds, 2)})
            print(f"{executor}, {workers} worker(s): {summary['finished']} configurations in {seconds:.0f} s "
                  f"({rows[-1]['configurations_per_minute']:.2f}/min, start-up {summary['startup_seconds']:.1f} s)",
                  flush=True)
    for r in rows:
        one = min((o for o in rows if o["executor"] == r["executor"]), key=lambda o: o["workers"])
        r["throughput_vs_workers"] = {one["workers"]: round(r["configurations_per_minute"]
                                                            / one["configurations_per_minute"], 2)}
        local = next((o for o in rows if o["executor"] == "local" and o["workers"] == r["workers"]), None)
        if r["executor"] == "ray" and local and r["configurations"]:
            r["overhead_seconds_per_configuration"] = round((r["seconds"] - local["seconds"]) / r["configurations"], 2)
            r["overhead_seconds_per_configuration_after_startup"] = round(
                (r["seconds"] - r["startup_seconds"] - local["seconds"] + local["startup_seconds"])
                / r["configurations"], 2)
    RESULT.write_text(json.dumps({"grid": "small", "epochs": args.epochs, "data": DATA.name, "cores": cores,
                                  "runs": rows}, indent=2) + "\n")
    for r in rows:
        extra = (f", overhead {r['overhead_seconds_per_configuration']:+.1f} s/configuration "
                 f"({r['overhead_seconds_per_configuration_after_startup']:+.1f} after start-up)"
                 if "overhead_seconds_per_configuration" in r else "")
        (fewest, ratio), = r["throughput_vs_workers"].items()
        print(f"{r['executor']:5} x{r['workers']}: {ratio:.2f}x the throughput of {fewest} worker(s){extra}")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
