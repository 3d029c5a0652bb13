"""ONNX in: the importer (`nets.onnx_import`, in this environment) against onnx2tf run in an isolated environment
(it cannot join this one: onnx2tf 2.x needs Python >= 3.12, 1.29 pins TensorFlow 2.19 / numpy 1.26). Three
PyTorch-style graphs written with `onnx.helper`, random weights: the README's CNN (Conv, ReLU, MaxPool, Conv, ReLU,
Flatten over a 5x5x32 map, Gemm), a depthwise block with BatchNormalization, global average pooling, Flatten and a
MatMul with its bias Add, and a convolution with asymmetric pads flattened into a Gemm. For each path: seconds to
convert, the largest output difference to onnxruntime and top-1 agreement on 64 random [0, 1] images, and the int8
ops the C engine does not run.

    python3.12 -m venv /tmp/o2tf-env && /tmp/o2tf-env/bin/pip install onnx2tf      # ~100 s, 661 MB (2.6.9)
    ONNX2TF=/tmp/o2tf-env/bin/onnx2tf .venv/bin/python bench/onnx_paths.py
Writes bench/results/onnx_paths.json (without ONNX2TF: the importer's rows only).
"""

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "onnx_paths.json"


def graphs(folder: Path) -> dict[str, Path]:
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)

    def write(name, nodes, weights, chw, classes):
        graph = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *chw])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])],
            [numpy_helper.from_array(rng.normal(0, 0.3, s).astype(np.float32) if isinstance(s, tuple)
                                     else np.asarray(s, np.float32), k) for k, s in weights.items()])
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / f"{name}.onnx"))
        return folder / f"{name}.onnx"

    n = helper.make_node
    cnn = write("readme_cnn", [
        n("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2]), n("Relu", ["c1"], ["r1"]),
        n("MaxPool", ["r1"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p", "w2", "b2"], ["c2"], kernel_shape=[3, 3]), n("Relu", ["c2"], ["r2"]),
        n("Flatten", ["r2"], ["f"]), n("Gemm", ["f", "fc", "fcb"], ["output"], transB=1)],
        {"w1": (16, 1, 3, 3), "b1": (16,), "w2": (32, 16, 3, 3), "b2": (32,), "fc": (10, 800), "fcb": (10,)},
        (1, 32, 32), 10)
    block = write("depthwise_block", [
        n("Conv", ["input", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn"]), n("Clip", ["bn", "lo", "hi"], ["r1"]),
        n("Conv", ["r1", "dw"], ["c2"], kernel_shape=[3, 3], group=16, strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Relu", ["c2"], ["r2"]), n("GlobalAveragePool", ["r2"], ["gap"]), n("Flatten", ["gap"], ["f"]),
        n("MatMul", ["f", "fc"], ["mm"]), n("Add", ["mm", "fcb"], ["output"])],
        {"w1": (16, 3, 3, 3), "g": np.ones(16), "b": (16,), "m": (16,), "v": np.ones(16), "lo": 0.0, "hi": 6.0,
         "dw": (16, 1, 3, 3), "fc": (16, 10), "fcb": (10,)}, (3, 32, 32), 10)
    asymmetric = write("asymmetric_pads", [
        n("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0]),
        n("Relu", ["c"], ["r"]), n("Flatten", ["r"], ["f"]), n("Gemm", ["f", "fc", "fcb"], ["output"], transB=1)],
        {"w": (3, 2, 3, 3), "fc": (5, 48), "fcb": (5,)}, (2, 8, 8), 5)
    return {"readme_cnn": cnn, "depthwise_block": block, "asymmetric_pads": asymmetric}


def measure(path: Path, folder: Path, onnx2tf: str | None) -> dict:
    import onnxruntime as ort

    from tinyml_kit.compress.quantize import quantize_flatbuffer_int8, quantize_int8
    from tinyml_kit.core.litert import LiteRtModel
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.nets.onnx_graph import read_graph
    from tinyml_kit.nets.onnx_import import to_keras
    from tinyml_kit.solve.engines import C

    c, h, w = ort.InferenceSession(str(path)).get_inputs()[0].shape[1:]
    x = np.random.default_rng(1).uniform(0, 1, (64, h, w, c)).astype(np.float32)
    reference = ort.InferenceSession(str(path)).run(None, {"input": x.transpose(0, 3, 1, 2)})[0]
    calibration = x[:32] * 255
    calibration[0, 0, 0, 0], calibration[0, 0, 1, 0] = 0, 255    # the input range pinned to pixels 0..255

    def row(seconds, outputs, int8_ops):
        return {"convert_s": round(seconds, 2), "max_abs_diff": float(np.abs(outputs - reference).max()),
                "top1_agreement": float((outputs.argmax(1) == reference.argmax(1)).mean()),
                "int8_ops_missing_on_c_engine": C.missing_ops(int8_ops)}

    started = time.perf_counter()
    model = to_keras(read_graph(path), (h, w, c))
    result = {"importer": row(time.perf_counter() - started, model.predict(x, verbose=0),
                              read_model(quantize_int8(to_keras(read_graph(path), (h, w, c), True),
                                                       calibration)).ops)}
    if onnx2tf:
        started = time.perf_counter()
        subprocess.run([onnx2tf, "-i", str(path), "-o", str(folder / path.stem)], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        flatbuffer = (folder / path.stem / f"{path.stem}_float32.tflite").read_bytes()
        int8 = quantize_flatbuffer_int8(flatbuffer, calibration)   # the ops, not the [0, 1] input's scale
        result["onnx2tf"] = row(seconds, LiteRtModel(flatbuffer).predict(x), read_model(int8).ops)
    return result


def main() -> None:
    onnx2tf = os.environ.get("ONNX2TF")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = {name: measure(path, folder, onnx2tf) for name, path in graphs(folder).items()}
    version = subprocess.run([onnx2tf, "-V"], capture_output=True, text=True).stdout.strip() if onnx2tf else None
    result = {"onnx2tf": version, "models": rows}
    print(json.dumps(result, indent=1))
    RESULT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
