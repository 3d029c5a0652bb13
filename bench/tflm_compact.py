"""The compact flatbuffer the firmware links, against the converter's file: bytes saved per builder, and the proof
that TFLM builds the same arena and gives the same outputs (and the same as LiteRT on the converter's file).
Prints and writes bench/results/tflm_compact.json.

    .venv/bin/python bench/tflm_compact.py

Models are untrained (sizes do not depend on the weights' values), 32x32x3 input, 10 classes, int8 PTQ on
random calibration images; 20 random int8 inputs each.
"""

import json
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "tflm_compact.json"
MODELS = [("resnet8", {}), ("phinet", {"alpha": 0.75, "beta": 1.35, "t0": 3, "depth": 4}),
          ("phinet", {"alpha": 0.25, "beta": 1.0, "t0": 6, "depth": 7}), ("mobilenetv1", {"alpha": 0.25}),
          ("mobilenetv2", {"alpha": 0.35}), ("tinynet", {"alpha": 0.5, "depth": 3})]


def main() -> None:
    from tinyml_kit.check.tflm import TflmModel
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.core.litert import LiteRtModel
    from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    rng = np.random.default_rng(0)
    rows = []
    for arch, knobs in MODELS:
        model = build(arch, (32, 32, 3), 10, **knobs)
        look_trained(model)
        full = quantize_int8(model, calibration_images(rng.integers(0, 256, (8, 32, 32, 3), np.uint8)))
        compact = compact_flatbuffer(full)
        x = rng.integers(-128, 128, (20, 32, 32, 3)).astype(np.int8)
        on_device = TflmModel(compact).predict(x).astype(np.int32)
        rows.append({"arch": arch, "knobs": knobs, "params": int(model.count_params()), "converter_bytes": len(full),
                     "compact_bytes": len(compact), "saved": round(1 - len(compact) / len(full), 4),
                     "same_arena": TflmModel(compact).arena() == TflmModel(full).arena(),
                     "same_outputs_as_tflm_on_converter_file": bool(np.array_equal(
                         on_device, TflmModel(full).predict(x).astype(np.int32))),
                     "same_outputs_as_litert": bool(np.array_equal(
                         on_device, LiteRtModel(full).predict(x.astype(np.int16)).astype(np.int32)))})
        r = rows[-1]
        print(f"{arch:12} {json.dumps(knobs):50} {r['params']:>8,} params  {r['converter_bytes']:>8,} -> "
              f"{r['compact_bytes']:>8,} B  (-{100 * r['saved']:.1f} %)  arena same: {r['same_arena']}, outputs "
              f"same: {r['same_outputs_as_tflm_on_converter_file'] and r['same_outputs_as_litert']}", flush=True)
    RESULT.write_text(json.dumps({"input_shape": [32, 32, 3], "classes": 10, "models": rows}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
