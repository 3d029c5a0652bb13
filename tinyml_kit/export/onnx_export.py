"""The float Keras model as ONNX (tf2onnx), and ONNX Runtime to check it against Keras.

ONNX is for the float model only: the int8 deployment path is the .tflite. Users export ONNX to run the same
classifier on a gateway or in another toolchain, so `validate` checks it gives Keras's outputs.
"""

import logging
import warnings
from pathlib import Path

import numpy as np

from tinyml_kit.core.artifacts import staged_output
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.stderr import captured_stderr
from tinyml_kit.core.text import require_identifier
from tinyml_kit.nets import load_keras_model

logger = logging.getLogger(__name__)

OPSET = 17


def keras_to_onnx(model) -> bytes:
    """Serialized ONNX of a tf_keras model taking pixels 0..255, with a dynamic batch dimension."""
    from tinyml_kit._tf import tf

    t = tf()
    import tf2onnx

    spec = (t.TensorSpec((None, *model.input_shape[1:]), t.float32, name="pixels"),)
    try:
        with warnings.catch_warnings(), captured_stderr():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    except Exception as e:
        raise UserError(f"ONNX conversion failed: {str(e).strip().splitlines()[0][:300]}") from None
    return proto.SerializeToString()


class OnnxModel:
    """An ONNX Runtime session on the CPU over one single-input model."""

    def __init__(self, model: bytes):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        x = x.astype(np.float32)
        return np.concatenate([self._session.run(None, {self._input: x[i:i + batch_size]})[0]
                               for i in range(0, len(x), batch_size)])


def export_onnx(model: str | Path, out: Path, name: str = "model") -> Path:
    """Write `<out>/<name>.onnx` from a run directory's model.keras (or a .keras file); `name` must be a C
    identifier, as for the other formats, so the file cannot land outside `out`."""
    require_identifier(name)
    model = Path(model)
    keras_path = model / "model.keras" if model.is_dir() else model
    if keras_path.suffix != ".keras" or not keras_path.is_file():
        raise UserError(f"ONNX export needs the float Keras model: pass a run directory with model.keras or a "
                        f".keras file, not {model}")
    data = keras_to_onnx(load_keras_model(keras_path))
    with staged_output(out, allow_existing=True) as tmp:
        (tmp / f"{name}.onnx").write_bytes(data)
    logger.info(f"{keras_path}: ONNX opset {OPSET}, {len(data):,} bytes (float32; input 'pixels', values 0..255)")
    return Path(out).absolute() / f"{name}.onnx"
