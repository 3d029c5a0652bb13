"""Full-integer int8 post-training quantization with a representative set from the training split.

Input is int8 with scale 1 and zero point -128, so a raw pixel p is fed as p - 128: no float on the device.
The calibration set is pinned to contain pixel values 0 and 255, which fixes that input quantization.
"""

import warnings

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.stderr import captured_stderr
from tinyml_kit.core.tflite_info import read_model

CALIBRATION_IMAGES = 200


def calibration_images(x: np.ndarray, n: int = CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """Up to `n` training images, one pixel of the first set to 0 and one to 255 to pin the input range."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(n, len(x)), replace=False)
    images = x[np.sort(idx)].astype(np.float32)
    images[0, 0, 0, :] = 0.0
    images[0, -1, -1, :] = 255.0
    return images


def quantize_int8(model, images: np.ndarray) -> bytes:
    """Convert a Keras model taking pixels 0..255 to an int8-in, int8-out .tflite flatbuffer."""
    from tinyml_kit._tf import tf

    t = tf()
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [t.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = t.int8
    converter.inference_output_type = t.int8

    def representative():
        for image in images:
            yield [image[None]]

    converter.representative_dataset = representative
    try:
        with warnings.catch_warnings(), captured_stderr():
            warnings.simplefilter("ignore")
            flatbuffer = converter.convert()
    except Exception as e:
        lines = [ln for ln in str(e).splitlines() if "op" in ln.lower() or "error" in ln.lower()]
        raise UserError(f"int8 conversion failed: {(lines or [str(e)])[0].strip()[:300]}") from None
    return _pixel_input(flatbuffer)


def quantize_flatbuffer_int8(flatbuffer: bytes, images: np.ndarray, name: str = "the model") -> bytes:
    """A float .tflite taking pixels 0..255, int8-quantized as `quantize_int8` quantizes a Keras model: calibrated
    on `images`, int8 in and out, no float op left (one that cannot be quantized is refused by name). TFLite's
    converter takes no .tflite, so its calibrator, the post-training step of that converter, is called directly."""
    from tinyml_kit._tf import tf

    t = tf()
    from tensorflow.lite.python.optimize.calibrator import Calibrator

    try:
        with warnings.catch_warnings(), captured_stderr():
            warnings.simplefilter("ignore")
            calibrator = Calibrator(flatbuffer)
            quantized = calibrator.calibrate_and_quantize(lambda: ([image[None]] for image in images), t.int8, t.int8,
                                                          False)
    except Exception as e:
        raise UserError(f"int8 quantization of {name} failed: {str(e).strip().splitlines()[0][:300]}") from None
    return _pixel_input(bytes(quantized))


def _pixel_input(flatbuffer: bytes) -> bytes:
    """Calibrated with pixels 0 and 255 in the set, the input is scale 1 and zero point -128."""
    inp = read_model(flatbuffer).inputs[0]
    if inp.scale != 1.0 or inp.zero_point != -128:
        raise RuntimeError(f"input quantization is scale {inp.scale}, zero point {inp.zero_point}; "
                           f"expected 1.0 / -128")
    return flatbuffer
