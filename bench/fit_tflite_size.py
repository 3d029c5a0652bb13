"""Refit the per-object overheads of `tinyml_kit.tflite_size.tflite_bytes` against exact serializations.

Builds 400 random PhiNet graphs (no TensorFlow), serializes each with the TFLite schema, fits the overheads by
least squares and prints them with the residuals. Paste the coefficients into `_COEFFICIENTS` if they change
(with `--compact`: the compact file the firmware links, into `_COMPACT_COEFFICIENTS`).

    .venv/bin/python bench/fit_tflite_size.py [--compact]
"""

import argparse
import random

import numpy as np

from tinyml_kit.core.spec import phinet_blocks
from tinyml_kit.solve.phinet_graph import phinet_graph
from tinyml_kit.solve.tflite_size import _features, serialized_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compact", action="store_true", help="the compact flatbuffer TFLM runs on the device")
    compact = parser.parse_args().compact
    rng = random.Random(0)
    rows, sizes = [], []
    for _ in range(400):
        alpha = rng.choice([0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
        beta, t0, depth = rng.choice([0.75, 1.0, 1.35]), rng.choice([3, 4, 5, 6]), rng.choice([4, 5, 6, 7, 8, 9])
        if alpha >= 1.5 and depth >= 8:
            alpha = 1.0
        side, channels, classes = rng.choice([32, 48, 64, 96, 128, 160]), rng.choice([1, 3]), rng.choice([2, 10, 100])
        extra = rng.choice([{}, {}, {"divisor": 8}, {"squeeze_excite": False}])
        graph = phinet_graph(phinet_blocks(alpha, beta, t0, depth, **extra), (side, side, channels), classes,
                             f"phinet_a{alpha:g}_b{beta:g}_t{t0:g}_n{depth}",
                             activation="relu6" if extra.get("squeeze_excite") is False else "hswish")
        rows.append(_features(graph, compact))
        sizes.append(serialized_bytes(graph, compact))
    x, y = np.array(rows, float), np.array(sizes, float)
    coef, *_ = np.linalg.lstsq(x[:, 1:], y - x[:, 0], rcond=None)
    err = x[:, 0] + x[:, 1:] @ coef - y
    print("_COMPACT_COEFFICIENTS =" if compact else "_COEFFICIENTS =", tuple(round(float(c), 2) for c in coef))
    print(f"residual: max {np.abs(err).max():.0f} B, median {np.median(np.abs(err)):.0f} B, "
          f"max {100 * (np.abs(err) / y).max():.2f} %")


if __name__ == "__main__":
    main()
