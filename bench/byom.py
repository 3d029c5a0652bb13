"""Bring your own model: five models tinyml-kit did not build, made here (no downloads) and trained briefly on the
training split `deploy` uses, then deployed with `tinyml_kit.pipeline.deploy.deploy` on a board they fit:

1. a Keras `applications` MobileNetV2 (alpha 0.35, weights=None) at 32x32, as a .keras file;
2. a Keras functional CNN with MaxPool, AveragePool, Concatenate, Dropout and Dense, as a .keras file;
3. the same CNN saved as a SavedModel;
4. a PyTorch-style ONNX graph (NCHW, Conv, BatchNormalization, Relu, MaxPool, Flatten, Gemm) written with
   `onnx.helper`, its weights those of an equivalent Keras model trained here (kernels transposed to OIHW, the
   Gemm's rows permuted from Keras' HWC flattening to ONNX's CHW), taking pixels in [0, 1] as after `ToTensor`;
5. the CNN quantized to an int8 .tflite by TFLite's converter called directly, with its own representative set.

Per model: the float accuracy computed here on deploy's validation split by the format's own runtime (Keras,
the SavedModel's serving signature, onnxruntime, TFLite float), the int8 accuracy, flash, arena and estimated
latency from the run's record, the fit verdict, LiteRT vs TFLM and LiteRT vs the C engine from the run's checks
(why, when a check did not run; where, when LiteRT and TFLM differ: `check.op_difference`), the ONNX
conversion check, and `deploy --verify`: the firmware run under QEMU on the board's core against LiteRT's
reference kernels. PASS/MISS per target at the end.

    TINYML_TFLM_DIR=... PYTHONPATH=. .venv/bin/python bench/byom.py [--data ../shared/datasets/cifar10-5k.npz]
        [--only mobilenetv2,cnn_keras,...] [--epochs N] [--limit N] [--no-verify] [--resume] [--keep DIR]

`--epochs` replaces every model's own epochs and `--limit` takes that many images of the data (a smoke run);
`--resume` keeps the rows already in the JSON made with the same data, limit and epochs.
Writes bench/results/byom.json.
"""

import argparse
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.pipeline.deploy import deploy
from tinyml_kit.pipeline.fit import load_data

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr

RESULT = Path(__file__).parent / "results" / "byom.json"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-5k.npz"
SHAPE = (32, 32, 3)
SEED = 0
BATCH = 64
REPRESENTATIVE_SEED = 2026   # model 5's own calibration images
MAX_POINTS = 1.0          # int8 accuracy within this many points of the float model's


@dataclass
class Made:
    """A model file as a user brings it, with its float accuracy measured by its own format's runtime."""
    path: Path
    format: str
    pixels: str | None              # what `deploy` is told (None: the model's first layer says it)
    float_accuracy: float
    float_runtime: str
    recipe: str                     # how it was made and trained


@dataclass(frozen=True)
class Maker:
    name: str
    board: str
    epochs: int
    make: Callable[["Context", int], Made]


@dataclass
class Context:
    """The training and validation splits deploy makes from the data, a folder for the files, and the CNN of
    models 2, 3 and 5 (trained once)."""
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    folder: Path
    cnn: object = None


def keras():
    from tinyml_kit._tf import keras as k

    return k()


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(scores).argmax(1) == labels))


def train(model, ctx: Context, epochs: int, logits: bool = False) -> None:
    k = keras()
    model.compile(k.optimizers.Adam(1e-3), k.losses.SparseCategoricalCrossentropy(from_logits=logits),
                  metrics=["accuracy"])
    model.fit(ctx.train_x.astype(np.float32), ctx.train_y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=2)


def make_mobilenetv2(ctx: Context, epochs: int) -> Made:
    """`keras.applications.MobileNetV2` on a Rescaling to [-1, 1] (what its `preprocess_input` does), built on the
    Rescaling's output tensor so the model is one flat graph. Its BatchNormalization momentum (0.999) is set to
    0.99 so the moving statistics follow a few epochs of training."""
    k = keras()
    k.utils.set_random_seed(SEED)
    pixels = k.Input(SHAPE, name="pixels")
    scaled = k.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(pixels)
    model = k.applications.MobileNetV2(input_tensor=scaled, alpha=0.35, weights=None, classes=10)
    for layer in model.layers:
        if isinstance(layer, k.layers.BatchNormalization):
            layer.momentum = 0.99
    train(model, ctx, epochs)
    path = ctx.folder / "mobilenetv2.keras"
    model.save(path)
    return Made(path, "keras", None, accuracy(model.predict(ctx.val_x.astype(np.float32), verbose=0), ctx.val_y),
                "Keras predict", f"keras.applications.MobileNetV2(alpha=0.35, weights=None, classes=10) at 32x32, "
                f"BatchNormalization momentum 0.99, Adam 1e-3, {epochs} epochs")


def functional_cnn(ctx: Context, epochs: int):
    """The user's CNN (models 2, 3 and 5), trained once."""
    if ctx.cnn is not None:
        return ctx.cnn
    k = keras()
    k.utils.set_random_seed(SEED)
    inputs = k.Input(SHAPE, name="pixels")
    x = k.layers.Rescaling(1 / 255, name="scale")(inputs)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = k.layers.Concatenate(name="concat")([k.layers.MaxPooling2D(name="max_pool1")(x),
                                             k.layers.AveragePooling2D(name="avg_pool1")(x)])
    x = k.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = k.layers.MaxPooling2D(name="max_pool2")(x)
    x = k.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = k.layers.AveragePooling2D(name="avg_pool3")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dropout(0.3, name="dropout1")(x)
    x = k.layers.Dense(64, activation="relu", name="fc1")(x)
    x = k.layers.Dropout(0.3, name="dropout2")(x)
    outputs = k.layers.Dense(10, activation="softmax", name="classes")(x)
    ctx.cnn = k.Model(inputs, outputs, name="user_cnn")
    train(ctx.cnn, ctx, epochs)
    return ctx.cnn


CNN_RECIPE = ("functional CNN: Rescaling, conv 16, [MaxPool | AveragePool] concatenated, conv 32, MaxPool, conv 64, "
              "AveragePool, Flatten, Dropout, Dense 64, Dropout, Dense 10 softmax; Adam 1e-3, {} epochs")


def make_cnn_keras(ctx: Context, epochs: int) -> Made:
    model = functional_cnn(ctx, epochs)
    path = ctx.folder / "cnn.keras"
    model.save(path)
    return Made(path, "keras", None, accuracy(model.predict(ctx.val_x.astype(np.float32), verbose=0), ctx.val_y),
                "Keras predict", CNN_RECIPE.format(epochs))


def make_cnn_savedmodel(ctx: Context, epochs: int) -> Made:
    """The CNN saved as a SavedModel; its float accuracy from the directory's own serving signature."""
    from tinyml_kit._tf import tf

    model = functional_cnn(ctx, epochs)
    path = ctx.folder / "cnn_savedmodel"
    model.save(path, save_format="tf")
    serve = tf().saved_model.load(str(path)).signatures["serving_default"]
    x = ctx.val_x.astype(np.float32)
    scores = np.concatenate([next(iter(serve(tf().constant(x[i:i + 256])).values())).numpy()
                             for i in range(0, len(x), 256)])
    return Made(path, "savedmodel", None, accuracy(scores, ctx.val_y), "SavedModel serving_default signature",
                CNN_RECIPE.format(epochs) + "; model.save(dir, save_format='tf')")


def make_int8_tflite(ctx: Context, epochs: int) -> Made:
    """The CNN through TFLite's converter as its documentation shows full-integer quantization (int8 in and out),
    its representative set 100 training images of its own (pixels 0..255, which the model's Rescaling takes; not
    the 200 `deploy` calibrates on, which would give the same file as `cnn_keras`); the float accuracy is the
    float .tflite's (the same converter without optimizations)."""
    from tinyml_kit._tf import tf

    t, model = tf(), functional_cnn(ctx, epochs)
    rng = np.random.default_rng(REPRESENTATIVE_SEED)
    chosen = ctx.train_x[rng.choice(len(ctx.train_x), min(100, len(ctx.train_x)), replace=False)]
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [t.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = t.int8
    converter.representative_dataset = lambda: ([image[None].astype(np.float32)] for image in chosen)
    path = ctx.folder / "cnn_int8.tflite"
    path.write_bytes(converter.convert())
    float_model = t.lite.TFLiteConverter.from_keras_model(model).convert()
    return Made(path, "tflite int8", None, accuracy(tflite_scores(float_model, ctx.val_x), ctx.val_y),
                "TFLite float (the same converter, no optimizations)",
                CNN_RECIPE.format(epochs) + "; tf.lite.TFLiteConverter full-integer int8, 100 representative "
                f"training images (seed {REPRESENTATIVE_SEED})")


def tflite_scores(flatbuffer: bytes, images: np.ndarray) -> np.ndarray:
    from tinyml_kit._tf import tf

    interpreter = tf().lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scores = []
    for image in images.astype(np.float32):
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        scores.append(interpreter.get_tensor(out["index"])[0])
    return np.array(scores)


ONNX_CHANNELS = (16, 32, 64)


def make_onnx(ctx: Context, epochs: int) -> Made:
    """A PyTorch-style CNN as ONNX (what `torch.onnx.export` writes for conv-BN-ReLU-maxpool blocks, Flatten and
    Linear, taking `ToTensor`'s [0, 1] images as NCHW); its weights are trained here as the equivalent Keras
    model and moved over (`onnx_graph`). Float accuracy from onnxruntime."""
    import onnxruntime as ort

    twin = keras_twin(ctx, epochs)
    path = ctx.folder / "cnn_pytorch_style.onnx"
    onnx_graph(twin, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    nchw = (ctx.val_x.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
    scores = np.concatenate([session.run(None, {"image": nchw[i:i + 256]})[0] for i in range(0, len(nchw), 256)])
    return Made(path, "onnx", "0-1", accuracy(scores, ctx.val_y), f"onnxruntime {ort.__version__}",
                f"onnx.helper graph: 3 x (Conv 3x3 no bias, BatchNormalization, Relu, MaxPool 2x2) with "
                f"{'/'.join(map(str, ONNX_CHANNELS))} channels, Flatten, Gemm 10 (logits); weights from the "
                f"equivalent tf_keras model trained here ({epochs} epochs, Adam 1e-3), kernels HWIO -> OIHW, the "
                f"Gemm's rows from HWC to CHW order")


def keras_twin(ctx: Context, epochs: int):
    """The Keras model whose weights the ONNX graph takes (its layers in the same order)."""
    k = keras()
    k.utils.set_random_seed(SEED)
    inputs = k.Input(SHAPE)
    x = k.layers.Rescaling(1 / 255)(inputs)   # training on pixels 0..255; the ONNX graph takes x / 255
    for c in ONNX_CHANNELS:
        x = k.layers.Conv2D(c, 3, padding="same", use_bias=False)(x)
        x = k.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        x = k.layers.ReLU()(x)
        x = k.layers.MaxPooling2D()(x)
    outputs = k.layers.Dense(10)(k.layers.Flatten()(x))
    model = k.Model(inputs, outputs)
    train(model, ctx, epochs, logits=True)
    return model


def onnx_graph(twin, path: Path) -> None:
    """Write `twin`'s weights as an NCHW ONNX graph (opset 13) taking "image" (N, 3, 32, 32), giving "logits"."""
    from onnx import TensorProto, checker, helper, numpy_helper, save

    k = keras()
    nodes, weights, x = [], {}, "image"
    convs = [layer for layer in twin.layers if isinstance(layer, k.layers.Conv2D)]
    norms = [layer for layer in twin.layers if isinstance(layer, k.layers.BatchNormalization)]
    for i, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
        weights[f"conv{i}.weight"] = conv.get_weights()[0].transpose(3, 2, 0, 1)   # HWIO -> OIHW
        gamma, beta, mean, var = norm.get_weights()
        weights |= {f"bn{i}.weight": gamma, f"bn{i}.bias": beta, f"bn{i}.running_mean": mean,
                    f"bn{i}.running_var": var}
        nodes += [helper.make_node("Conv", [x, f"conv{i}.weight"], [f"conv{i}"], name=f"Conv_{i}",
                                   kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"conv{i}", *(f"bn{i}.{n}" for n in (
                      "weight", "bias", "running_mean", "running_var"))], [f"bn{i}"], name=f"BatchNorm_{i}",
                      epsilon=norm.epsilon),
                  helper.make_node("Relu", [f"bn{i}"], [f"relu{i}"], name=f"Relu_{i}"),
                  helper.make_node("MaxPool", [f"relu{i}"], [f"pool{i}"], name=f"MaxPool_{i}", kernel_shape=[2, 2],
                                   strides=[2, 2])]
        x = f"pool{i}"
    kernel, bias = twin.layers[-1].get_weights()                     # (H*W*C, 10) in Keras' HWC order
    side = SHAPE[0] // 2 ** len(ONNX_CHANNELS)
    chw = kernel.reshape(side, side, ONNX_CHANNELS[-1], -1).transpose(2, 0, 1, 3).reshape(kernel.shape)
    weights |= {"fc.weight": chw.T, "fc.bias": bias}                 # PyTorch's Linear: (out, in), transB=1
    nodes += [helper.make_node("Flatten", [x], ["flat"], name="Flatten_0", axis=1),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="Gemm_0", transB=1)]
    graph = helper.make_graph(
        nodes, "torch_jit", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, *SHAPE[:2]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(np.ascontiguousarray(w, np.float32), name) for name, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="pytorch")
    checker.check_model(model)
    save(model, str(path))


MAKERS = (
    Maker("mobilenetv2", "nucleo-h743zi2", 30, make_mobilenetv2),
    Maker("cnn_keras", "nucleo-f746zg", 12, make_cnn_keras),
    Maker("cnn_savedmodel", "nucleo-f746zg", 12, make_cnn_savedmodel),
    Maker("onnx_pytorch_style", "nucleo-f746zg", 12, make_onnx),
    Maker("tflite_int8_external", "nucleo-f746zg", 12, make_int8_tflite),
)


def row(maker: Maker, made: Made, record, train_s: float, deploy_s: float) -> dict:
    """The numbers the targets are judged by, from the run's record."""
    check, validation = record.check, record.check.validation
    int8 = record.int8_accuracy
    difference = None if int8 is None else round(100 * (int8 - made.float_accuracy), 2)
    op = validation.litert_tflm_op
    host = check.host
    c_engine = ({"ran": True, "equal": host.equals_litert, "max_abs_diff": host.litert_max_abs_diff,
                 "images": host.images} if host is not None else
                {"ran": False, "equal": None, "why": f"the run's engine is {record.engine}: the C engine's host "
                                                     f"check runs on a C-engine run only"})
    verdict = record.verdict
    return {
        "model": maker.name, "format": made.format, "file": made.path.name, "recipe": made.recipe,
        "pixels": made.pixels or "from the model's first layer", "board": record.board.id, "engine": record.engine,
        "float_accuracy": round(made.float_accuracy, 4), "float_runtime": made.float_runtime,
        "deploy_float_accuracy": record.float_accuracy, "int8_accuracy": int8, "difference_points": difference,
        "params": record.params, "macs": record.macs, "flash_bytes": record.flash_bytes,
        "flash_budget_bytes": record.budget.flash_bytes, "arena_bytes": record.arena_bytes,
        "arena_alloc_bytes": record.arena_alloc_bytes, "arena_budget_bytes": record.budget.arena_bytes,
        "latency_ms_est": record.latency_ms_est, "latency_budget_ms": record.budget.latency_ms,
        "fits": verdict.to_dict(), "fits_all": verdict.ok, "ops": sorted(set(check.ops)),
        "litert_vs_tflm": {"images": validation.images, "equal": validation.litert_equals_tflm,
                           "max_abs_diff": validation.litert_tflm_max_abs_diff, **pair(validation, "tflm", "litert"),
                           **({"op_difference": {**vars(op), "line": op.line()}} if op else {})},
        "litert_vs_c_engine": c_engine,
        "conversion": record.conversion.to_dict() if record.conversion else None, "qemu": qemu(record.verify),
        "int8_sha256": hashlib.sha256((Path(record.run_dir) / "model.tflite").read_bytes()).hexdigest()[:16],
        "train_s": round(train_s, 1), "deploy_s": round(deploy_s, 1),
    }


def qemu(verified) -> dict:
    """`deploy --verify`: the firmware on the board's emulated core against LiteRT's reference kernels."""
    if verified is None:
        return {"ran": False, "why": "--no-verify"}
    return {"ran": True, "engine": verified.engine, "core": verified.core_title, "images": verified.images,
            "bit_exact": verified.bit_exact, "max_abs_diff": verified.max_abs_diff,
            "elf_flash_bytes": verified.elf_flash_bytes, "elf_ram_bytes": verified.elf_ram_bytes,
            "fits": verified.fits, "latency_ms": verified.cycles.latency_ms if verified.cycles else None}


def pair(validation, a: str, b: str) -> dict:
    """The top-1 agreement of two runtimes on the validation split, and the accuracy of each."""
    found = next(p for p in validation.pairs if (p["a"], p["b"]) == (a, b))
    return {"top1_agreement": found["agreement"], f"{a}_accuracy": found["accuracy_a"],
            f"{b}_accuracy": found["accuracy_b"]}


def targets(r: dict) -> dict[str, bool]:
    conversion = r["conversion"]
    verified = r["qemu"]
    return {"fits": r["fits_all"], **({"qemu bit-exact": verified["bit_exact"]} if verified["ran"] else {}),
            "litert==tflm": r["litert_vs_tflm"]["equal"] is True,
            "litert==c": r["litert_vs_c_engine"]["equal"] is True,
            f"|int8-float|<={MAX_POINTS:g}pt": r["difference_points"] is not None
            and abs(r["difference_points"]) <= MAX_POINTS,
            **({"onnx check": conversion["top1_agreement"] >= conversion["min_agreement"]} if conversion else {})}


def data_file(data: Path, limit: int | None, folder: Path) -> Path:
    """The data, or its first `limit` images in a random order (a smoke run) as an .npz beside the models."""
    if limit is None:
        return data
    with np.load(data) as f:
        keep = np.sort(np.random.default_rng(SEED).permutation(len(f["y"]))[:limit])
        small = folder / f"{data.stem}-{limit}.npz"
        np.savez(small, x=f["x"][keep], y=f["y"][keep])
    return small


def context(data: Path, folder: Path) -> Context:
    """deploy's own split (`pipeline.fit.load_data`, seed 0): the models never see a validation image."""
    _, parts, _ = load_data(str(data), SHAPE, SEED)
    return Context(parts.train.x, parts.train.y, parts.val.x, parts.val.y, folder)


def run_one(maker: Maker, ctx: Context, data: Path, epochs: int, out: Path, verify: bool) -> dict:
    start = time.perf_counter()
    made = maker.make(ctx, epochs)
    train_s = time.perf_counter() - start
    logging.info(f"{maker.name}: {made.path.name}, float accuracy {made.float_accuracy:.4f} ({made.float_runtime})")
    start = time.perf_counter()
    try:
        record = deploy(made.path, maker.board, str(data), out=out / maker.name, pixels=made.pixels, seed=SEED,
                        verify=verify)
    except Exception as e:   # a bug the bench found: kept in the JSON with the model's name
        logging.exception(f"{maker.name}: deploy failed")
        return {"model": maker.name, "format": made.format, "board": maker.board, "recipe": made.recipe,
                "float_accuracy": round(made.float_accuracy, 4), "failed": f"{type(e).__name__}: {e}"}
    found = row(maker, made, record, train_s, time.perf_counter() - start)
    return found | {"targets": targets(found)}


def print_table(rows: list[dict]) -> None:
    print(f"\n{'model':21} {'format':11} {'board':15} {'eng':4} {'float':>6} {'int8':>6} {'diff':>6} "
          f"{'flash B':>9} {'arena B':>8} {'ms':>6} {'fits':4} {'LiteRT=TFLM':11} {'LiteRT=C':9} {'QEMU=LiteRT':11} "
          f"onnx check")
    for r in rows:
        if "failed" in r:
            print(f"{r['model']:21} {r['format']:11} {r['board']:15} FAILED: {r['failed'][:100]}")
            continue
        c, conv, tflm = r["litert_vs_c_engine"], r["conversion"], r["litert_vs_tflm"]
        print(f"{r['model']:21} {r['format']:11} {r['board']:15} {r['engine']:4} {r['float_accuracy']:6.4f} "
              f"{r['int8_accuracy']:6.4f} {r['difference_points']:+6.2f} {r['flash_bytes']:9,} "
              f"{r['arena_alloc_bytes']:8,} {r['latency_ms_est']:6.2f} {'yes' if r['fits_all'] else 'NO':4} "
              f"{_equal(tflm):11} {_equal(c) if c['ran'] else 'not run':9} {_on_core(r['qemu']):11} "
              + (f"agreement {conv['top1_agreement']:.4f}, max diff {conv['max_abs_diff']:.2g}" if conv else "-"))
        if "op_difference" in tflm:
            print(f"{'':21} LiteRT vs TFLM: {tflm['op_difference']['line']}")
    print()
    for r in rows:
        met = targets(r) if "failed" not in r else {"deploy": False}
        words = ", ".join(f"{name} {'PASS' if ok else 'MISS'}" for name, ok in met.items())
        op = r.get("litert_vs_tflm", {}).get("op_difference")
        if op:
            words += (f" ({'explained: known' if op['reason'] else 'NOT explained:'} {op['op']} rounding difference, "
                      f"{op['outputs_differing']} of {op['outputs']} outputs, top-1 agreement "
                      f"{r['litert_vs_tflm']['top1_agreement']:.4f})")
        print(f"{'PASS' if all(met.values()) else 'MISS'} {r['model']}: {words}")
    print()
    names = dict.fromkeys(name for r in rows if "targets" in r for name in r["targets"])
    failed = sum("targets" not in r for r in rows)   # deploy failed: every target missed
    for name in names:
        judged = [r["targets"][name] for r in rows if name in r.get("targets", {})]
        print(f"{'PASS' if all(judged) and not failed else 'MISS'} {name}: {sum(judged)} of {len(judged) + failed} "
              f"models")


def _on_core(verified: dict) -> str:
    if not verified["ran"]:
        return "not run"
    return f"{'yes' if verified['bit_exact'] else 'NO'} ({verified['images']})"


def _equal(check: dict) -> str:
    return "yes" if check["equal"] else f"NO (max {check['max_abs_diff']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", help="comma-separated model names: " + ",".join(m.name for m in MAKERS))
    parser.add_argument("--epochs", type=int, help="every model's training epochs (default: each model's own)")
    parser.add_argument("--limit", type=int, help="use this many images of the data (a smoke run)")
    parser.add_argument("--resume", action="store_true", help="keep rows already in the JSON for the same settings")
    parser.add_argument("--no-verify", action="store_true", help="skip `deploy --verify` (QEMU, the board's core)")
    parser.add_argument("--keep", type=Path, help="keep the model files and run directories here")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {m.name for m in MAKERS}
    head = {"data": args.data.name, "limit": args.limit, "epochs": args.epochs, "seed": SEED,
            "verify": not args.no_verify}
    kept = json.loads(RESULT.read_text()) if args.resume and RESULT.is_file() else {}
    rows = [r for r in kept.get("models", []) if "failed" not in r] if kept.get("settings") == head else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data = data_file(args.data, args.limit, folder)
        ctx = context(data, folder)
        for maker in MAKERS:
            if maker.name not in only or any(r["model"] == maker.name for r in rows):
                continue
            rows.append(run_one(maker, ctx, data, args.epochs or maker.epochs, folder / "runs",
                                not args.no_verify))
            rows.sort(key=lambda r: [m.name for m in MAKERS].index(r["model"]))
            RESULT.write_text(json.dumps({"settings": head, "train_images": len(ctx.train_y),
                                          "validation_images": len(ctx.val_y), "models": rows}, indent=1) + "\n")
    print_table(rows)


if __name__ == "__main__":
    main()
