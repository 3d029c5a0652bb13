"""Benchmark the C engine against TFLM + CMSIS-NN, side by side: the same int8 .tflite, the same QEMU harness on
the emulated Cortex-M4F (mps2-an386), the same images.

For each model: both firmwares' bit-exactness with LiteRT's reference kernels (and the C engine's on the host),
whole-ELF flash and static RAM, instructions per inference, and the C engine's model flash (constants + generated code:
the compiled tinyml_model.c) against the .tflite bytes; then the ratios C / TFLM. Prints a table and writes
bench/results/engine.json.

    .venv/bin/python bench/engine.py [--images 100] [--models phinet_small,resnet8] [--tflite NAME=PATH ...]

--tflite adds a .tflite made elsewhere, e.g. a QAT or structured-pruned run of `tinyml-kit compress`.

The models are the five builders at a small and a medium size on 32x32x3, 10 classes, random weights with
trained-looking batch-norm statistics and biases, per-channel int8 quantization calibrated on cifar pixels (what the
engine is judged on is arithmetic and bytes, not accuracy); the images are cifar10-5k pixels.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RESULT = Path(__file__).parent / "results" / "engine.json"
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = {
    "phinet_small": ("phinet", dict(alpha=0.25, beta=1.0, t0=4, depth=3)),
    "phinet_medium": ("phinet", dict(alpha=0.75, beta=1.35, t0=3, depth=4)),
    "tinynet_small": ("tinynet", dict(alpha=0.5, depth=2)),
    "tinynet_medium": ("tinynet", dict(alpha=1.5, depth=4)),
    "mobilenetv1_small": ("mobilenetv1", dict(alpha=0.1)),
    "mobilenetv1_medium": ("mobilenetv1", dict(alpha=0.25)),
    "mobilenetv2_small": ("mobilenetv2", dict(alpha=0.1)),
    "mobilenetv2_medium": ("mobilenetv2", dict(alpha=0.35)),
    "resnet8": ("resnet8", {}),
}


def int8_model(arch: str, knobs: dict, pixels: np.ndarray) -> bytes:
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    model = build(arch, (32, 32, 3), 10, **knobs)
    look_trained(model)   # batch-norm statistics and biases as training leaves them, so scales differ per layer
    return quantize_int8(model, calibration_images(pixels[:64]))


def model_flash(flatbuffer: bytes, cmsis_nn: Path) -> int:
    """text + rodata + data of the C engine's tinyml_model.c compiled as verify compiles it."""
    from engine_estimates import built_flash

    from tinyml_kit.engine.codegen import compile_model

    return built_flash(compile_model(flatbuffer), cmsis_nn)["flash"]


def compare(name: str, flatbuffer: bytes, images: np.ndarray, tflm_dir: str, cmsis_nn: Path) -> dict:
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.firmware import ModelSource

    info = read_model(flatbuffer)
    arena = measure_arena(flatbuffer)
    src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes)
    x = info.inputs[0].quantize(images.astype(np.float32))
    board = get_board("nucleo-h743zi2")
    row = {"model": name, "tflite_bytes": len(flatbuffer)}
    for engine, kernels in (("tflm", "cmsis_nn"), ("c", None)):
        start = time.perf_counter()
        r = verify_model(src, x, board, kernels=kernels, tflm_dir=tflm_dir, engine=engine)
        row[engine] = {k: getattr(r, k) for k in ("bit_exact", "max_abs_diff", "elf_flash_bytes", "elf_ram_bytes",
                                         "arena_used_bytes", "stack_used_bytes", "instructions_per_inference")}
        row[engine]["wall_time_s"] = round(time.perf_counter() - start, 1)
    row["c"]["model_flash_bytes"] = model_flash(flatbuffer, cmsis_nn)
    from tinyml_kit.check.c_host import check_on_host

    host = check_on_host(flatbuffer, x, cmsis_nn)
    row["c"]["host_bit_exact"] = host.equals_litert
    row["ratios"] = {k: round(row["c"][k] / row["tflm"][k], 3)
                     for k in ("elf_flash_bytes", "elf_ram_bytes", "instructions_per_inference")}
    row["ratios"]["model_flash_to_tflite"] = round(row["c"]["model_flash_bytes"] / len(flatbuffer), 3)
    return row


def main() -> None:
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tflm-dir", default=str(SHARED / "third_party" / "tflm-qemu"))
    parser.add_argument("--tflite", action="append", default=[], metavar="NAME=PATH",
                        help="Also compare this .tflite (32x32x3 input, 10 classes).")
    args = parser.parse_args()
    cmsis_nn = find_cmsis_nn_dir(None, args.tflm_dir)
    pixels = np.load(SHARED / "datasets" / "cifar10-5k.npz")["x"]
    rows = []
    models = [(name, lambda name=name: int8_model(*MODELS[name], pixels)) for name in args.models.split(",") if name]
    models += [(item.split("=", 1)[0], lambda item=item: Path(item.split("=", 1)[1]).read_bytes())
               for item in args.tflite]
    for name, flatbuffer in models:
        row = compare(name, flatbuffer(), pixels[-args.images:], args.tflm_dir, cmsis_nn)
        rows.append(row)
        r, t, c = row["ratios"], row["tflm"], row["c"]
        print(f"{name:<20} tflite {row['tflite_bytes']:>8,}  bit-exact tflm {t['bit_exact']} c {c['bit_exact']} "
              f"(host {c['host_bit_exact']})  "
              f"flash x{r['elf_flash_bytes']:.2f}  ram x{r['elf_ram_bytes']:.2f}  "
              f"instr x{r['instructions_per_inference']:.2f}  model/tflite x{r['model_flash_to_tflite']:.2f}",
              flush=True)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"images": args.images, "board": "nucleo-h743zi2 (budget only; the core is QEMU's "
                                  "Cortex-M4F)", "models": rows}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
