"""Benchmark the C engine's conversion-free estimates against the built artifact on PhiNets.

For each PhiNet of a grid (32x32x3, 10 classes, trained-looking weights, int8 PTQ): the model flash of the
generated tinyml_model.c compiled for the Cortex-M4F (text + data of the object: constants, parameter structs,
code) and its static arena, next to `solve.c_size.c_engine_costs` of the graph the solver predicts from the
scaling factors alone. Prints each pair and writes bench/results/engine_estimates.json.

    .venv/bin/python bench/engine_estimates.py [--count 24] [--calibrate]

--calibrate also prints the least-squares code bytes per op kind that solve/c_size.py's table holds.
"""

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RESULT = Path(__file__).parent / "results" / "engine_estimates.json"
SHARED = Path(__file__).resolve().parents[2] / "shared"
GRID = [dict(alpha=a, beta=b, t0=t, depth=d) for a in (0.25, 0.5, 0.75, 1.0) for b, t in ((0.75, 6), (1.35, 3))
        for d in (4, 5, 7)]


def converted(cfg: dict, pixels: np.ndarray) -> bytes:
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets.phinet import phinet
    from tinyml_kit.pipeline.measure import look_trained

    model = phinet(input_shape=(32, 32, 3), classes=10, **cfg)
    look_trained(model)
    return quantize_int8(model, calibration_images(pixels[:64]))


def built_flash(program, cmsis_nn: Path) -> dict:
    """text and data of tinyml_model.c compiled as verify compiles it, and its sections by name."""
    from tinyml_kit.check.verify import ENGINE_C_FLAGS
    from tinyml_kit.core.cores import CORES
    from tinyml_kit.export.toolchain import cmsis_nn_defines

    with tempfile.TemporaryDirectory() as tmp:
        program.write(Path(tmp), [str(i) for i in range(10)])
        obj = Path(tmp) / "model.o"
        subprocess.run(["arm-none-eabi-gcc", *CORES["m4"].gcc_flags, *ENGINE_C_FLAGS,
                        *cmsis_nn_defines(CORES["m4"].gcc_flags), "-isystem",
                        str(cmsis_nn / "Include"), "-c", str(Path(tmp) / "tinyml_model.c"), "-o", str(obj)], check=True)
        out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True).stdout
    sections: dict[str, int] = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit() and parts[0].startswith("."):
            kind = parts[0].split(".")[1]
            sections[kind] = sections.get(kind, 0) + int(parts[1])
    return {"flash": sections.get("text", 0) + sections.get("rodata", 0) + sections.get("data", 0), **sections}


def main() -> None:
    from tinyml_kit.core.spec import phinet_blocks, phinet_name
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir
    from tinyml_kit.solve.c_size import c_engine_costs, code_features
    from tinyml_kit.solve.phinet_graph import phinet_graph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=len(GRID))
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    cmsis_nn = find_cmsis_nn_dir(None, str(SHARED / "third_party" / "tflm-qemu"))
    pixels = np.load(SHARED / "datasets" / "cifar10-5k.npz")["x"]
    rows, features, code = [], [], []
    for cfg in GRID[:args.count]:
        flatbuffer = converted(cfg, pixels)
        program = compile_model(flatbuffer)
        built = built_flash(program, cmsis_nn)
        graph = phinet_graph(phinet_blocks(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"]), (32, 32, 3), 10,
                             phinet_name(cfg["alpha"], cfg["beta"], cfg["t0"], cfg["depth"]))
        est = c_engine_costs(graph)
        features.append(code_features(graph))
        code.append(built["flash"] - est.constant_bytes - est.struct_bytes)
        rows.append({**cfg, "tflite_bytes": len(flatbuffer), "model_flash_bytes": built["flash"],
                     "model_flash_est": est.flash_bytes, "arena_bytes": program.arena_bytes,
                     "arena_est": est.arena_bytes, "constant_bytes": program.constant_bytes,
                     "constant_est": est.constant_bytes,
                     "flash_error": round(est.flash_bytes / built["flash"] - 1, 4),
                     "flash_to_tflite": round(built["flash"] / len(flatbuffer), 3)})
        r = rows[-1]
        print(f"a={cfg['alpha']:<5} b={cfg['beta']:<5} t0={cfg['t0']} N={cfg['depth']}  tflite {r['tflite_bytes']:>8,}"
              f"  flash {r['model_flash_bytes']:>8,} est {r['model_flash_est']:>8,} ({100 * r['flash_error']:+.2f} %)"
              f"  x{r['flash_to_tflite']:.3f}  arena {r['arena_bytes']:>7,} est {r['arena_est']:>7,}", flush=True)
    if args.calibrate:
        coef, *_ = np.linalg.lstsq(np.array(features, dtype=float), np.array(code, dtype=float), rcond=None)
        print("code bytes per feature:", [round(c, 1) for c in coef])
    worst = max(abs(r["flash_error"]) for r in rows)
    exact = all(r["arena_bytes"] == r["arena_est"] for r in rows)
    RESULT.write_text(json.dumps({"models": rows, "worst_flash_error": worst, "arena_exact": exact}, indent=2) + "\n")
    print(f"worst flash error {100 * worst:.2f} %, arena exact on all: {exact}; wrote {RESULT}")


if __name__ == "__main__":
    main()
