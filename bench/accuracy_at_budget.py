"""Accuracy at a budget: `fit` (the solver's choice across families) against the best of the other families' grids
that fit the same limits (`fit --arch FAMILY`: its largest configuration that fits; TinyNet's grid is walked here,
as the solver now ranks TinyNets), each trained with fit's default recipe on the same data, side by side.

Budgets: ResNet-8's own footprint on nucleo-l4r5zi (MLPerf Tiny's reference network; it is measured with its
limits raised just enough to fit), the default board, and a tiny budget on the default board. Each row is a `fit`
with its int8 validation accuracy; rows are saved as they finish, so a stopped run resumes.

    .venv/bin/python bench/accuracy_at_budget.py [--data ../shared/datasets/cifar10-5k.npz] [--only BUDGET ...]
        [--archs ARCH ...]
Writes bench/results/accuracy_at_budget.json.
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path

from tinyml_kit.core.boards import DEFAULT_BOARD
from tinyml_kit.core.errors import UserError
from tinyml_kit.pipeline.fit import fit

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

RESULT = Path(__file__).parent / "results" / "accuracy_at_budget.json"
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cifar10-5k.npz"
FOOTPRINT = "resnet8-footprint"   # ResNet-8's own: the one budget where it is measured with limits raised to fit
BUDGETS = {
    FOOTPRINT: ("nucleo-l4r5zi", dict(max_flash=95552, max_ram=56080, max_macs=12_500_000)),
    "default-board": (DEFAULT_BOARD, {}),
    "tiny": (DEFAULT_BOARD, dict(max_flash=48 * 1024, max_ram=24 * 1024)),
}
ARCHS = ("auto", "resnet8", "mobilenetv1", "mobilenetv2", "tinynet")
KEYS = ("arch", "choice", "params", "macs", "predicted_accuracy", "flash_bytes", "flash_budget_bytes",
        "arena_alloc_bytes", "arena_budget_bytes", "mac_budget", "fits_all", "float_accuracy", "int8_accuracy")


def run(board: str, limits: dict, arch: str, data: str, raise_for_resnet8: bool) -> dict:
    """One `fit`; ResNet-8 gets its limits raised to its own measured needs when they are tighter, at its own
    footprint (`raise_for_resnet8`); elsewhere a grid that does not fit is recorded as such."""
    knobs = _largest_tinynet(board, limits, data) if arch == "tinynet" else None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            r = fit(board, data=data, arch=arch, out=Path(tmp) / "run", pins=knobs, **limits).to_dict()
            raised = None
        except UserError as e:
            if arch != "resnet8" or not raise_for_resnet8:
                return {"arch": arch, "fits": False, "error": str(e)}
            raised = _resnet8_limits(limits, data)
            r = fit(board, data=data, arch=arch, out=Path(tmp) / "run2", **raised).to_dict()
    row = {k: r[k] for k in KEYS} | {"train_s": r["timings"]["train_s"], "fits": True}
    if raised:
        row["limits_raised_to"] = raised
    return row


def _largest_tinynet(board: str, limits: dict, data: str) -> dict | None:
    """TinyNet's grid as `fit` measured it before the solver ranked TinyNets: the configuration with the most
    parameters whose (exact) estimates fit; `fit` then measures it. None when none fits."""
    from tinyml_kit.core.arena import arena_with_headroom
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.core.family import TINYNET
    from tinyml_kit.solve.estimate import estimate_tinynet
    from tinyml_kit.train.data import planned_input

    shape, classes = planned_input(data)
    budget = make_budget(get_board(board), limits.get("max_flash"), limits.get("max_ram"), limits.get("max_macs"))
    b = get_board(board)
    fitting = [(e.params, k) for k in TINYNET.grid
               for e in [estimate_tinynet(k["alpha"], k["depth"], shape, classes, board=b)]
               if budget.verdict(e.flash_bytes_est, arena_with_headroom(e.arena_bytes_est), e.macs,
                                 e.latency.instructions).ok]
    return max(fitting, key=lambda pk: pk[0])[1] if fitting else None


def _resnet8_limits(limits: dict, data: str) -> dict:
    """The user's limits, each raised to what ResNet-8 measures (flash; arena with headroom; MACs) if below it."""
    from tinyml_kit.core.arena import arena_with_headroom
    from tinyml_kit.solve.estimate import estimate_resnet
    from tinyml_kit.train.data import planned_input

    shape, classes = planned_input(data)
    e = estimate_resnet(1.0, 1, shape, classes)
    needs = {"max_flash": e.flash_bytes_est + 256, "max_ram": arena_with_headroom(e.arena_bytes_est),
             "max_macs": e.macs}
    return {k: max(v, needs[k]) for k, v in limits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", nargs="*", choices=list(BUDGETS), help="Budgets to run (default: all).")
    parser.add_argument("--archs", nargs="*", choices=ARCHS, help="Rows to run (default: all).")
    args = parser.parse_args()
    done = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    if done.get("data") != args.data.name:
        done = {"data": args.data.name, "recipe": "fit's defaults (30 epochs, batch 32, seed 0)", "budgets": {}}
    done["laws_held_out"] = _held_out()
    for name in args.only or BUDGETS:
        board, limits = BUDGETS[name]
        entry = done["budgets"].setdefault(name, {"board": board, "limits": limits, "rows": {}})
        for arch in args.archs or ARCHS:
            if arch not in entry["rows"]:
                entry["rows"][arch] = run(board, limits, arch, str(args.data), name == FOOTPRINT)
                print(json.dumps({"budget": name, **entry["rows"][arch]}))
                _save(done)
        _summarise(entry)
        print(json.dumps({"budget": name, **{k: v for k, v in entry.items() if k not in ("rows", "limits")}}))
    _save(done)
    print(json.dumps({k: v for k, v in done["laws_held_out"].items() if k != "rows"}))


def _save(done: dict) -> None:
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(done, indent=1) + "\n")


def _held_out() -> dict:
    """Predicted against measured accuracy on every shipped law's held-out configurations, pooled."""
    import math

    from tinyml_kit.solve.scaling_law import load_laws

    rows = [dict(r, family=law.family) for law in load_laws() for r in law.held_out.get("rows", [])]
    errors = [r["predicted"] - r["measured"] for r in rows]
    return {"configurations": len(rows), "rmse_points": round(math.sqrt(sum(e * e for e in errors) / len(errors)), 2),
            "max_abs_error_points": round(max(map(abs, errors)), 2), "rows": rows}


def _summarise(entry: dict) -> None:
    """fit's accuracy against ResNet-8 and against the best other grid that fits, in points."""
    rows = entry["rows"]
    auto = rows.get("auto", {}).get("int8_accuracy")
    others = {a: r["int8_accuracy"] for a, r in rows.items() if a != "auto" and r.get("fits")}
    if auto is None or not others:
        return
    best = max(others, key=others.get)
    entry["fit_minus_resnet8_points"] = (round(100 * (auto - others["resnet8"]), 2) if "resnet8" in others
                                         else None)
    entry["best_other"] = best
    entry["fit_minus_best_other_points"] = round(100 * (auto - others[best]), 2)
    predicted = rows["auto"].get("predicted_accuracy")
    entry["fit_predicted_minus_measured_points"] = (round(predicted - 100 * auto, 2) if predicted is not None
                                                   else None)


if __name__ == "__main__":
    main()
