"""An .onnx model for `deploy` (`pipeline.foreign` makes it a `Foreign`): read and checked for ops the importer
maps before TensorFlow loads, rebuilt as a tf_keras model on NHWC images (`nets.onnx_import`), and that model
checked against onnxruntime on the validation images (NCHW, scaled as the ONNX model takes them) before it is
quantized: a conversion agreeing on fewer than `MIN_AGREEMENT` of the top-1 classes is refused.

The pixel range an ONNX model takes cannot be read from it: PyTorch models usually take [0, 1] (`ToTensor`),
`--pixels 0-1`, for which a Rescaling(1/255) goes in front. A mean / std normalization is part of the user's
model: export it inside the model (a Sub and a Div by per-channel constants are imported)."""

import logging

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.record_sections import ConversionCheck
from tinyml_kit.nets.onnx_graph import INSTALL, OnnxGraph, read_graph

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99        # top-1 agreement between the imported model and onnxruntime, on the validation split
BATCH = 64


def open_graph(path, pixels: str | None) -> tuple[OnnxGraph, str]:
    """The checked graph, and how its pixel range is known (`pixels` is required)."""
    graph = read_graph(path)
    if pixels is None:
        raise UserError(f"{path} is an ONNX model, whose pixel range cannot be read from it: pass "
                        f"{param('pixels', '0-1')} if it takes pixels scaled to [0, 1] (PyTorch's ToTensor), or "
                        f"{param('pixels', '0-255')} if it takes them as they are; a mean / std normalization must "
                        f"be inside the model", "pixels")
    how = ("taken as 0..1, as asked: a Rescaling(1/255) is put in front" if pixels == "0-1"
           else "taken as 0..255, as asked")
    return graph, how


def build(graph: OnnxGraph, shape: tuple[int, int, int], pixels: str):
    """The tf_keras model on NHWC images of `shape`, taking pixels 0..255."""
    from tinyml_kit.nets.onnx_import import to_keras

    c = graph.input_chw[0]
    if shape[2] != c:
        raise UserError(f"{graph.name} takes {c}-channel images, not {shape[2]}", "input_shape")
    return to_keras(graph, shape, rescale=pixels == "0-1")


def compare(graph: OnnxGraph, model, images: np.ndarray, pixels: str) -> ConversionCheck:
    """The imported `model` (on pixels 0..255, NHWC) against onnxruntime running `graph` on the same `images`
    (NCHW, divided by 255 for a model taking [0, 1]); refused below `MIN_AGREEMENT`."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError(f"checking an .onnx model needs onnxruntime: {INSTALL}", "model") from None
    session = ort.InferenceSession(str(graph.path), providers=["CPUExecutionProvider"])
    x = images.astype(np.float32)
    nchw = np.ascontiguousarray((x / 255.0 if pixels == "0-1" else x).transpose(0, 3, 1, 2))
    fixed = session.get_inputs()[0].shape[0]   # a batch size the export fixed (usually 1), else a name
    step = fixed if isinstance(fixed, int) and 0 < fixed <= len(x) else BATCH
    if step != BATCH:
        x, nchw = x[:len(x) - len(x) % step], nchw[:len(nchw) - len(nchw) % step]
    expected = np.concatenate([session.run([graph.output_name], {graph.input_name: nchw[i:i + step]})[0]
                               for i in range(0, len(nchw), step)])
    got = model.predict(x, batch_size=BATCH, verbose=0)
    check = ConversionCheck.measured("onnx", f"onnxruntime {ort.__version__}", expected, got, MIN_AGREEMENT)
    agreement = check.top1_agreement
    logger.info(f"imported model vs {check.runtime} on {len(x)} validation images: top-1 agreement "
                f"{agreement:.4f}, largest output difference {check.max_abs_diff:.3g}")
    if not check.passed:
        raise UserError(f"{graph.name} imported gives another top-1 class than onnxruntime on "
                        f"{1 - agreement:.1%} of {len(x)} validation images (agreement {agreement:.1%} < "
                        f"{MIN_AGREEMENT:.0%}, largest output difference {check.max_abs_diff:.3g}): check "
                        f"{param('pixels')} and the channel order, or pass the model as a .keras or .tflite", "model")
    return check
