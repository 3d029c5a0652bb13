"""What the float model looks at and where its features become linearly separable.

- Grad-CAM (Selvaraju et al. 2017): the predicted class's logit differentiated with respect to the last
  spatial feature map, channel weights = mean gradient, heat = ReLU of the weighted map, upsampled to the
  input. Shown per class for one correct and one wrong validation image.
- Linear probes (brief §3): a logistic regression on each block's globally pooled output, trained on the
  training split and scored on the validation split; accuracy against depth shows which blocks earn their
  flash.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from tinyml_kit.nets.costs import output_shape

_BLOCK = re.compile(r"^(?:b|s)(\d+)_")
PROBE_TRAIN_IMAGES = 2000
_NOT_FEATURES = {"InputLayer", "Rescaling"}    # pixels, not features


@dataclass
class GradCam:
    layer: str
    images: np.ndarray          # N x H x W x C uint8
    heat: np.ndarray            # N x H x W in [0, 1]
    true: list[int]
    predicted: list[int]
    indices: list[int]          # positions in the validation split


@dataclass
class Probes:
    rows: list[dict] = field(default_factory=list)   # block, layer, channels, spatial, accuracy
    model_accuracy: float | None = None


def _feature_maps(model):
    """(layer, output shape) of every layer with a 4-D output that is a feature map, not the pixels."""
    for layer in model.layers:
        shape = output_shape(layer)
        if len(shape) == 4 and type(layer).__name__ not in _NOT_FEATURES:
            yield layer, shape


def block_outputs(model) -> list[tuple[str, str]]:
    """(block label, layer name) of each block's last 4-D layer, stem first: layers are grouped by the
    builders' `b<i>_` / `s<i>_` name prefixes; everything 4-D before the first block is the stem."""
    found: dict[str, str] = {}
    stem = None
    for layer, shape in _feature_maps(model):
        m = _BLOCK.match(layer.name)
        if m:
            found[f"block {m.group(1)}"] = layer.name
        elif not found and shape[1] and shape[1] > 1:
            stem = layer.name
    return ([("stem", stem)] if stem else []) + list(found.items())


def gradcam_layer(model) -> str:
    """The last layer with a spatial (H > 1) 4-D output: the finest map that still sees the whole network."""
    spatial = [layer.name for layer, shape in _feature_maps(model) if shape[1] and shape[1] > 1]
    if not spatial:
        raise ValueError("the model has no spatial feature map for Grad-CAM")
    return spatial[-1]


def output_in(model, name: str):
    """Layer `name`'s output in `model`'s graph. A model used as a layer (a Keras application as a backbone) has
    its own graph's output as `.output`, which `model` cannot reach from its inputs ("Graph disconnected"): its
    output here is that of the call `model` lists among its nodes (tf_keras keys them `<layer>_ib-<call>`)."""
    layer = model.get_layer(name)
    nodes: set[str] = getattr(model, "_network_nodes", set())
    return next((node.outputs for i, node in enumerate(layer._inbound_nodes) if f"{name}_ib-{i}" in nodes),
                layer.output)


def pick_images(y: np.ndarray, predicted: np.ndarray, max_classes: int = 10) -> list[int]:
    """Per class (the first `max_classes`), the first correct and the first wrong validation image, if any."""
    picked = []
    for c in range(min(max_classes, int(y.max()) + 1)):
        of_class = np.flatnonzero(y == c)
        for want_correct in (True, False):
            hit = of_class[(predicted[of_class] == c) == want_correct]
            if len(hit):
                picked.append(int(hit[0]))
    return picked


def gradcam(model, x: np.ndarray, y: np.ndarray, max_classes: int = 10) -> GradCam:
    from tinyml_kit._tf import keras, tf

    t = tf()
    layer = gradcam_layer(model)
    predicted = model.predict(x.astype(np.float32), batch_size=256, verbose=0).argmax(1)
    idx = pick_images(y, predicted, max_classes)
    images = x[idx].astype(np.float32)
    grad_model = keras().Model(model.inputs, [output_in(model, layer), model.output])

    # As a graph, so only the gradient with respect to the feature map is computed: eagerly, TensorFlow 2.21 also
    # computes every convolution's filter gradient, and its oneDNN kernel for that corrupted the heap on a
    # channel-pruned ResNet (16×16×1 input, 8/14/28 channels).
    @t.function
    def feature_gradients(batch, classes):
        with t.GradientTape() as tape:
            features, logits = grad_model(batch, training=False)
            score = t.gather(logits, classes, batch_dims=1)
        return features, tape.gradient(score, features)

    features, grads = feature_gradients(t.constant(images), t.constant(predicted[idx]))
    weights = t.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = t.nn.relu(t.reduce_sum(weights * features, axis=-1))[..., None]
    cam = t.image.resize(cam, images.shape[1:3], method="bilinear").numpy()[..., 0]
    top = cam.reshape(len(cam), -1).max(1).reshape(-1, 1, 1)
    heat = np.where(top > 0, cam / np.where(top > 0, top, 1), 0.0)
    return GradCam(layer, np.clip(images, 0, 255).astype(np.uint8), heat, [int(y[i]) for i in idx],
                   [int(predicted[i]) for i in idx], idx)


def linear_probes(model, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                  seed: int = 0) -> Probes:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tinyml_kit._tf import keras

    points = block_outputs(model)
    if not points:
        return Probes()
    layers = keras().layers
    # named: default names count per process and can repeat a loaded model's own ("The name ... is used 2 times")
    pooled = [layers.GlobalAveragePooling2D(name=f"tinyml_probe_pool_{i}")(output_in(model, name))
              for i, (_, name) in enumerate(points)]
    extractor = keras().Model(model.inputs, pooled + [model.output])
    if len(train_x) > PROBE_TRAIN_IMAGES:
        keep = np.random.default_rng(seed).choice(len(train_x), PROBE_TRAIN_IMAGES, replace=False)
        train_x, train_y = train_x[keep], train_y[keep]
    f_train = extractor.predict(train_x.astype(np.float32), batch_size=256, verbose=0)
    f_val = extractor.predict(val_x.astype(np.float32), batch_size=256, verbose=0)
    probes = Probes(model_accuracy=float(np.mean(f_val[-1].argmax(1) == val_y)))
    for (label, name), a, b in zip(points, f_train[:-1], f_val[:-1], strict=False):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
        clf.fit(a, train_y)
        shape = model.get_layer(name).output_shape
        probes.rows.append({"block": label, "layer": name, "channels": int(shape[-1]),
                            "spatial": f"{shape[1]}x{shape[2]}", "accuracy": float(clf.score(b, val_y))})
    return probes
