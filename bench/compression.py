"""What each compression buys, measured: float, PTQ, QAT, structured pruning (30 / 50 % of channels), magnitude
pruning and distillation, for one PhiNet and one MobileNet, on CIFAR-10 (5k) at 32 px.

    .venv/bin/python bench/compression.py [--data ../shared/datasets/cifar10-5k.npz] [--epochs 20] [--finetune 8]

Fixed recipe: the stratified 80/20 split of `tinyml_kit.data.split` (seed 0), Adam with cosine decay, `--epochs`
for every model trained from scratch, `--finetune` for every pruning / QAT fine-tune. `ptq_finetuned` is QAT's
control: the same extra epochs at the same learning rate, then post-training quantization. Each row's .tflite bytes
and MACs are measured on the row's own model and its arena on TFLM. Distillation: a student about a tenth of
the teacher's size, trained alone and with the teacher, same epochs, same initial weights.
Writes bench/results/compression.json (rows are kept as they finish, so a rerun resumes).
"""

import argparse
import json
import sys
import time
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "compression.json"
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cifar10-5k.npz"
# family: (benchmark model, distillation student, distillation teacher or None for the benchmark model)
MODELS = {
    "phinet": (("phinet", {"alpha": 0.95, "beta": 1.35, "t0": 6, "depth": 4}),
               ("phinet", {"alpha": 0.25, "beta": 1.35, "t0": 6, "depth": 4}), None),
    "mobilenetv1": (("mobilenetv1", {"alpha": 0.25}), ("mobilenetv1", {"alpha": 0.1}),
                    ("mobilenetv1", {"alpha": 0.5})),
}


def log(message: str) -> None:
    print(message, file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--finetune", type=int, default=8)
    args = parser.parse_args()

    from tinyml_kit._tf import keras
    from tinyml_kit.check.evaluate import evaluate
    from tinyml_kit.compress.options import CompressOptions
    from tinyml_kit.compress.quantize import calibration_images
    from tinyml_kit.compress.stages import (
        FINETUNE_LEARNING_RATE,
        compress,
        float_accuracy,
    )
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs
    from tinyml_kit.train.data import load_dataset, split
    from tinyml_kit.train.trainer import train

    recipe = {"data": args.data.name, "epochs": args.epochs, "finetune_epochs": args.finetune, "input": [32, 32, 3],
              "split_seed": 0}
    done = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    rows = done.get("rows", []) if done.get("recipe") == recipe else []
    have = {(r["family"], r["variant"]) for r in rows}
    dataset = load_dataset(str(args.data), (32, 32, 3))
    parts = split(dataset, seed=0)
    calibration = calibration_images(parts.train.x, seed=0)

    def save():
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(json.dumps({"recipe": recipe, "rows": rows}, indent=1) + "\n")

    def trained(arch, knobs, teacher=None):
        keras().utils.set_random_seed(0)
        model = build(arch, (32, 32, 3), 10, **knobs)
        start = time.perf_counter()
        train(model, parts, epochs=args.epochs, seed=0, teacher=teacher)
        return model, time.perf_counter() - start

    def record(family, variant, arch, knobs, options, model, seconds=0.0, **extra):
        start = time.perf_counter()
        c = compress(model, parts, calibration, options, seed=0)
        checked = evaluate(c.flatbuffer, parts.val, reference=c.model)
        row = {"family": family, "variant": variant, "arch": arch, "knobs": knobs,
               "params": model_costs(c.model).params, "macs": model_costs(c.model).macs,
               "float_accuracy": round(checked.float_accuracy, 4),
               "int8_accuracy": round(checked.int8_accuracy, 4), "flash_bytes": checked.footprint.flash_bytes,
               "arena_bytes": checked.footprint.arena_bytes, "litert_equals_tflm": checked.litert_equals_tflm,
               "stages": c.stages, "seconds": round(seconds + time.perf_counter() - start, 1), **extra}
        rows.append(row)
        save()
        log(f"{family:12s} {variant:18s} params {row['params']:>9,}  MACs {row['macs']:>11,}  flash "
            f"{row['flash_bytes']:>9,}  arena {row['arena_bytes']:>8,}  float {row['float_accuracy']:.4f}  "
            f"int8 {row['int8_accuracy']:.4f}")

    for family, ((arch, knobs), (s_arch, s_knobs), teacher_spec) in MODELS.items():
        variants = {"ptq": CompressOptions(),
                    "qat": CompressOptions(quant="qat", finetune_epochs=args.finetune),
                    "structured_30": CompressOptions(prune="structured", sparsity=0.3, finetune_epochs=args.finetune),
                    "structured_50": CompressOptions(prune="structured", sparsity=0.5, finetune_epochs=args.finetune),
                    "magnitude_50": CompressOptions(prune="magnitude", sparsity=0.5, finetune_epochs=args.finetune)}
        students_done = (family, "student_alone") in have and (family, "student_distilled") in have
        base = None
        if any((family, v) not in have for v in [*variants, "ptq_finetuned"]) or \
                (teacher_spec is None and not students_done):
            base, base_s = trained(arch, knobs)
        for variant, options in variants.items():
            if (family, variant) not in have:
                record(family, variant, arch, knobs, options, base, seconds=base_s if variant == "ptq" else 0.0)
        if (family, "ptq_finetuned") not in have:
            # QAT's control: the same extra epochs at the same learning rate, without fake quantization
            tuned = keras().models.clone_model(base)
            tuned.set_weights(base.get_weights())
            start = time.perf_counter()
            train(tuned, parts, epochs=args.finetune, learning_rate=FINETUNE_LEARNING_RATE, seed=0)
            record(family, "ptq_finetuned", arch, knobs, CompressOptions(), tuned,
                   seconds=time.perf_counter() - start)
        if students_done:
            continue
        if teacher_spec is None:
            teacher, t_arch, t_knobs = base, arch, knobs
        else:
            t_arch, t_knobs = teacher_spec
            teacher, _ = trained(t_arch, t_knobs)
        teacher_params = model_costs(teacher).params
        alone, alone_s = trained(s_arch, s_knobs)
        distilled, distilled_s = trained(s_arch, s_knobs, teacher=teacher)
        info = {"teacher": {"arch": t_arch, "knobs": t_knobs, "params": teacher_params,
                            "float_accuracy": round(float_accuracy(teacher, parts.val), 4)},
                "temperature": 4.0, "alpha_kd": 0.5}
        if (family, "student_alone") not in have:
            record(family, "student_alone", s_arch, s_knobs, CompressOptions(), alone, seconds=alone_s)
        if (family, "student_distilled") not in have:
            record(family, "student_distilled", s_arch, s_knobs, CompressOptions(), distilled, seconds=distilled_s,
                   **info)
    print(json.dumps({"recipe": recipe, "rows": [{k: v for k, v in r.items() if k != "stages"} for r in rows]},
                     indent=1))


if __name__ == "__main__":
    main()
