"""Fit the scaling law on the sweep and write what ships: models/scaling_law.json, docs/scaling_law.png and the
tables in docs/scaling_law.md (CV RMSE per form and depth, segmentation, held-out error).

    .venv/bin/python bench/fit_scaling_law.py [--sweep models/sweep/cifar10-5k-32px.jsonl] [--splits 500]
"""

import argparse
import hashlib
import json
import time
from pathlib import Path

from tinyml_kit.pipeline.plots import plot_scaling_law
from tinyml_kit.solve.scaling_law import BEST_FORM, FORMS, fit_sweep, load_sweep

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "models" / "sweep" / "cifar10-5k-32px.jsonl"
OUT = ROOT / "models" / "scaling_law.json"
DOC = ROOT / "docs" / "scaling_law.md"
PLOT = ROOT / "docs" / "scaling_law.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=SWEEP)
    parser.add_argument("--splits", type=int, default=500, help="random 70/30 splits per depth (thesis: 500)")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = load_sweep(args.sweep)
    meta = json.loads(args.sweep.with_suffix(".meta.json").read_text())
    source = {"sweep": str(args.sweep.resolve().relative_to(ROOT / "models")),
              "sweep_sha256": hashlib.sha256(args.sweep.read_bytes()).hexdigest(),
              "dataset": meta["dataset"], "dataset_sha256": meta["dataset_sha256"], "recipe": meta["recipe"],
              "metric": "int8_accuracy", "cv": f"{args.splits} random 70/30 splits per depth",
              "title": f"PhiNet on {meta['dataset']} ({meta['recipe']['input_shape'][0]} px, "
                       f"{meta['recipe']['epochs']} epochs): int8 accuracy vs parameters"}
    law = fit_sweep(rows, args.splits, source)
    OUT.write_text(json.dumps(law.to_dict(), indent=1) + "\n")
    plot_scaling_law(law, rows, PLOT)
    fitted = [r for r in rows if not r.get("held_out")]
    lines = ["# Scaling law: PhiNet accuracy vs parameters", "",
             f"Made by `python bench/fit_scaling_law.py` from `models/{source['sweep']}` "
             f"({len(fitted)} configurations fitted, {len(rows) - len(fitted)} held out; recipe in the sweep's "
             f".meta.json, dataset sha256 `{meta['dataset_sha256'][:16]}…`). Accuracy is int8 validation "
             f"accuracy in percent. Reprint with `tinyml-kit scaling-law`, redraw with `--plot`.", "",
             f"## Cross-validated RMSE ({source['cv']}), accuracy points", "",
             "| form | " + " | ".join(f"N={n}" for n in law.depths) + " | mean |",
             "|---|" + "---|" * (len(law.depths) + 1)]
    for form in FORMS:
        values = [law.cv_rmse[form][n] for n in law.depths]
        mark = " (used)" if form == BEST_FORM else ""
        lines.append(f"| {form}{mark} | " + " | ".join(f"{v:.2f}" for v in values)
                     + f" | {sum(values) / len(values):.2f} |")
    lines += ["", "## Segmentation (best depth per parameter budget)", "",
              "| N | from params | to params |", "|---|---|---|"]
    lines += [f"| {s['depth']} | {s['params_from']:,} | {s['params_to']:,} |" for s in law.segments]
    lines += ["", "On the raw data (the most accurate net with params in [budget, 1.35·budget]), smoothed alike:", "",
              "| N | from params | to params |", "|---|---|---|"]
    lines += [f"| {s['depth']} | {s['params_from']:,} | {s['params_to']:,} |" for s in law.raw_segments]
    if law.held_out:
        h = law.held_out
        lines += ["", f"## Held-out configurations: RMSE {h['rmse']:.2f} points (max {h['max_abs_error']:.2f})", "",
                  "| α | β | t0 | N | params | measured % | predicted % |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['alpha']:g} | {r['beta']:g} | {r['t0']:g} | {r['depth']} | {r['params']:,} | "
                  f"{r['measured']:.2f} | {r['predicted']:.2f} |" for r in h["rows"]]
    lines += ["", "![accuracy vs parameters](scaling_law.png)", ""]
    DOC.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {OUT}, {PLOT}, {DOC} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
