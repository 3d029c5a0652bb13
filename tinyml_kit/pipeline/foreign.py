"""A model the user brings to `deploy`: a Keras file (.keras, .h5), a Keras SavedModel directory, a .tflite
(int8 or float), an .onnx (imported as a Keras model, `pipeline.foreign_onnx`) or a PyTorch `torch.export`
program, .pt2 (converted to a float .tflite by litert-torch, `pipeline.foreign_torch`), opened and checked before
any long work. A SavedModel without tf_keras' metadata (`tf.saved_model.save`, `model.export`) is converted from its
serving signature by TFLite's converter and taken as a float .tflite.

The pixel range is known, never guessed. tinyml-kit feeds a model raw pixels 0..255 (its builders scale them
inside, with a Rescaling layer, and the int8 input is scale 1, zero point -128, so the board feeds `p - 128`). A
Keras model whose first layer is a Rescaling takes pixels the same way; any other model needs `--pixels`: 0-255
(taken as it is) or 0-1 (a Rescaling(1/255) is put in front of a Keras model). An int8 .tflite must take pixels
0..255 as `p - 128`; a float .tflite must take 0..255 (`--pixels 0-255`); an .onnx and a .pt2 need `--pixels` (0-1
for PyTorch's ToTensor).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_kit.compress.quantize import quantize_flatbuffer_int8, quantize_int8
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.record_sections import ConversionCheck
from tinyml_kit.core.tflite_info import ModelInfo, read_graph, read_model

logger = logging.getLogger(__name__)

KERAS_SUFFIXES = (".keras", ".h5")
TFLITE_SUFFIX = ".tflite"
ONNX_SUFFIX = ".onnx"
TORCH_SUFFIX = ".pt2"
ACCEPTED = "a .keras or .h5 file, a Keras SavedModel directory, a .tflite, an .onnx or a .pt2 (torch.export)"
PIXEL_RANGES = ("0-255", "0-1")
RESCALING = "Rescaling"
KERAS_METADATA = "keras_metadata.pb"     # what tf_keras' model.save writes into a SavedModel


@dataclass
class Foreign:
    """The model as `deploy` takes it: a float Keras model taking pixels 0..255, or the user's .tflite."""
    path: Path
    kind: str                                   # "keras", "savedmodel", "tflite", "onnx", "pt2"
    input_shape: tuple                          # (H, W, C); None where the model leaves a size open
    classes: int
    keras_model: object | None = None
    flatbuffer: bytes | None = None
    pixels: str = ""                            # how the pixel range is known, for the log
    layers: list[str] = field(default_factory=list)   # the Keras model's layer names
    rescale: bool = False                       # a Keras model taking [0, 1]: a Rescaling(1/255) goes in front
    build: Callable | None = None               # a converted model: its Keras model on an input shape
    convert: Callable | None = None             # a converted model: its float .tflite on an input shape
    compare: Callable | None = None             # ... and that model checked against the source's runtime

    def sized(self, shape: tuple[int, int, int]) -> None:
        """Fix the input to `shape` (the model's own, with its open sizes filled in) and put the Rescaling in front
        if the model takes [0, 1]; a .tflite is fixed already; a converted model is built (or converted) on it."""
        if self.convert is not None:
            self.flatbuffer = self.convert(shape)
        elif self.build is not None:
            model = self.build(shape)
            self.keras_model, self.layers = model, [layer.name for layer in model.layers]
        elif self.keras_model is not None and (self.rescale or tuple(self.input_shape) != tuple(shape)):
            self.keras_model = with_input(self.keras_model, shape, self.rescale)
        self.input_shape = tuple(shape)

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def is_int8(self) -> bool:
        return self.flatbuffer is not None and read_model(self.flatbuffer).is_int8

    def checked_conversion(self, images: np.ndarray) -> ConversionCheck | None:
        """A converted model checked against its source's runtime on `images` (pixels 0..255); None if the model
        was not converted."""
        if self.compare is None:
            return None
        return self.compare(self.keras_model if self.keras_model is not None else self.flatbuffer, images)

    def int8(self, calibration: np.ndarray) -> bytes:
        """The int8 flatbuffer: post-training quantized on `calibration` (pixels 0..255), or the int8 .tflite as
        it is."""
        if self.keras_model is not None:
            return quantize_int8(self.keras_model, calibration)
        assert self.flatbuffer is not None
        if self.is_int8:
            return self.flatbuffer
        return quantize_flatbuffer_int8(self.flatbuffer, calibration, self.name)


def model_kind(path: str | Path) -> str:
    """"keras", "savedmodel", "tflite", "onnx" or "pt2", from the path alone (before TensorFlow or torch loads);
    anything else refused."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model {path} not found: pass {ACCEPTED}", "model")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise UserError(f"{path} is a directory without saved_model.pb: pass {ACCEPTED}", "model")
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix == TFLITE_SUFFIX:
        return "tflite"
    if suffix == ONNX_SUFFIX:
        return "onnx"
    if suffix == TORCH_SUFFIX:
        return "pt2"
    raise UserError(f"{path}: '{suffix or path.name}' is not a model format deploy takes: pass {ACCEPTED}", "model")


def open_model(path: str | Path, pixels: str | None = None) -> Foreign:
    """The model at `path`, with its pixel range settled (see the module's docstring)."""
    if pixels is not None and pixels not in PIXEL_RANGES:
        raise UserError(f"pixel range '{pixels}' is unknown: choose {' or '.join(PIXEL_RANGES)}", "pixels")
    path = Path(path)
    kind = model_kind(path)
    if kind == "tflite":
        return _open_tflite(path, pixels)
    if kind == "onnx":
        return _open_onnx(path, pixels)
    if kind == "pt2":
        return _open_torch(path, pixels)
    if kind == "savedmodel" and not (path / KERAS_METADATA).is_file():
        return _open_signature(path, pixels)
    return _open_keras(path, kind, pixels)


def _open_signature(path: Path, pixels: str | None) -> Foreign:
    """A SavedModel without tf_keras' metadata (`tf.saved_model.save`, Keras 3's `model.export`): a graph without
    layers, its serving signature converted to a float .tflite and checked against TensorFlow running it
    (`pipeline.foreign_keras3`)."""
    from tinyml_kit.pipeline import foreign_keras3

    flatbuffer, loaded = foreign_keras3.exported_tflite(path, pixels)
    return foreign_keras3.exported(_open_tflite(path, "0-255", flatbuffer), pixels, loaded)


def _open_onnx(path: Path, pixels: str | None) -> Foreign:
    from tinyml_kit.pipeline import foreign_onnx

    graph, how = foreign_onnx.open_graph(path, pixels)
    c, h, w = graph.input_chw
    asked = pixels or ""
    return Foreign(path, "onnx", (h, w, c), graph.classes, pixels=how,
                   build=lambda shape: foreign_onnx.build(graph, shape, asked),
                   compare=lambda model, images: foreign_onnx.compare(graph, model, images, asked))


def _open_torch(path: Path, pixels: str | None) -> Foreign:
    from tinyml_kit.pipeline import foreign_torch

    program, how = foreign_torch.open_program(path, pixels)
    c, h, w = program.input_chw
    asked = pixels or ""
    return Foreign(path, "pt2", (h, w, c), program.classes, pixels=how,
                   convert=lambda shape: foreign_torch.convert(program, shape, asked),
                   compare=lambda model, images: foreign_torch.compare(program, model, images, asked))


def _open_keras(path: Path, kind: str, pixels: str | None) -> Foreign:
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import load_keras_model
    from tinyml_kit.pipeline import foreign_keras3

    try:
        model = load_keras_model(path, compile=False)
    except Exception as e:
        model = foreign_keras3.load(path, e)          # saved with Keras 3, else refused in one line
    if not isinstance(model, keras().Model) and not foreign_keras3.is_keras3(model):
        raise UserError(f"{path} is not a Keras model: save it with tf_keras (model.save) or pass a .tflite", "model")
    shape, classes = _io_shape(path, model.inputs, model.outputs)
    first = next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)
    rescaled = first is not None and type(first).__name__ == RESCALING
    if pixels is None and not rescaled:
        raise UserError(f"{path} does not begin with a Rescaling layer, so the pixel range it takes is unknown: pass "
                        f"{param('pixels', '0-255')} if it takes pixels as they are, or {param('pixels', '0-1')} if it "
                        f"takes them scaled to [0, 1]", "pixels")
    if pixels == "0-1" and rescaled:
        raise UserError(f"{path} begins with a Rescaling layer ({first.name}), so it takes pixels 0..255, not "
                        f"{param('pixels', '0-1')}: drop {param('pixels')}", "pixels")
    how = (f"its first layer, Rescaling '{first.name}', takes pixels 0..255" if rescaled else
           "taken as 0..1, as asked: a Rescaling(1/255) is put in front" if pixels == "0-1" else
           "taken as 0..255, as asked")
    found = Foreign(path, kind, shape, classes, keras_model=model, pixels=how,
                    layers=[layer.name for layer in model.layers], rescale=pixels == "0-1")
    return foreign_keras3.converted(found, model) if foreign_keras3.is_keras3(model) else found


def with_input(model, shape: tuple, rescale: bool = False):
    """`model` rebuilt from its config on an input of `shape` (every size fixed), with a Rescaling(1/255) first if
    `rescale`: the same layers and weights, as one flat graph (a nested model would hide its feature maps from
    Grad-CAM; `clone_model` onto a tensor that is not an Input never returns)."""
    from tinyml_kit._tf import keras

    k = keras()
    config = model.get_config()
    rescaling = {"class_name": RESCALING, "name": "pixels_to_unit",
                 "config": {"name": "pixels_to_unit", "scale": 1.0 / 255.0, "offset": 0.0, "dtype": "float32"}}
    try:
        if isinstance(model, k.Sequential):
            layers = config["layers"]
            if layers and layers[0]["class_name"] == "InputLayer":
                layers.pop(0)
            layers.insert(0, {"class_name": "InputLayer", "config": {"batch_input_shape": (None, *shape),
                                                                     "dtype": "float32", "name": "pixels"}})
            if rescale:
                layers.insert(1, rescaling)
            rebuilt = k.Sequential.from_config(config)
        else:
            name = config["input_layers"][0][0]
            for layer in config["layers"]:
                if layer["class_name"] == "InputLayer" and layer["name"] == name:
                    layer["config"]["batch_input_shape"] = (None, *shape)
                elif rescale:
                    layer["inbound_nodes"] = _renamed(layer["inbound_nodes"], name, rescaling["name"])
            if rescale:
                config["layers"].insert(1, {**rescaling, "inbound_nodes": [[[name, 0, 0, {}]]]})
            rebuilt = k.Model.from_config(config)
        rebuilt.set_weights(model.get_weights())
    except Exception as e:
        raise UserError(f"the model could not be rebuilt on a {_text(shape)} input ({type(e).__name__}: "
                        f"{str(e)[:120]}): save it with a fixed input size"
                        f"{' and a Rescaling layer first' if rescale else ''}", "model") from None
    return rebuilt


def _renamed(nodes, old: str, new: str):
    """Inbound nodes (`[layer, node, tensor, kwargs]`, nested) with every reference to layer `old` made to `new`."""
    if isinstance(nodes, list):
        if len(nodes) >= 3 and nodes[0] == old and isinstance(nodes[1], int):
            return [new, *nodes[1:]]
        return [_renamed(n, old, new) for n in nodes]
    if isinstance(nodes, dict):
        return {key: _renamed(value, old, new) for key, value in nodes.items()}
    return nodes


def _io_shape(path: Path, inputs, outputs) -> tuple[tuple, int]:
    """(H, W, C) with None for an open size, and the classes; one image input and one class vector out."""
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs: deploy takes an image "
                        f"classifier, one image in and one class vector out", "model")
    shape, out = tuple(inputs[0].shape)[1:], tuple(outputs[0].shape)[1:]
    if len(shape) != 3 or len(out) != 1 or not out[0]:
        raise UserError(f"{path} takes {_text(shape)} and gives {_text(out)}: deploy takes an image classifier "
                        f"(H x W x C in, one score per class out)", "model")
    return tuple(None if d is None else int(d) for d in shape), int(out[0])


def _open_tflite(path: Path, pixels: str | None, flatbuffer: bytes | None = None) -> Foreign:
    """A .tflite, or the float one a SavedModel's signature converts to (`flatbuffer`)."""
    flatbuffer = flatbuffer or path.read_bytes()
    info = read_model(flatbuffer, str(path))
    shape, classes = _io_shape(path, [_Shape(info.inputs[0].shape)], [_Shape(info.outputs[0].shape)])
    found = Foreign(path, "tflite", shape, classes, flatbuffer=flatbuffer)
    if info.is_int8:
        found.pixels = require_pixel_input(info, str(path))
        require_integer_ops(flatbuffer, str(path))
        if pixels == "0-1":
            raise UserError(f"{path} is int8 with pixels 0..255 as its input range: drop {param('pixels')}", "pixels")
        return found
    if {t.dtype for t in info.inputs + info.outputs} != {"float32"}:
        raise UserError(f"{path} has {info.inputs[0].dtype} input and {info.outputs[0].dtype} output: deploy takes "
                        f"an int8 .tflite as it is or a float32 one to quantize", "model")
    if pixels != "0-255":   # a SavedModel's signature comes here converted, its pixels in front: always 0-255
        raise UserError(f"{path} is a float .tflite, whose pixel range cannot be read from it: pass "
                        f"{param('pixels', '0-255')} "
                        f"if it takes pixels as they are (a model taking [0, 1] cannot be re-scaled as a .tflite: "
                        f"deploy its Keras model or SavedModel with {param('pixels', '0-1')})", "pixels")
    found.pixels = "taken as 0..255, as asked"
    return found


@dataclass
class _Shape:
    """A .tflite tensor's shape where `_io_shape` reads a Keras tensor's."""
    shape: list[int]


def require_pixel_input(info: ModelInfo, name: str) -> str:
    """An int8 .tflite must take pixels 0..255: its input quantization holds 0 and 255 without clipping (`fit`'s
    is scale 1, zero point -128, `p - 128`; the firmware, the checks and the exported sample quantize by the
    model's own scale and zero point). A model calibrated on [0, 1] is refused. Returns how that is known."""
    inp = info.inputs[0]
    scale, zero = inp.scale or 0.0, inp.zero_point or 0
    low, high = (-128 - zero) * scale, (127 - zero) * scale
    if scale > 0 and round(0 / scale) + zero >= -128 and round(255 / scale) + zero <= 127:
        return f"its int8 input, scale {scale:g} and zero point {zero}, holds {low:g} .. {high:g}"
    raise UserError(f"{name}'s int8 input is scale {scale:g}, zero point {zero}: it holds {low:g} .. {high:g}, not "
                    f"pixels 0..255, which tinyml-kit feeds: quantize it with calibration images of pixels 0..255 "
                    f"(a Rescaling layer first in the model), or pass its float model", "model")


def require_integer_ops(flatbuffer: bytes, name: str, layers: list[str] | None = None) -> None:
    """Refuse a model with float ops left after quantization, naming them and where they are."""
    graph = read_graph(flatbuffer, name)
    floats = [(op.kind, _layer(graph.tensors[op.outputs[0]].name, layers)) for op in graph.ops
              if op.outputs and graph.tensors[op.outputs[0]].dtype == "float32"]
    if floats:
        listed = ", ".join(f"{kind} ({where})" for kind, where in floats[:8])
        raise UserError(f"{name} has float ops left after quantization: {listed}{' ...' if len(floats) > 8 else ''}; "
                        f"tinyml-kit runs full-integer int8 models: make those layers quantizable (or "
                        f"quantize the float model here)", "model")


def op_layers(flatbuffer: bytes, ops, layers: list[str] | None = None) -> str:
    """Where `ops` are in the model, by the output tensor of each one's first use, whose name the converter takes
    from the Keras layer: `at layer 'norm'`, or `TANH at layer 'a'; GELU at layer 'b'`."""
    graph = read_graph(flatbuffer)
    places: dict[str, list[str]] = {}
    for kind in ops:
        op = next((o for o in graph.ops if o.kind == kind and o.outputs), None)
        place = _layer(graph.tensors[op.outputs[0]].name, layers) if op else "not found in the graph"
        places.setdefault(place, []).append(kind)
    if len(places) == 1:
        return f"at {next(iter(places))}"
    return "; ".join(f"{', '.join(kinds)} at {place}" for place, kinds in places.items())


def _layer(tensor: str, layers: list[str] | None) -> str:
    """The Keras layer a converted tensor came from (its name is `model/layer/Op;...`), else the tensor's name."""
    parts = tensor.split(";")[0].split("/")
    named = next((p for p in parts if layers and p in layers), None)
    return f"layer '{named}'" if named else f"tensor '{tensor.split(';')[0]}'"


def _text(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "a scalar"
