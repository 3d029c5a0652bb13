"""Benchmark the quick-start job: `tinyml-kit fit` on the built-in default (digits, nano33-ble-sense).

Prints and writes bench/results/fit_default.json: wall time, accuracies, measured flash and arena against the
board's budgets, and whether LiteRT and TFLM agree bit for bit.

    .venv/bin/python bench/fit_default.py [--epochs 30] [--seed 0]
"""

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from tinyml_kit.pipeline.fit import fit

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

RESULT = Path(__file__).parent / "results" / "fit_default.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = fit(epochs=args.epochs, seed=args.seed, out=Path(tmp) / "run").to_dict()
        wall = time.perf_counter() - start
    result = {
        "command": "tinyml-kit fit (defaults)",
        "board": report["board"]["id"],
        "choice": report["choice"],
        "params": report["params"],
        "macs": report["macs"],
        "wall_time_s": round(wall, 1),
        "timings": report["timings"],
        "float_accuracy": report["float_accuracy"],
        "int8_accuracy": report["int8_accuracy"],
        "agreement": report["agreement"],
        "litert_equals_tflm": report["litert_equals_tflm"],
        "predicted_accuracy": report["predicted_accuracy"],
        "flash_bytes_est": report["flash_bytes_est"],
        "flash_bytes": report["flash_bytes"],
        "flash_budget_bytes": report["flash_budget_bytes"],
        "arena_bytes_est": report["arena_bytes_est"],
        "arena_bytes": report["arena_bytes"],
        "arena_alloc_bytes": report["arena_alloc_bytes"],
        "arena_budget_bytes": report["arena_budget_bytes"],
        "fits": report["fits"],
        "epochs_run": report["training"]["epochs_run"],
        "versions": report["versions"],
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
