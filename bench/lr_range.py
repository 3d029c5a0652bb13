"""How stable is the learning-rate range test (`fit --lr-finder`)? The same model and data, several seeds (each seed
draws the initial weights and the batch order, as `fit --seed` does), the chosen rate per seed, and its spread.

    PYTHONPATH=$PWD .venv/bin/python bench/lr_range.py [--models tinynet resnet phinet] [--seeds 0 .. 8]
        [--shipped-seeds 0 1 2] [--check-epochs 0] [--resume]

Models as the solver builds them (TinyNet w1.375 d3, ResNet w0.5 d1, PhiNet α0.35 β1 t0 6 N7) on fit's training
split of cifar10-5k at 32x32x3. Two kinds of runs:
- `curves`: one range test per seed with every batch's own loss kept, so each rule in RULES chooses a rate from
  the very same curves (the difference between rules is the rule's, not another draw of the noise). Summaries:
  one test per seed on seeds 0-2 (the target), on all seeds, and the mean of 3 tests (seed groups 0-2, 3-5, 6-8).
- `shipped`: `train.lr_finder.range_test` as fit runs it now (TESTS tests from the model's weights), per seed:
  its rate, and its tests' raw losses, on which every rule is applied too (summary `shipped_tests`).
A rule's spread per model: max/min of its rates and the largest deviation from their median in %; the target is
within ±20 %. `--check-epochs N` trains each model N epochs (one-cycle, seed 0) at the old rule's median rate and
at the shipped rule's, to check the stable rate is still a good one. `--resume` keeps the runs already in
bench/results/lr_range_runs.jsonl (every run, its raw losses too) and runs only the missing ones.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from portable import data_record

HERE = Path(__file__).parent
RESULT = HERE / "results" / "lr_range.json"
RUNS = HERE / "results" / "lr_range_runs.jsonl"   # every run, a line each (the raw losses), read by --resume
DATA = HERE.resolve().parent.parent / "shared" / "datasets" / "cifar10-5k.npz"
SHAPE = (32, 32, 3)
MODELS = {"tinynet": ("tinynet", {"alpha": 1.375, "depth": 3}),
          "resnet": ("resnet", {"alpha": 0.5, "depth": 1}),
          "phinet": ("phinet", {"alpha": 0.35, "beta": 1.0, "t0": 6, "depth": 7})}
TARGET = 0.20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ema(raw: np.ndarray, beta: float) -> np.ndarray:
    """Exponential moving average with bias correction (fastai's smoothing): lags the curve by ~1/(1-beta) steps."""
    out, average = np.empty(len(raw)), 0.0
    for i, v in enumerate(raw):
        average = beta * average + (1 - beta) * v
        out[i] = average / (1 - beta ** (i + 1))
    return out


def skip(n: int) -> int:
    return min(max(5, round(0.1 * n)), n - 1)


def minimum(rates, smooth) -> float:
    s = skip(len(smooth))
    return float(rates[s + int(np.argmin(smooth[s:]))])


def steepest(rates, smooth) -> float:
    s = skip(len(smooth))
    at = s + int(np.argmin(smooth[s:]))
    if at - s < 2:
        return float(rates[at])
    slope = np.gradient(smooth[s: at + 1], np.log(rates[s: at + 1]))
    return float(rates[s + int(np.argmin(slope))])


def fall(rates, smooth, fraction: float) -> float:
    """The rate where the loss has fallen `fraction` of the way from its start to its minimum (a point on the
    valley's steep left wall), interpolated in log rate."""
    s = skip(len(smooth))
    at = s + int(np.argmin(smooth[s:]))
    start = float(np.median(smooth[:s]))
    level = start - fraction * (start - smooth[at])
    j = int(np.flatnonzero(smooth[:at + 1] < level)[0])
    if j == 0:
        return float(rates[0])
    t = (smooth[j - 1] - level) / (smooth[j - 1] - smooth[j])
    return float(np.exp(np.log(rates[j - 1]) + t * np.log(rates[j] / rates[j - 1])))


def kernel(decades: float):
    from tinyml_kit.train.lr_finder import smooth

    return lambda r, v: smooth(r, v, decades)


def valley(decades: float, depth: float):
    """lr_finder's rule with another kernel width and valley depth."""
    from tinyml_kit.train import lr_finder

    def rule(r, v):
        old = lr_finder.SMOOTHING_DECADES, lr_finder.VALLEY
        lr_finder.SMOOTHING_DECADES, lr_finder.VALLEY = decades, depth
        try:
            return lr_finder.choose(r, v).chosen_rate
        finally:
            lr_finder.SMOOTHING_DECADES, lr_finder.VALLEY = old
    return rule


CLIP = (1e-4, 3e-2)
OLD, SHIPPED = "old: ema0.9 min/2", "valley k0.2 centre0.3"
Rule = Callable[[np.ndarray, np.ndarray], float]
RULES: dict[str, Rule] = {
    OLD: lambda r, v: minimum(r, ema(v, 0.9)) / 2,
    "ema0.98 min/2": lambda r, v: minimum(r, ema(v, 0.98)) / 2,
    "ema0.98 min/10": lambda r, v: minimum(r, ema(v, 0.98)) / 10,
    "ema0.98 steepest": lambda r, v: steepest(r, ema(v, 0.98)),
    "kernel0.1 min/2": lambda r, v: minimum(r, kernel(0.1)(r, v)) / 2,
    "kernel0.2 min/2": lambda r, v: minimum(r, kernel(0.2)(r, v)) / 2,
    "kernel0.1 steepest": lambda r, v: steepest(r, kernel(0.1)(r, v)),
    "kernel0.2 fall0.75": lambda r, v: fall(r, kernel(0.2)(r, v), 0.75),
    "kernel0.2 fall0.9": lambda r, v: fall(r, kernel(0.2)(r, v), 0.9),
    "valley k0.1 centre0.3": valley(0.1, 0.3),
    SHIPPED: valley(0.2, 0.3),
    "valley k0.2 centre0.5": valley(0.2, 0.5),
}


def curve(name: str, seed: int, parts) -> dict:
    """One range test's raw losses (weights drawn with `seed`, batches shuffled with a seed drawn from it)."""
    from tinyml_kit.train.lr_finder import MAX_STEPS, range_curves
    from tinyml_kit.train.trainer import BATCH_SIZE

    model, start = built(name, seed, parts), time.perf_counter()
    curves = range_curves(model, parts, BATCH_SIZE, seed, MAX_STEPS, None, tests=1)
    return {"model": name, "seed": seed, "steps": len(curves.raw[0]),
            "seconds": round(time.perf_counter() - start, 1), "rates": curves.rates[:len(curves.raw[0])],
            "raw_losses": [v if np.isfinite(v) else None for v in curves.raw[0]]}


def shipped(name: str, seed: int, parts) -> dict:
    """The range test as `fit --lr-finder --seed SEED` runs it now (`range_test` is `range_curves` then `choose`),
    the rate it chooses, and each of its tests' raw losses (for the rules in RULES)."""
    from tinyml_kit.train.lr_finder import MAX_STEPS, TESTS, choose, range_curves
    from tinyml_kit.train.trainer import BATCH_SIZE

    model, start = built(name, seed, parts), time.perf_counter()
    curves = range_curves(model, parts, BATCH_SIZE, seed, MAX_STEPS, None, TESTS)
    test = choose(*curves.mean(), TESTS)
    return {"model": name, "seed": seed, "rule": test.rule, "tests": test.tests, "chosen_rate": test.chosen_rate,
            "minimum_rate": test.minimum_rate, "seconds": round(time.perf_counter() - start, 1),
            "rates": curves.rates, "raw": [[v if np.isfinite(v) else None for v in r] for r in curves.raw]}


def built(name: str, seed: int, parts):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import build

    arch, knobs = MODELS[name]
    keras().utils.set_random_seed(seed)
    return build(arch, SHAPE, len(parts.train.class_names), **knobs)


def losses(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The rows' mean raw loss at the rates all of them reached with a finite loss (as `range_test` averages)."""
    from tinyml_kit.train.lr_finder import Curves

    raw = [[np.nan if x is None else x for x in r["raw_losses"]] for r in rows]
    return Curves(max((r["rates"] for r in rows), key=len), raw).mean()


def spread(rates: list[float]) -> dict:
    median = statistics.median(rates)
    return {"rates": [float(f"{r:.3g}") for r in rates], "median": float(f"{median:.3g}"),
            "max_over_min": round(max(rates) / min(rates), 3),
            "max_dev_pct": round(100 * max(abs(r / median - 1) for r in rates), 1)}


def table(curves: list[dict], seeds: list[int], per_test: int) -> dict:
    """Each rule's rate per model: one range test per seed in `seeds` (per_test 1), or the mean of `per_test`
    tests, seed groups 0..per_test-1, per_test..2·per_test-1, ... (as many full groups as there are)."""
    groups = {}
    for model in MODELS:
        rows = sorted((c for c in curves if c["model"] == model and (per_test > 1 or c["seed"] in seeds)),
                      key=lambda c: c["seed"])
        groups[model] = [rows[i: i + per_test] for i in range(0, len(rows) - per_test + 1, per_test)]
    return summarise(groups)


def summarise(groups: dict[str, list[list[dict]]]) -> dict:
    """Each rule on each group of curves (their mean loss), and the rates' spread per model."""
    out: dict = {}
    for rule_name, rule in RULES.items():
        per_model = {m: {**spread([float(np.clip(rule(*losses(g)), *CLIP)) for g in gs]),
                         "seeds": [[c["seed"] for c in g] for g in gs]} for m, gs in groups.items() if len(gs) >= 2}
        worst = max((m["max_dev_pct"] for m in per_model.values()), default=None)
        out[rule_name] = {"per_model": per_model, "worst_dev_pct": worst,
                          "within_target": worst is not None and worst <= 100 * TARGET}
    return out


def shipped_table(rows: list[dict]) -> dict:
    return {m: {**spread([r["chosen_rate"] for r in sel]), "seeds": [r["seed"] for r in sel],
                "seconds": [r["seconds"] for r in sel]}
            for m in MODELS if len(sel := sorted((r for r in rows if r["model"] == m), key=lambda r: r["seed"])) >= 2}


def shipped_rules(rows: list[dict]) -> dict:
    """Each rule on the shipped runs' own tests, averaged per seed as `range_test` averages them."""
    return summarise({m: [[{"seed": r["seed"], "rates": r["rates"], "raw_losses": raw} for raw in r["raw"]]
                          for r in sorted(rows, key=lambda r: r["seed"]) if r["model"] == m and "raw" in r]
                      for m in MODELS})


def check(name: str, rate: float, parts, epochs: int) -> dict:
    """A short one-cycle training at `rate` (seed 0): is the rate a good one?"""
    from tinyml_kit.train.trainer import train

    result = train(built(name, 0, parts), parts, epochs=epochs, learning_rate=rate, schedule="onecycle",
                   patience=epochs)
    return {"model": name, "rate": float(f"{rate:.3g}"), "epochs": epochs,
            "val_accuracy": round(result.val_accuracy, 4), "seconds": round(result.seconds, 1)}


def print_table(title: str, summary: dict) -> None:
    print(f"\n{title}\n{'rule':24s}" + "".join(f"{m:>40s}" for m in MODELS) + f"{'worst':>7s}")
    for rule_name, r in summary.items():
        cells = []
        for m in MODELS:
            s = r["per_model"].get(m)
            cells.append(f"{'-':>40s}" if s is None else
                         f"{' '.join(f'{x:.2g}' for x in s['rates']):>24s} x{s['max_over_min']:<5.2f} "
                         f"±{s['max_dev_pct']:>4.0f}%")
        print(f"{rule_name:24s}" + "".join(cells) + f"{r['worst_dev_pct'] or 0:>6.0f}%")


def run_missing(rows: list[dict], models, seeds, run, parts, save) -> None:
    for name in models:
        for seed in seeds:
            if not any(r["model"] == name and r["seed"] == seed for r in rows):
                log(f"== {run.__name__} {name} seed {seed}")
                rows.append(run(name, seed, parts))
                log(f"   {rows[-1]['seconds']} s")
                save()


def stored(rows: list[dict], kind: str) -> list[dict]:
    """Rows as RUNS keeps them: tagged with their kind, losses to 5 digits."""
    def short(v):
        return [short(x) for x in v] if isinstance(v, list) else float(f"{v:.5g}") if isinstance(v, float) else v
    return [{"kind": kind, **{k: short(v) if k in ("rates", "raw", "raw_losses") else v for k, v in r.items()}}
            for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(9)), help="one-test curves")
    parser.add_argument("--shipped-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--check-epochs", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    from tinyml_kit.train.data import load_dataset, split

    old = [json.loads(line) for line in RUNS.read_text().splitlines()] if args.resume and RUNS.exists() else []
    curves, ships, checks = ([r for r in old if r["kind"] == kind] for kind in ("curve", "shipped", "check"))
    parts = split(load_dataset(str(DATA), SHAPE), seed=0)   # fit's split (seed 0)

    def save() -> dict:
        every = sorted({c["seed"] for c in curves})
        summary = {"one_test_seeds_0_2": table(curves, [0, 1, 2], 1), "one_test_all_seeds": table(curves, every, 1),
                   "mean_of_3_tests": table(curves, every, 3), "shipped_tests": shipped_rules(ships),
                   "shipped": shipped_table(ships)}
        result = {**data_record(DATA), "train_images": len(parts.train.x), "target_dev_pct": 100 * TARGET,
                  "shipped_rule": SHIPPED, "summary": summary, "checks": checks, "runs": RUNS.name}
        RESULT.write_text(json.dumps(result, indent=1) + "\n")
        RUNS.write_text("".join(json.dumps(r) + "\n" for r in stored(curves, "curve") + stored(ships, "shipped")
                                + stored(checks, "check")))
        return result

    run_missing(curves, args.models, args.seeds, curve, parts, save)
    run_missing(ships, args.models, args.shipped_seeds, shipped, parts, save)
    result = save()
    for name in args.models if args.check_epochs else ():
        old_rule = result["summary"]["one_test_seeds_0_2"][OLD]["per_model"][name]["median"]
        for rule_name, rate in ((OLD, old_rule), (SHIPPED, result["summary"]["shipped"][name]["median"])):
            if not any(c["model"] == name and c["rate"] == rate and c["epochs"] == args.check_epochs for c in checks):
                log(f"== check {name} at {rate:.3g} ({rule_name}), {args.check_epochs} epochs")
                checks.append({**check(name, rate, parts, args.check_epochs), "rule": rule_name})
                result = save()
    for title, summary in result["summary"].items():
        if title != "shipped":
            print_table(title, summary)
    print("\nshipped (fit --lr-finder now, seeds " + " ".join(map(str, args.shipped_seeds)) + ")")
    for m, s in result["summary"]["shipped"].items():
        print(f"{m:8s} {' '.join(f'{x:.2g}' for x in s['rates'])}  x{s['max_over_min']:.2f}  ±{s['max_dev_pct']:.0f}%  "
              f"{s['seconds']} s")
    for c in checks:
        print(f"check {c['model']:8s} {c['rule']:24s} rate {c['rate']:.3g}: {c['epochs']} epochs one-cycle, "
              f"val accuracy {c['val_accuracy']:.4f}")


if __name__ == "__main__":
    main()
