"""Fit the shipped scaling law on the shipped sweep, as `tinyml-kit sweep --fit models/sweep/cifar10-5k-32px
--splits 500` does (the same function), and write its tables into docs/scaling_law.md (CV RMSE per form and depth,
segmentation, held-out error). The sweep itself was made by

    tinyml-kit sweep --data ../shared/datasets/cifar10-5k.npz --grid thesis --epochs 10 --input 32,32,3 \
        --workers 2 --out models/sweep/cifar10-5k-32px

    .venv/bin/python bench/fit_scaling_law.py [--sweep models/sweep/cifar10-5k-32px] [--splits 500]
"""

import argparse
import json
import os
import time
from pathlib import Path

from tinyml_kit.pipeline.sweep import META, PLOT, fit_law
from tinyml_kit.solve.scaling_law import BEST_FORM, FORMS, ScalingLaw, load_sweep

ROOT = Path(__file__).resolve().parent.parent
SWEEP = Path("models") / "sweep" / "cifar10-5k-32px"   # from the repository's top: law.json names it so
DOC = ROOT / "docs" / "scaling_law.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=SWEEP)
    parser.add_argument("--splits", type=int, default=500, help="random 70/30 splits per depth (thesis: 500)")
    args = parser.parse_args()
    start = time.perf_counter()
    os.chdir(ROOT)
    law = ScalingLaw.load(fit_law(args.sweep, args.splits))
    rows = load_sweep(args.sweep)
    meta = json.loads((args.sweep / META).read_text())
    fitted = [r for r in rows if not r.get("held_out")]
    lines = ["# Scaling law: PhiNet accuracy vs parameters", "",
             f"Made by `tinyml-kit sweep` into `{args.sweep}` and fitted by `python bench/fit_scaling_law.py` "
             f"({len(fitted)} configurations fitted, {len(rows) - len(fitted)} held out; recipe in the sweep's "
             f"{META}, dataset sha256 `{meta['dataset_sha256'][:16]}…`). Accuracy is int8 validation "
             f"accuracy in percent. Reprint with `tinyml-kit scaling-law`.", "",
             f"## Cross-validated RMSE ({law.source['cv']}), accuracy points", "",
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
    lines += _trained_models(rows, meta)
    lines += ["", f"![accuracy vs parameters](../{args.sweep}/{PLOT})", ""]
    DOC.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {args.sweep}/law.json, {args.sweep}/{PLOT}, {DOC} in {time.perf_counter() - start:.0f} s")


def _trained_models(rows: list[dict], meta: dict) -> list[str]:
    """What the sweep's trained models say besides the law: the cost of int8, and the conversion-free estimates
    against what was measured on them."""
    import statistics

    from tinyml_kit.solve.estimate import estimate_phinet

    cost = [100 * (r["float_accuracy"] - r["int8_accuracy"]) for r in rows]
    worst = max(rows, key=lambda r: r["float_accuracy"] - r["int8_accuracy"])
    flash_error, exact_counts, exact_arena = [], 0, 0
    for r in rows:
        e = estimate_phinet(r["alpha"], r["beta"], r["t0"], r["depth"], tuple(meta["recipe"]["input_shape"]),
                            meta["recipe"]["classes"])
        flash_error.append(100 * abs(e.flash_bytes_est - r["flash_bytes"]) / r["flash_bytes"])
        exact_counts += (e.params, e.macs) == (r["params"], r["macs"])
        exact_arena += e.arena_bytes_est == r["arena_bytes"]
    return ["", f"## The {len(rows)} trained models", "",
            f"- int8 post-training quantization cost {statistics.mean(cost):.2f} accuracy points on average, at most "
            f"{max(cost):.2f} ({worst['key']}).",
            f"- Conversion-free estimates against the measured models: parameters and MACs exact on {exact_counts}, "
            f"arena exact on {exact_arena}, flash within {max(flash_error):.2f} % (median "
            f"{statistics.median(flash_error):.2f} %).",
            f"- Training and quantization took {sum(r['seconds'] for r in rows) / 60:.0f} minutes summed over the "
            f"configurations."]


if __name__ == "__main__":
    main()
