"""The C engine's flash estimate (`solve.c_size.c_engine_costs` of the converted graph) against the compiled
tinyml_model.c on CBAM PhiNets, and the code bytes per CBAM block that solve/c_size.py holds as MEAN_CHANNELS
(a MEAN over each pixel's channels marks one block): least squares of what the rest of the code model leaves.
Prints each model and writes bench/results/cbam_estimates.json.

    TINYML_TFLM_DIR=... PYTHONPATH=$PWD python bench/cbam_estimates.py
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_estimates import SHARED, built_flash  # noqa: E402

RESULT = Path(__file__).parent / "results" / "cbam_estimates.json"
GRID = [dict(alpha=a, beta=1.0, t0=4, depth=d) for a in (0.25, 0.5) for d in (4, 5, 7)]


def main() -> None:
    from tinyml_kit._tf import keras
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained
    from tinyml_kit.solve.c_size import OP_CODE_BYTES, c_engine_costs, code_kind

    cmsis_nn = find_cmsis_nn_dir(None, str(SHARED / "third_party" / "tflm-qemu"))
    pixels = np.load(SHARED / "datasets" / "cifar10-5k.npz")["x"]
    rows = []
    for cfg in GRID:
        keras().utils.set_random_seed(0)   # the weights decide whether HARD_SWISH keeps a table (its bytes vary)
        model = build("phinet", (32, 32, 3), 10, **cfg, attention="cbam")
        look_trained(model)
        flatbuffer = quantize_int8(model, calibration_images(pixels[:64]))
        graph = read_graph(flatbuffer, "cbam")
        built, est = built_flash(compile_model(flatbuffer), cmsis_nn), c_engine_costs(graph)
        blocks = sum(code_kind(graph, op) == "MEAN_CHANNELS" for op in graph.ops)
        rest = est.code_bytes - blocks * OP_CODE_BYTES["MEAN_CHANNELS"]   # the estimate without the block term
        rows.append({**cfg, "blocks": blocks, "model_flash_bytes": built["flash"], "model_flash_est": est.flash_bytes,
                     "code_bytes": built["flash"] - est.constant_bytes - est.struct_bytes, "code_est_rest": rest,
                     "flash_error": round(est.flash_bytes / built["flash"] - 1, 4)})
        r = rows[-1]
        print(f"a={cfg['alpha']:<5} N={cfg['depth']} blocks {blocks}  flash {r['model_flash_bytes']:>8,} "
              f"est {r['model_flash_est']:>8,} ({100 * r['flash_error']:+.2f} %)  code {r['code_bytes']:,}", flush=True)
    n = np.array([r["blocks"] for r in rows], dtype=float)
    residual = np.array([r["code_bytes"] - r["code_est_rest"] for r in rows], dtype=float)
    per_block = float(n @ residual / (n @ n))
    worst = max(abs(r["flash_error"]) for r in rows)
    RESULT.write_text(json.dumps({"models": rows, "per_block_fit": round(per_block, 1), "worst_flash_error": worst},
                                 indent=2) + "\n")
    print(f"code bytes per CBAM block (MEAN_CHANNELS): {per_block:.1f}; worst flash error {100 * worst:.2f} %; "
          f"wrote {RESULT}")


if __name__ == "__main__":
    main()
