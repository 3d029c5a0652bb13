"""Image-classification data: the built-in digits set, an image folder, or an .npz; split and tf.data input.

Images are kept as uint8 pixels (N, H, W, C) at the model's input size. Models rescale inside the graph, so the
same bytes feed Keras, LiteRT and the firmware.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError

DIGITS = "digits"
DEFAULT_INPUT = {DIGITS: (32, 32, 1)}
FOLDER_DEFAULT_INPUT = (64, 64, 3)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
VAL_FRACTION = 0.2


@dataclass
class Dataset:
    x: np.ndarray                # uint8, (N, H, W, C)
    y: np.ndarray                # int64 class ids, (N,)
    class_names: list[str]
    source: str
    flip_invariant: bool = True  # horizontal flips keep the label (not for digits or text)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x.shape[1:])

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.x.tobytes())
        h.update(self.y.astype(np.int64).tobytes())
        return h.hexdigest()[:16]

    def subset(self, index: np.ndarray) -> "Dataset":
        return Dataset(self.x[index], self.y[index], self.class_names, self.source, self.flip_invariant)


@dataclass
class Split:
    train: Dataset
    val: Dataset


def default_input_shape(source: str) -> tuple[int, int, int] | None:
    """The input size a source suggests; None means "the images' own size" (.npz)."""
    if source == DIGITS:
        return DEFAULT_INPUT[DIGITS]
    if Path(source).is_dir():
        return FOLDER_DEFAULT_INPUT
    return None


def load_dataset(source: str, input_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Load `source` ('digits', a folder with one sub-folder per class, or an .npz with x and y)."""
    path = Path(source)
    if source == DIGITS:
        data = _load_digits()
    elif path.is_dir():
        data = _load_folder(path)
    elif path.suffix.lower() == ".npz" and path.is_file():
        data = _load_npz(path)
    elif not path.exists():
        raise UserError(f"data '{source}' not found: pass 'digits', an image folder or an .npz file")
    else:
        raise UserError(f"data '{source}' is neither a folder nor an .npz file: pass 'digits', an image folder "
                        f"(one sub-folder per class) or an .npz with arrays x and y")
    _validate(data)
    target = input_shape or default_input_shape(source) or data.input_shape
    data.x = _resize(data.x, target)
    return data


def _validate(data: Dataset) -> None:
    if len(data.x) != len(data.y):
        raise UserError(f"data '{data.source}': x has {len(data.x)} images but y has {len(data.y)} labels")
    if len(data.x) == 0:
        raise UserError(f"data '{data.source}' has no images: add images (one sub-folder per class)")
    present = np.unique(data.y)
    if len(present) < 2:
        raise UserError(f"data '{data.source}' has only one class ({data.class_names[int(present[0])]}): "
                        f"a classifier needs at least two")


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return Dataset(x, digits.target.astype(np.int64), [str(i) for i in range(10)], DIGITS, flip_invariant=False)


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise UserError(f"{path} must hold arrays 'x' (images) and 'y' (labels); it has {', '.join(f.files)}")
            x, y = f["x"], f["y"]
            names = [str(n) for n in f["class_names"]] if "class_names" in f else None
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"cannot read {path} as .npz ({e}): save it with numpy.savez(path, x=..., y=...)") from None
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UserError(f"{path}: x has shape {x.shape}; expected (N, H, W), (N, H, W, 1) or (N, H, W, 3)")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and x.max() <= 1.0:
            x = x * 255.0
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    labels, y = np.unique(np.asarray(y).reshape(-1), return_inverse=True)
    if names is None:
        names = [str(v) for v in labels]
    else:  # class_names[i] names label value i; keep only the labels present, in label order
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(names):
            raise UserError(f"{path}: class_names has {len(names)} entries but y holds labels "
                            f"{labels.min()}..{labels.max()}: y must index class_names")
        names = [names[int(v)] for v in labels]
    return Dataset(x, y.astype(np.int64), names, str(path))


def _load_folder(path: Path) -> Dataset:
    from tinyml_kit._tf import tf

    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"folder {path} has no class sub-folders: put each class's images in its own sub-folder")
    images, labels, empty = [], [], []
    for label, name in enumerate(classes):
        files = [f for f in sorted((path / name).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            empty.append(path / name)
        for file in files:
            try:
                img = tf().io.decode_image(file.read_bytes(), channels=3, expand_animations=False).numpy()
            except Exception:
                raise UserError(f"cannot decode image {file}: remove it or convert it to PNG/JPEG") from None
            images.append(img)
            labels.append(label)
    if not images:
        raise UserError(f"folder {path} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders")
    if empty:
        raise UserError(f"class folder {empty[0]} has no images: add some or remove the folder")
    return Dataset(images, np.array(labels, dtype=np.int64), classes, str(path))  # resized by load_dataset


def _resize(x, shape: tuple[int, int, int]) -> np.ndarray:
    """Resize a batch (or list of differently sized images) to (H, W, C) uint8, converting RGB<->gray."""
    h, w, c = shape
    if not isinstance(x, list) and x.shape[1:] == (h, w, c):
        return x
    from tinyml_kit._tf import tf

    out = np.empty((len(x), h, w, c), np.uint8)
    for i, img in enumerate(x):
        img = np.asarray(img)
        if img.shape[-1] == 3 and c == 1:
            img = np.round(img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        elif img.shape[-1] == 1 and c == 3:
            img = np.repeat(img, 3, axis=-1)
        if img.shape[:2] != (h, w):
            img = tf().image.resize(img.astype(np.float32), (h, w), antialias=True).numpy()
        out[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return out


def split(data: Dataset, val_fraction: float = VAL_FRACTION, seed: int = 0) -> Split:
    """Stratified, deterministic split: the same data and seed always give the same validation images."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for cls in np.unique(data.y):
        idx = np.flatnonzero(data.y == cls)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train_idx, val_idx = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
    if len(val_idx) == 0:
        raise UserError(f"data '{data.source}' has too few images to hold out a validation set")
    return Split(data.subset(train_idx), data.subset(val_idx))


def tf_dataset(data: Dataset, batch_size: int, training: bool, seed: int = 0):
    """A tf.data pipeline of float pixels (0..255) and one-hot labels; random shifts (and flips where the
    labels allow) when training."""
    from tinyml_kit._tf import tf

    t = tf()
    n_classes = len(data.class_names)
    ds = t.data.Dataset.from_tensor_slices((data.x, data.y))
    if training:
        ds = ds.shuffle(len(data.x), seed=seed, reshuffle_each_iteration=True)
    h, w, _ = data.input_shape
    pad = max(1, h // 16)
    flip = data.flip_invariant

    def prepare(x, y):
        x = t.cast(x, t.float32)
        if training:
            x = t.image.pad_to_bounding_box(x, pad, pad, h + 2 * pad, w + 2 * pad)
            x = t.image.random_crop(x, (h, w, data.input_shape[2]), seed=seed)
            if flip:
                x = t.image.random_flip_left_right(x, seed=seed)
        return x, t.one_hot(y, n_classes)

    ds = ds.map(prepare, num_parallel_calls=t.data.AUTOTUNE).batch(batch_size)
    return ds.prefetch(t.data.AUTOTUNE)
