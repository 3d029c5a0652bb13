"""What a model converted on the way in (an .onnx imported as a Keras model, a torch.export .pt2 converted to a
float .tflite) is held to before it is quantized: the pixel range it cannot state, given by `--pixels`, and its
float outputs checked against its own runtime on the validation images (see `pipeline.foreign` for how tinyml-kit
feeds pixels)."""

import logging
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.record_sections import ConversionCheck

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99        # top-1 agreement between the converted model and the source's runtime, validation split
BATCH = 64


def asked_pixels(path: Path, pixels: str | None, what: str, in_front: str) -> str:
    """How the pixel range of a model that cannot state it (an ONNX model, a torch.export program) is known:
    `pixels` is required; a model taking [0, 1] gets `in_front` put in front."""
    if pixels is None:
        raise UserError(f"{path} is {what}, whose pixel range cannot be read from it: pass "
                        f"{param('pixels', '0-1')} if it takes pixels scaled to [0, 1] (PyTorch's ToTensor), or "
                        f"{param('pixels', '0-255')} if it takes them as they are; a mean / std normalization must "
                        f"be inside the model", "pixels")
    return f"taken as 0..1, as asked: {in_front} is put in front" if pixels == "0-1" else "taken as 0..255, as asked"


def source_images(images: np.ndarray, pixels: str) -> tuple[np.ndarray, np.ndarray]:
    """`images` (NHWC pixels 0..255) as float32 for the converted model, and NCHW as the source model takes them
    (divided by 255 for a model taking [0, 1])."""
    x = images.astype(np.float32)
    return x, np.ascontiguousarray((x / 255.0 if pixels == "0-1" else x).transpose(0, 3, 1, 2))


def checked(check: ConversionCheck, name: str, how: str, fix: str) -> ConversionCheck:
    """`check` logged, and refused below its agreement: `name` `how` (imported, converted) gives other classes than
    the source's runtime; `fix` says what to look at."""
    logger.info(f"{how} model vs {check.runtime} on {check.images} validation images: top-1 agreement "
                f"{check.top1_agreement:.4f}, largest output difference {check.max_abs_diff:.3g}")
    if not check.agrees:
        raise UserError(f"{name} {how} gives another top-1 class than {check.runtime} on "
                        f"{1 - check.top1_agreement:.1%} of {check.images} validation images (agreement "
                        f"{check.top1_agreement:.1%} < {check.min_agreement:.0%}, largest output difference "
                        f"{check.max_abs_diff:.3g}): {fix}", "model")
    return check
