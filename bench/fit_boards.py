"""`fit` on three boards of very different size, on CIFAR-10 (5k): the solver's choice, then measured flash and
arena against each board's budget. With --solve-only (no training): `solve --board B` on every board with an
emulated core under the cycle model, beside the choice the instruction model made (bench/results/
solve_boards_before.json): binding constraint, chosen network and predicted ms, under `solve_boards`.

    .venv/bin/python bench/fit_boards.py [--data ../shared/datasets/cifar10-5k.npz] [--epochs 5] [--solve-only]
Writes bench/results/fit_boards.json (--solve-only keeps the training rows and replaces `solve_boards`).
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path

from tinyml_kit.core.boards import load_boards
from tinyml_kit.core.cores import emulated_core
from tinyml_kit.pipeline.fit import fit
from tinyml_kit.solve.solver import solve

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

BOARDS = ("nucleo-f401re", "nano33-ble-sense", "nucleo-h743zi2")   # 96 KB, 256 KB, 1 MB of SRAM
RESULT = Path(__file__).parent / "results" / "fit_boards.json"
BEFORE = RESULT.parent / "solve_boards_before.json"   # the instruction model's choices (commit 8353224)
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cifar10-5k.npz"


def solve_boards() -> dict:
    """The solver's choice on every board with an emulated core, now and under the instruction model."""
    before = json.loads(BEFORE.read_text())
    rows = []
    for board in load_boards().values():
        if emulated_core(board.core) is None:
            continue
        sol = solve(board)
        e = sol.best.estimate
        after = {"family": e.family, "knobs": e.knobs(), "macs": e.macs, "binding_constraint": sol.binding,
                 "latency_ms_est": round(sol.best.latency_ms_est, 2), "latency_basis": e.latency.basis,
                 "instructions_est": e.latency.instructions, "cycles_est": e.latency.cycles,
                 "predicted_accuracy": round(sol.best.predicted_accuracy, 2),
                 "latency_source": sol.budget.notes.get("latency")}
        rows.append({"board": board.id, "core": board.core, "clock_mhz": board.clock_mhz,
                     "before": before["boards"].get(board.id), "after": after})
    print(f"{'board':20} {'core':11} {'MHz':>4}  {'binding (before -> after)':27} {'choice before':30} "
          f"{'ms':>6}  {'choice after':30} {'ms':>6}")
    for r in rows:
        b, a = r["before"] or {}, r["after"]
        print(f"{r['board']:20} {r['core']:11} {r['clock_mhz']:>4g}  "
              f"{b.get('binding_constraint', '-') + ' -> ' + a['binding_constraint']:27} {_net(b):30} "
              f"{b.get('latency_ms_est', 0):6.1f}  {_net(a):30} {a['latency_ms_est']:6.1f}")
    return {"before": {k: before[k] for k in ("commit", "model")},
            "after": "predicted cycles (per-op cycle model with each board's flash wait states) at the board's clock",
            "rows": rows}


def _net(choice: dict) -> str:
    if not choice:
        return "-"
    return f"{choice['family']}(" + ", ".join(f"{k}={v}" for k, v in choice["knobs"].items()) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--solve-only", action="store_true", help="Only the solver's choice on every board with "
                        "an emulated core, before and after the cycle model; no training.")
    args = parser.parse_args()
    kept = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    if args.solve_only:
        RESULT.write_text(json.dumps(kept | {"solve_boards": solve_boards()}, indent=1) + "\n")
        return
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
    RESULT.write_text(json.dumps(kept | {"epochs": args.epochs, "data": args.data.name, "rows": rows}, indent=1)
                      + "\n")


if __name__ == "__main__":
    main()
