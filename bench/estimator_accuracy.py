"""How close the conversion-free estimates are to the real thing: TFLM flash (the compact flatbuffer the firmware
links) and TFLM arena, model by model, for both ranked families.

Draws configurations spread evenly over log10(parameters) from 10^3 to 10^7 and inputs from 32 to 160 px: PhiNets
(a few with divisor 8, compatibility mode, one channel or 100 classes) and ResNets (width 0.25–3, 1–3 blocks per
stage), converts each with trained-looking weights, measures the compact flatbuffer and the arena TFLM reports,
and prints the error distribution. Writes bench/results/estimator_accuracy.json.

    .venv/bin/python bench/estimator_accuracy.py [--count 54] [--seed 0]
"""

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np

from tinyml_kit.solve.estimate import estimate_phinet, estimate_resnet

RESULT = Path(__file__).parent / "results" / "estimator_accuracy.json"
LOG_PARAM_BINS = [(3.0, 4.0), (4.0, 5.0), (5.0, 6.0), (6.0, 7.0)]


def draw(count: int, seed: int) -> list[dict]:
    """`count` configurations, the same number per decade of parameters, found by rejection sampling."""
    rng = random.Random(seed)
    per_bin = {b: [] for b in LOG_PARAM_BINS}
    want = -(-count // len(LOG_PARAM_BINS))
    while any(len(v) < want for v in per_bin.values()):
        cfg = {"alpha": rng.choice([0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]),
               "beta": rng.choice([0.75, 1.0, 1.35]), "t0": rng.choice([3, 4, 5, 6]), "depth": rng.randint(4, 9),
               "input": rng.choice([32, 48, 64, 96, 128, 160]), "channels": rng.choice([3, 3, 3, 1]),
               "classes": rng.choice([10, 10, 10, 2, 100]),
               "variant": rng.choice(["default"] * 6 + ["divisor8", "compatibility"] + ["resnet"] * 3)}
        if cfg["variant"] == "resnet":
            cfg |= {"alpha": rng.choice([0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]), "beta": None, "t0": None,
                    "depth": rng.randint(1, 3)}
        est = _estimate(cfg)
        log_p = math.log10(est.params)
        for lo, hi in LOG_PARAM_BINS:
            if lo <= log_p < hi and len(per_bin[(lo, hi)]) < want:
                per_bin[(lo, hi)].append(cfg)
    return [c for b in LOG_PARAM_BINS for c in per_bin[b]][:count]


def _knobs(cfg: dict) -> dict:
    return {"divisor": 8 if cfg["variant"] == "divisor8" else 1, "compatibility": cfg["variant"] == "compatibility"}


def _estimate(cfg: dict):
    shape = (cfg["input"], cfg["input"], cfg["channels"])
    if cfg["variant"] == "resnet":
        return estimate_resnet(cfg["alpha"], cfg["depth"], shape, cfg["classes"])
    return estimate_phinet(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"],
                           (cfg["input"], cfg["input"], cfg["channels"]), cfg["classes"], **_knobs(cfg))


def measure(cfg: dict) -> tuple[int, int]:
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
    from tinyml_kit.nets import build
    from tinyml_kit.nets.phinet import phinet
    from tinyml_kit.pipeline.measure import look_trained

    shape = (cfg["input"], cfg["input"], cfg["channels"])
    if cfg["variant"] == "resnet":
        model = build("resnet", shape, cfg["classes"], alpha=cfg["alpha"], depth=cfg["depth"])
    else:
        model = phinet(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"], shape, cfg["classes"], **_knobs(cfg))
    look_trained(model)
    images = np.random.default_rng(0).integers(0, 256, (8, *shape)).astype(np.uint8)
    flatbuffer = quantize_int8(model, calibration_images(images))  # sizes do not depend on calibration data
    return tflm_flash_bytes(flatbuffer), measure_arena(flatbuffer).total_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=54)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for i, cfg in enumerate(draw(args.count, args.seed)):
        t = time.perf_counter()
        est = _estimate(cfg)
        est_s = time.perf_counter() - t
        t = time.perf_counter()
        flash, arena = measure(cfg)
        row = {**cfg, "params": est.params, "macs": est.macs, "flash_bytes": flash,
               "flash_bytes_est": est.flash_bytes_est, "arena_bytes": arena, "arena_bytes_est": est.arena_bytes_est,
               "flash_error_pct": round(100 * (est.flash_bytes_est - flash) / flash, 3),
               "arena_error_pct": round(100 * (est.arena_bytes_est - arena) / arena, 3),
               "estimate_ms": round(1000 * est_s, 2), "convert_s": round(time.perf_counter() - t, 1)}
        rows.append(row)
        print(f"[{i + 1:2d}] a{cfg['alpha']:g} b{cfg['beta']} t{cfg['t0']} n{cfg['depth']} {cfg['input']}px "
              f"{cfg['variant']:13s} {est.params:>10,} params  flash {flash:>10,} est {row['flash_error_pct']:+.2f} %"
              f"  arena {arena:>9,} est {row['arena_error_pct']:+.2f} %", flush=True)
    flash_err = np.abs([r["flash_error_pct"] for r in rows])
    arena_err = np.abs([r["arena_error_pct"] for r in rows])
    summary = {"configurations": len(rows),
               "params_range": [min(r["params"] for r in rows), max(r["params"] for r in rows)],
               "input_range": [min(r["input"] for r in rows), max(r["input"] for r in rows)],
               "flash_abs_error_pct": {"max": float(flash_err.max()), "median": float(np.median(flash_err)),
                                       "p90": float(np.percentile(flash_err, 90))},
               "arena_abs_error_pct": {"max": float(arena_err.max()), "median": float(np.median(arena_err)),
                                       "p90": float(np.percentile(arena_err, 90))},
               "resnets": sum(r["variant"] == "resnet" for r in rows),
               "resnet_flash_abs_error_pct_max": max((abs(r["flash_error_pct"]) for r in rows
                                                      if r["variant"] == "resnet"), default=None),
               "estimate_ms_median": float(np.median([r["estimate_ms"] for r in rows]))}
    print(json.dumps(summary, indent=2))
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
