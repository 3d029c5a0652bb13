"""`fit` on three boards of very different size, on CIFAR-10 (5k): the solver's choice, then measured flash and
arena against each board's budget.

    .venv/bin/python bench/fit_boards.py [--data ../shared/datasets/cifar10-5k.npz] [--epochs 5]
Writes bench/results/fit_boards.json.
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path

from tinyml_kit.pipeline.fit import fit

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

BOARDS = ("nucleo-f401re", "nano33-ble-sense", "nucleo-h743zi2")   # 96 KB, 256 KB, 1 MB of SRAM
RESULT = Path(__file__).parent / "results" / "fit_boards.json"
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cifar10-5k.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for board in BOARDS:
        with tempfile.TemporaryDirectory() as tmp:
            r = fit(board, data=str(args.data), epochs=args.epochs, out=Path(tmp) / "run").to_dict()
        rows.append({"board": board, **{k: r[k] for k in (
            "arch", "alpha", "beta", "t0", "depth", "params", "macs", "predicted_accuracy", "flash_bytes_est",
            "flash_bytes",
            "flash_budget_bytes", "arena_bytes_est", "arena_bytes", "arena_alloc_bytes", "arena_budget_bytes",
            "mac_budget", "fits", "fits_all", "float_accuracy", "int8_accuracy", "litert_equals_tflm")},
            "train_s": r["timings"]["train_s"]})
        print(json.dumps(rows[-1]))
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"epochs": args.epochs, "data": args.data.name, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
