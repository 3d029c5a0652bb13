"""A model saved with Keras 3 (what `import keras` and `tf.keras` give on TensorFlow 2.16+ without
TF_USE_LEGACY_KERAS) for `deploy`. tinyml-kit runs on tf_keras, which tfmot's pruning and QAT need, and tf_keras
cannot read a Keras 3 .keras or .h5 file. Keras 3 reads it in the same process (on the TensorFlow backend, beside
tf_keras), and the model is rebuilt as a tf_keras model layer by layer from its config, with its weights: PTQ,
`compress` (pruning, QAT) and the fit advice then take it like a model tinyml-kit built. A nested model (a
`keras.applications` base under the user's head) is rebuilt in its place, one flat graph. The rebuilt model is
checked against Keras 3's own predictions on the validation images before it is quantized (`ConversionCheck`);
a layer class the rebuild does not know is refused by name when the model is opened, before any long work.

A SavedModel exported by Keras 3 (`model.export`) holds a traced graph and no layer config, so there is nothing
to rebuild: TFLite's converter makes it a float .tflite, checked against TensorFlow running the SavedModel and
quantized here as a float .tflite is (no `compress`). Its pixel range cannot be read from the graph, so it needs
`--pixels`."""

import inspect
import logging
import sys
from pathlib import Path

import numpy as np

from tinyml_kit._tf import keras, keras3, tf
from tinyml_kit.core.errors import UserError, first_line, param
from tinyml_kit.core.record_sections import ConversionCheck
from tinyml_kit.pipeline.converted import BATCH, MIN_AGREEMENT, checked

logger = logging.getLogger(__name__)

LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization", "ReLU", "Activation",
          "Softmax", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
          "Concatenate", "Add", "Multiply", "Dropout", "Flatten", "Reshape", "Rescaling", "ZeroPadding2D")
INPUT = "InputLayer"
TRAINING_ONLY = ("_initializer", "_regularizer", "_constraint")   # settings for training from scratch, not the model
OWN = ("name", "trainable", "dtype")       # set by the rebuild: the dtype is float32, what is quantized from
FIX = "save it with tf_keras (TF_USE_LEGACY_KERAS=1) or pass a .tflite"


def load(path: Path, tf_keras_error: Exception):
    """The Keras 3 model in `path` (a .keras or .h5 file tf_keras could not read); refused in one line, with both
    loaders' reasons, if Keras 3 cannot read it either. None for a SavedModel directory, which Keras 3 does not
    load (`exported_tflite` takes it)."""
    if path.is_dir():
        return None
    try:
        return keras3().saving.load_model(path, compile=False)
    except Exception as e:
        raise UserError(f"{path} could not be loaded as a Keras model (tf_keras: {first_line(tf_keras_error)}; "
                        f"Keras 3: {first_line(e)}): {FIX}", "model") from None


def is_keras3(model) -> bool:
    """Without importing Keras 3 (1.7 s) for a tf_keras model: a Keras 3 model exists only once it is imported."""
    return "keras" in sys.modules and isinstance(model, keras3().Model)


def converted(found, model):
    """`found` (a `pipeline.foreign.Foreign` opened on the Keras 3 `model`) made to rebuild the model as tf_keras
    on its input shape and to check the rebuild against Keras 3; a layer the rebuild does not know refused now."""
    unknown = next((layer for layer in _leaves(model) if type(layer).__name__ not in (INPUT, *LAYERS)), None)
    if unknown is not None:
        raise UserError(f"{found.path}: layer '{unknown.name}' ({type(unknown).__name__}) is not one tinyml-kit "
                        f"rebuilds from a Keras 3 model (it takes {', '.join(LAYERS)}): {FIX}", "model")
    rescale = found.rescale
    found.keras_model, found.rescale = None, False
    found.build = lambda shape: rebuild(model, shape, rescale)
    found.compare = lambda rebuilt, images: compare(model, rebuilt, images, rescale)
    return found


def _leaves(model):
    """The layers of `model`, a nested model's (a `keras.applications` base, say) in its place."""
    for layer in model.layers:
        yield from _leaves(layer) if is_keras3(layer) else [layer]


def rebuild(model, shape: tuple[int, int, int], rescale: bool = False):
    """The tf_keras model computing what the Keras 3 `model` computes, on images of `shape` (pixels / 255 first if
    `rescale`): the same layers, names and weights, wired as the Keras 3 config wires them, as one flat graph (a
    nested model's layers in its place: Grad-CAM and the pruning reach them)."""
    k = keras()
    inputs = k.Input(shape, name="pixels")
    x = k.layers.Rescaling(1.0 / 255.0, name="pixels_to_unit")(inputs) if rescale else inputs
    sources: list = []
    try:
        rebuilt = k.Model(inputs, _called(k, model, x, sources), name=model.name)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{model.name} could not be rebuilt in tf_keras ({first_line(e)}): {FIX}", "model") from None
    for source in sources:
        try:
            rebuilt.get_layer(source.name).set_weights(source.get_weights())
        except Exception as e:
            raise UserError(f"the weights of layer '{source.name}' ({type(source).__name__}) of the Keras 3 model "
                            f"do not fit its tf_keras rebuild ({first_line(e)}): {FIX}", "model") from None
    return rebuilt


def _called(k, model, x, sources: list):
    """The tf_keras tensor `model` (Keras 3) makes of tensor `x`, its layers made tf_keras layers and called as its
    config calls them; each Keras 3 layer rebuilt is added to `sources`, for its weights."""
    config = model.get_config()
    layers = [c for c in config["layers"] if c["class_name"] != INPUT]
    tensors = {(c["config"]["name"], 0, 0): x for c in config["layers"] if c["class_name"] == INPUT}  # one input
    for c in layers:
        source = model.get_layer(c["config"]["name"])
        layer = None if is_keras3(source) else _tf_keras_layer(k, c)
        sources += [] if layer is None else [source]
        for index, node in enumerate(c.get("inbound_nodes", [{"args": [x]}])):   # a Sequential's: the last output
            args = _wired(node["args"], tensors)
            kwargs = {key: v for key, v in node.get("kwargs", {}).items() if key == "training"}
            x = _called(k, source, args[0], sources) if layer is None else layer(*args, **kwargs)
            tensors[(c["config"]["name"], index, 0)] = x
    if isinstance(model, keras3().Sequential):
        return x
    out = config["output_layers"]
    return tensors[tuple(out[0] if isinstance(out[0], list) else out)]


def _tf_keras_layer(k, c: dict):
    """The tf_keras layer of Keras 3 layer config `c`. A setting tf_keras has not (a LoRA rank, say) is refused
    unless it is unset; initializers, regularizers and constraints (for training from scratch) are left out."""
    name, settings = c["config"]["name"], c["config"]
    cls = getattr(k.layers, c["class_name"])
    accepted = {key for base in cls.__mro__ if "__init__" in vars(base)
                for key in inspect.signature(base.__init__).parameters}   # a subclass passes some on as **kwargs
    own = {key: v for key, v in settings.items() if key not in OWN and not key.endswith(TRAINING_ONLY)}
    kept = {key: v for key, v in own.items() if key in accepted}
    other = [key for key, v in own.items() if key not in accepted and v not in (None, False, 0)]
    try:
        if other:
            raise ValueError(f"tf_keras has no {', '.join(f'{key}={settings[key]!r}' for key in other)}")
        return cls(**kept, name=name, trainable=settings.get("trainable", True), dtype="float32")
    except Exception as e:
        raise UserError(f"layer '{name}' ({c['class_name']}) of the Keras 3 model could not be rebuilt in tf_keras "
                        f"({first_line(e)}): {FIX}", "model") from None


def _wired(args, tensors: dict):
    """A node's call arguments with each Keras 3 tensor reference replaced by the tf_keras tensor it names."""
    if isinstance(args, dict) and args.get("class_name") == "__keras_tensor__":
        return tensors[tuple(args["config"]["keras_history"])]
    if isinstance(args, list | tuple):
        return [_wired(a, tensors) for a in args]
    return args


def compare(model, rebuilt, images: np.ndarray, rescale: bool) -> ConversionCheck:
    """The rebuilt tf_keras model (on pixels 0..255) against Keras 3 running the user's `model` on the same images
    (divided by 255 for a model taking [0, 1]); refused below `MIN_AGREEMENT`."""
    x = images.astype(np.float32)
    expected = np.asarray(model.predict(x / 255.0 if rescale else x, batch_size=BATCH, verbose=0))
    got = rebuilt.predict(x, batch_size=BATCH, verbose=0)
    check = ConversionCheck.measured("keras 3", f"Keras {keras3().__version__}", expected, got, MIN_AGREEMENT)
    return checked(check, model.name, "rebuilt in tf_keras", FIX)


def exported_tflite(path: Path, pixels: str | None) -> tuple[bytes, object]:
    """The float .tflite of a SavedModel without tf_keras metadata (Keras 3's `model.export`,
    `tf.saved_model.save`), taking pixels 0..255 (divided by 255 in front of the graph for `--pixels 0-1`), and the
    loaded SavedModel, which the conversion check runs."""
    if pixels is None:
        raise UserError(f"{path} is a SavedModel without tf_keras metadata (tf.saved_model.save, Keras 3's "
                        f"model.export), whose pixel range cannot be read from it: pass "
                        f"{param('pixels', '0-255')} if it takes pixels as they are, or {param('pixels', '0-1')} "
                        f"if it takes them scaled to [0, 1]", "pixels")
    t = tf()
    loaded = t.saved_model.load(str(path))
    serve = loaded.signatures.get("serving_default")
    specs = list(serve.structured_input_signature[1].values()) if serve is not None else []
    if len(specs) != 1 or len(specs[0].shape) != 4:
        raise UserError(f"{path} has no serving signature taking one image batch: deploy takes an image "
                        f"classifier, one image in and one class vector out", "model")
    scale = 1.0 / 255.0 if pixels == "0-1" else 1.0

    @t.function(input_signature=[t.TensorSpec([1, *specs[0].shape[1:]], t.float32)])
    def pixels_in(images):
        return next(iter(serve(images * scale).values()))

    try:
        converter = t.lite.TFLiteConverter.from_concrete_functions([pixels_in.get_concrete_function()], loaded)
        return converter.convert(), loaded
    except Exception as e:
        raise UserError(f"{path} could not be converted to a float .tflite ({first_line(e)}): {FIX}",
                        "model") from None


def exported(found, pixels: str | None, loaded):
    """`found` (the float .tflite of a SavedModel, as `pipeline.foreign` opens a .tflite) made to say its pixel
    range and to check the .tflite against TensorFlow running the `loaded` SavedModel."""
    found.kind = "savedmodel"
    found.pixels = ("taken as 0..1, as asked: divided by 255 in front" if pixels == "0-1" else
                    "taken as 0..255, as asked")
    found.compare = lambda _, images: compare_exported(loaded, found.path, found.flatbuffer, images, pixels)
    return found


def compare_exported(loaded, path: Path, flatbuffer: bytes, images: np.ndarray, pixels: str | None
                     ) -> ConversionCheck:
    """The float .tflite (on pixels 0..255, LiteRT) against TensorFlow running the SavedModel's serving signature
    on the same images (divided by 255 for a model taking [0, 1]); refused below `MIN_AGREEMENT`."""
    from tinyml_kit.core.litert import LiteRtModel

    t = tf()
    serve = loaded.signatures["serving_default"]
    x = images.astype(np.float32)
    scaled = x / 255.0 if pixels == "0-1" else x
    expected = np.concatenate([next(iter(serve(t.constant(scaled[i:i + BATCH])).values())).numpy()
                               for i in range(0, len(x), BATCH)])
    check = ConversionCheck.measured("savedmodel", f"TensorFlow {t.__version__}", expected,
                                     LiteRtModel(flatbuffer).predict(x), MIN_AGREEMENT)
    return checked(check, str(path), "converted to a float .tflite", "pass the model as a .keras or .tflite")
