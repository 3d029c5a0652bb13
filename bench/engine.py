"""Benchmark the C engine against TFLM + CMSIS-NN and against itself before issue 31, side by side in one run: the
same int8 .tflite files, the same int8 images, the same QEMU harness, on the emulated Cortex-M4F, M7, M33 (and M55
where an engine runs there; a refusal is recorded as not run).

Three configurations per model and core: (tflm) TFLM + CMSIS-NN of this tree, (c_before) the C engine of an older
checkout (--baseline-tree DIR, e.g. `git worktree add DIR 8f73fd9`: its code generator compiles the same .tflite
in a subprocess with PYTHONPATH=DIR), (c) the C engine of this tree. Each configuration runs bench/engine_run.py
in its own process. Per configuration: bit-exactness and max |diff| with LiteRT's reference kernels on N cifar10-5k
images (quantized to the model's input), instructions per inference, estimated cycles and ms at the board's clock,
ELF flash and RAM, the arena (the C engine: its static plan; TFLM: arena_used_bytes() on the device); the ratios
(c)/(c_before) and (c)/(tflm); then issue 31's targets, PASS / MISS with the value measured (engine_targets.py).
Prints a table and writes bench/results/engine.json (--out) after every configuration, so a partial run keeps what
it did; --resume skips (model, core, configuration) cells already there for the same .tflite bytes, image count
and commit of the tree measured (`git describe --dirty`: uncommitted edits are not told apart); a failure is run
again.

    .venv/bin/python bench/engine.py --baseline-tree DIR [--images 100] [--models resnet8,tinynet_small]
        [--cores m4,m7,m33,m55] [--models-dir DIR] [--tflite NAME=PATH ...] [--resume]

--models-dir DIR reads NAME.tflite from DIR (building and saving it there when absent) instead of building every
model with TensorFlow on each run. --tflite adds a .tflite made elsewhere, e.g. a QAT or structured-pruned PhiNet
from `tinyml-kit compress` (name it phinet_... to hold it to the PhiNet target).

The models are the five builders at a small and a medium size on 32x32x3, 10 classes, random weights with
trained-looking batch-norm statistics and biases, per-channel int8 quantization calibrated on cifar pixels (what the
engine is judged on is arithmetic and bytes, not accuracy).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from engine_targets import CONFIGS, cell_line, not_run_lines, ratios, table_header, target_lines, targets

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
RESULT = HERE / "results" / "engine.json"
SHARED = TREE.parent / "shared"
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
# One board per core, each with flash timing data so cycles can be estimated. The M4 is MLPerf Tiny's reference
# board, where STM32Cube.AI's published ResNet-8 is 19.8 M cycles (165.1 ms at 120 MHz).
BOARDS = {"m4": "nucleo-l4r5zi", "m7": "nucleo-h743zi2", "m33": "nucleo-u575zi-q", "m55": "stm32n6570-dk"}
DESCRIPTIONS = {"tflm": "TFLM + CMSIS-NN (this tree)", "c_before": "the C engine before issue 31 (--baseline-tree)",
                "c": "the C engine (this tree)"}


def int8_model(arch: str, knobs: dict, pixels: np.ndarray) -> bytes:
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    model = build(arch, (32, 32, 3), 10, **knobs)
    look_trained(model)   # batch-norm statistics and biases as training leaves them, so scales differ per layer
    return quantize_int8(model, calibration_images(pixels[:64]))


def model_files(args, pixels: np.ndarray, scratch: Path) -> dict[str, Path]:
    """Each model's .tflite on disk (every configuration reads the same file): from --models-dir, or built."""
    files = {}
    for name in filter(None, args.models.split(",")):
        if name not in MODELS:
            sys.exit(f"error: unknown model '{name}': choose from {', '.join(MODELS)} or add it with --tflite")
        path = Path(args.models_dir or scratch) / f"{name}.tflite"
        if not path.exists():
            print(f"building {name} ...", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(int8_model(*MODELS[name], pixels))
        files[name] = path
    for item in args.tflite:
        name, _, path = item.partition("=")
        if not name or not Path(path).is_file():
            sys.exit(f"error: --tflite {item}: give NAME=PATH to an existing .tflite")
        files[name] = Path(path)
    return files


def commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty", "--abbrev=12"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def run_config(config: str, model: Path, images: Path, core: str, args, scratch: Path) -> dict:
    """One configuration on one model and core, in a subprocess on the tree it measures."""
    tree = args.baseline_tree if config == "c_before" else TREE
    if tree is None:
        return {"not_run": "no --baseline-tree given"}
    engine, kernels = ("tflm", "cmsis_nn") if config == "tflm" else ("c", "-")
    out = scratch / f"{config}.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, str(HERE / "engine_run.py"), str(model), str(images), BOARDS[core], core,
                           engine, kernels, args.tflm_dir, str(out)], env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"failed": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(out.read_text())


def model_images(model: Path, pixels: np.ndarray, path: Path) -> Path:
    """The last N cifar10-5k images quantized to the model's int8 input (their gray level for a one-channel input),
    saved for every configuration."""
    from tinyml_kit.core.tflite_info import read_model

    tensor = read_model(model.read_bytes()).inputs[0]
    x = pixels.astype(np.float32)
    x = x.mean(axis=-1, keepdims=True) if tensor.shape[-1] == 1 else x
    if tuple(tensor.shape[1:]) != x.shape[1:]:
        sys.exit(f"error: {model} takes {tuple(tensor.shape[1:])} inputs, and the images are {pixels.shape[1:]}: "
                 f"give a model for 32x32 RGB or gray images")
    np.save(path, tensor.quantize(x))
    return path


def load_results(args) -> dict:
    """The results file to add to: the existing one if it was made with the same number of images, else new."""
    fresh = {"images": args.images, "images_from": f"the last {args.images} of cifar10-5k, quantized to each "
             "model's input", "boards": {}, "configurations": {}, "models": {}}
    if args.out.exists():
        old = json.loads(args.out.read_text())
        if old.get("images") == args.images and isinstance(old.get("models"), dict):
            return {**fresh, **old}
    return fresh


def save(results: dict, out: Path) -> None:
    results["targets"] = targets(results["models"], results["images"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")


def bench_model(name: str, path: Path, pixels: np.ndarray, results: dict, args, scratch: Path) -> None:
    """Every core and configuration of one model, each written to the results file as it completes."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    model = results["models"].get(name)
    if not model or model.get("sha256") != digest:   # other bytes than measured before: start the model over
        model = results["models"][name] = {"cores": {}}
    model.update(tflite=path.name, tflite_bytes=len(data), sha256=digest)   # no machine paths in results
    images = model_images(path, pixels[-args.images:], scratch / f"{name}.npy")
    for core in args.cores.split(","):
        cell = model["cores"].get(core, {})
        for config in CONFIGS:
            commit = results["configurations"][config]["commit"]
            if not (args.resume and cell.get(config, {}).get("commit") == commit and "failed" not in cell[config]):
                cell[config] = {**run_config(config, path, images, core, args, scratch), "commit": commit}
            cell = model["cores"][core] = {"board": BOARDS[core], **{c: cell[c] for c in CONFIGS if c in cell},
                                           "ratios": ratios(cell)}
            save(results, args.out)
        print(cell_line(name, core, cell), *not_run_lines(name, core, cell), sep="\n", flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--cores", default=",".join(BOARDS), help="Of " + ", ".join(BOARDS) + ".")
    parser.add_argument("--models-dir", help="Read NAME.tflite from here (built and saved here when absent).")
    parser.add_argument("--tflite", action="append", default=[], metavar="NAME=PATH",
                        help="Also compare this .tflite (32x32x3 input, 10 classes).")
    parser.add_argument("--baseline-tree", type=Path, help="A checkout of the C engine before issue 31.")
    parser.add_argument("--tflm-dir", default=os.environ.get("TINYML_TFLM_DIR",
                                                              str(SHARED / "third_party" / "tflm-qemu")))
    parser.add_argument("--resume", action="store_true", help="Skip cells already measured in the results file.")
    parser.add_argument("--out", type=Path, default=RESULT, help="The results file (default %(default)s).")
    args = parser.parse_args()
    unknown = set(args.cores.split(",")) - set(BOARDS)
    if unknown:
        sys.exit(f"error: unknown core {', '.join(sorted(unknown))}: choose from {', '.join(BOARDS)}")
    if args.baseline_tree and not (args.baseline_tree / "tinyml_kit").is_dir():
        sys.exit(f"error: --baseline-tree {args.baseline_tree} holds no tinyml_kit package: give a checkout")
    return args


def main() -> None:
    from tinyml_kit.core.boards import get_board

    args = parse_args()
    pixels = np.load(SHARED / "datasets" / "cifar10-5k.npz")["x"]   # the first 64 calibrate, the last N are run
    results = load_results(args)
    results["boards"].update({core: {"board": b, "clock_mhz": get_board(b).clock_mhz} for core, b in BOARDS.items()})
    trees = {"tflm": TREE, "c_before": args.baseline_tree, "c": TREE}
    results["configurations"] = {c: {"what": DESCRIPTIONS[c], "tree": trees[c].name if trees[c] else None,
                                     "commit": commit(trees[c]) if trees[c] else None} for c in CONFIGS}
    print(table_header(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        for name, path in model_files(args, pixels, Path(tmp)).items():
            bench_model(name, path, pixels, results, args, Path(tmp))
    save(results, args.out)
    print(f"\nall results in {args.out} (a = tflm, b = c_before, c; =LR: bit-exact with LiteRT):", table_header(),
          sep="\n")
    for name, model in results["models"].items():
        for core, cell in model["cores"].items():
            print(cell_line(name, core, cell))
    print("\ntargets (issue 31, Done when):", *target_lines(results["targets"]), sep="\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
