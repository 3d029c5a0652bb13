"""How often FULLY_CONNECTED's three int8 rescalings part, on random int32 sums and random float32 scales:
LiteRT's reference kernel (double precision, one rounding), the C engine's (Q31 multiplier, one rounding,
`engine/dense.py`) and TFLM's / CMSIS-NN's (Q31 multiplier, two roundings, `MultiplyByQuantizedMultiplier`).

    PYTHONPATH=. .venv/bin/python bench/fc_rounding.py [--layers 200] [--sums 200000]

Writes bench/results/fc_rounding.json.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from tinyml_kit.check.op_difference import _double_rounding, _round_half_away
from tinyml_kit.engine.quantization import quantize_multiplier

RESULT = Path(__file__).parent / "results" / "fc_rounding.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--sums", type=int, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    single_vs_litert = double_vs_litert = 0
    for _ in range(args.layers):
        s_in, s_w, s_out = (float(np.float32(rng.uniform(1e-4, 1e-2))) for _ in range(3))
        effective = s_in * s_w / s_out
        multiplier, shift = quantize_multiplier(effective)
        acc = rng.integers(-200_000, 200_000, args.sums).astype(np.int64)
        litert = _round_half_away(acc * effective)
        total_shift = 31 - shift
        single = (acc * multiplier + (1 << (total_shift - 1))) >> total_shift
        double = _double_rounding(acc, np.int64(multiplier), np.int64(shift))
        single_vs_litert += int(np.count_nonzero(single != litert))
        double_vs_litert += int(np.count_nonzero(double != litert))
    result = {"layers": args.layers, "sums": args.layers * args.sums,
              "c_engine_single_rounding_differs": single_vs_litert, "tflm_double_rounding_differs": double_vs_litert}
    print(json.dumps(result))
    RESULT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
