"""Benchmark the proof on an emulated Cortex-M4F: `verify` of the quick-start run with TFLM's reference kernels
and with CMSIS-NN.

Prints and writes bench/results/verify_default.json: for each kernel set, whether the outputs on the validation
images are bit-exact with LiteRT's reference kernels, the ELF's flash and RAM against the board, the arena
`arena_used_bytes()` reports on the device next to the host's measurement, and instructions per inference.

    .venv/bin/python bench/verify_default.py [--run RUN_DIR] [--images 20] [--tflm-dir DIR]

Without --run it fits the default (digits, nano33-ble-sense) into a temporary directory first (~2 min).
"""

import argparse
import json
import time
from pathlib import Path

from default_run import default_run
from portable import portable

from tinyml_kit.pipeline.checks import verify_run

RESULT = Path(__file__).parent / "results" / "verify_default.json"
DEFAULT_TFLM = Path(__file__).resolve().parents[2] / "shared" / "third_party" / "tflm-qemu"


def _verify_both(run_dir: Path, images: int, tflm_dir: str) -> dict:
    rows = {}
    for kernels in ("ref", "cmsis_nn"):
        start = time.perf_counter()
        rows[kernels] = verify_run(run_dir, kernels=kernels, images=images, tflm_dir=tflm_dir).to_dict()
        rows[kernels]["wall_time_s"] = round(time.perf_counter() - start, 1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="An existing run directory (default: fit the default one).")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--tflm-dir", default=str(DEFAULT_TFLM))
    args = parser.parse_args()
    with default_run(args.run) as run_dir:
        rows = _verify_both(run_dir, args.images, args.tflm_dir)
    result = {"command": "tinyml-kit verify RUN_DIR --kernels ref|cmsis_nn",
              "run": portable(str(args.run.absolute())) if args.run else "fit defaults",
              **rows}
    ref, nn = rows["ref"], rows["cmsis_nn"]
    result["cmsis_nn_instruction_ratio"] = round(ref["instructions_per_inference"]
                                                 / nn["instructions_per_inference"], 2)
    result["host_arena_over_device"] = round(ref["arena_host_bytes"] / ref["arena_used_bytes"] - 1, 4)
    result = portable(result, run_dir)   # the run's files as RUN_DIR/..., not a temporary path
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
