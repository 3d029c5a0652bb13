"""Fit the shipped scaling laws on the shipped sweeps, one per ranked family, as `tinyml-kit sweep --fit DIR
--splits 500` does (the same function), and write their tables into docs/scaling_law.md (CV RMSE per form and
depth, segmentation, held-out error, what the trained models say). The sweeps were made with fit's recipe
(30 epochs, batch 32) by

    K="tinyml-kit sweep --data ../shared/datasets/cifar10-5k.npz --input 32,32,3 --workers 2"
    $K --grid bench/grids/phinet_n4.yaml --out models/sweep/phinet-cifar10-5k-32px
    $K --grid bench/grids/phinet_n7.yaml --out models/sweep/phinet-cifar10-5k-32px
    $K --arch resnet --grid bench/grids/resnet.yaml --out models/sweep/resnet-cifar10-5k-32px
    $K --arch resnet --grid bench/grids/resnet_d2.yaml --out models/sweep/resnet-cifar10-5k-32px
    $K --arch tinynet --grid bench/grids/tinynet.yaml --out models/sweep/tinynet-cifar10-5k-32px

    .venv/bin/python bench/fit_scaling_law.py [--splits 500]
"""

import argparse
import json
import os
import time
from pathlib import Path

from tinyml_kit.core.family import lookup
from tinyml_kit.core.resources import SCALING_LAW_FILES
from tinyml_kit.pipeline.sweep import META, PLOT, fit_law
from tinyml_kit.solve.scaling_law import BEST_FORM, FORMS, ScalingLaw
from tinyml_kit.solve.sweep_rows import load_sweep

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "scaling_law.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=500, help="random 70/30 splits per depth (thesis: 500)")
    args = parser.parse_args()
    start = time.perf_counter()
    os.chdir(ROOT)
    lines = ["# Scaling laws: accuracy vs parameters, per family", "",
             "Each ranked family's law, fitted by `python bench/fit_scaling_law.py` on a `tinyml-kit sweep` trained "
             "with fit's recipe, so a prediction is of what `fit` measures. Accuracy is int8 validation accuracy in "
             "percent. Reprint one with `tinyml-kit scaling-law --law DIR`."]
    for family, law_path in SCALING_LAW_FILES.items():
        sweep = Path("models") / "sweep" / law_path.parent.name   # from the repository's top: law.json names it so
        lines += _family(family, sweep, args.splits)
    DOC.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote the laws, their plots and {DOC} in {time.perf_counter() - start:.0f} s")


def _family(family: str, sweep: Path, splits: int) -> list[str]:
    law = ScalingLaw.load(fit_law(sweep, splits))
    rows = load_sweep(sweep)
    meta = json.loads((sweep / META).read_text())
    fitted = [r for r in rows if not r.get("held_out")]
    recipe = meta["recipe"]
    lines = ["", f"## {lookup(family).title}", "",
             f"Sweep `{sweep}` ({len(fitted)} configurations fitted, {len(rows) - len(fitted)} held out; "
             f"{recipe['epochs']} epochs, batch {recipe['batch_size']}, {recipe['input_shape'][0]} px; dataset "
             f"sha256 `{meta['dataset_sha256'][:16]}…`).", "",
             f"### Cross-validated RMSE ({law.source['cv']}), accuracy points", "",
             "| form | " + " | ".join(f"depth {n}" for n in law.depths) + " | mean |",
             "|---|" + "---|" * (len(law.depths) + 1)]
    for form in FORMS:
        values = [law.cv_rmse[form].get(n) for n in law.depths]   # absent: too few points for the form
        scored = [v for v in values if v is not None]
        mark = " (used)" if form == BEST_FORM else ""
        lines.append(f"| {form}{mark} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in values)
                     + (f" | {sum(scored) / len(scored):.2f} |" if scored else " | - |"))
    lines += ["", "### Segmentation (best depth per parameter budget)", "",
              "| depth | from params | to params |", "|---|---|---|"]
    lines += [f"| {s['depth']} | {s['params_from']:,} | {s['params_to']:,} |" for s in law.segments]
    if law.held_out:
        h = law.held_out
        knobs = [k for k in ("alpha", "beta", "t0", "depth") if k in h["rows"][0]]
        lines += ["", f"### Held-out configurations: RMSE {h['rmse']:.2f} points (max {h['max_abs_error']:.2f})",
                  "", "| " + " | ".join(knobs) + " | params | measured % | predicted % |",
                  "|---" * (len(knobs) + 3) + "|"]
        lines += ["| " + " | ".join(f"{r[k]:g}" for k in knobs) + f" | {r['params']:,} | {r['measured']:.2f} | "
                  f"{r['predicted']:.2f} |" for r in h["rows"]]
    lines += _trained_models(family, rows, meta)
    lines += ["", f"![{family} accuracy vs parameters](../{sweep}/{PLOT})"]
    return lines


def _trained_models(family: str, rows: list[dict], meta: dict) -> list[str]:
    """What the sweep's trained models say besides the law: the cost of int8, and the conversion-free estimates
    against what was measured on them."""
    import statistics

    from tinyml_kit.solve.families import estimator

    cost = [100 * (r["float_accuracy"] - r["int8_accuracy"]) for r in rows]
    worst = max(rows, key=lambda r: r["float_accuracy"] - r["int8_accuracy"])
    flash_error, exact_counts, exact_arena = [], 0, 0
    for r in rows:
        shape, classes = tuple(meta["recipe"]["input_shape"]), meta["recipe"]["classes"]
        ranked = estimator(family)
        e = ranked.estimate(ranked.family.configuration(r), shape, classes)
        flash_error.append(100 * abs(e.flash_bytes_est - r["flash_bytes"]) / r["flash_bytes"])
        exact_counts += (e.params, e.macs) == (r["params"], r["macs"])
        exact_arena += e.arena_bytes_est == r["arena_bytes"]
    return ["", f"### The {len(rows)} trained models", "",
            f"- int8 post-training quantization cost {statistics.mean(cost):.2f} accuracy points on average, at most "
            f"{max(cost):.2f} ({worst['key']}).",
            f"- Conversion-free estimates against the measured models: parameters and MACs exact on {exact_counts}, "
            f"arena exact on {exact_arena}, flash within {max(flash_error):.2f} % (median "
            f"{statistics.median(flash_error):.2f} %).",
            f"- Training and quantization took {sum(r['seconds'] for r in rows) / 60:.0f} minutes summed over the "
            f"configurations."]


if __name__ == "__main__":
    main()
