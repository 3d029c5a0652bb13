"""Image-classification data: the built-in digits set, an image folder, or an .npz; split and tf.data input.

Images are kept as uint8 pixels (N, H, W, C) at the model's input size. Models rescale inside the graph, so the
same bytes feed Keras, LiteRT and the firmware. Reading an .npz is in `npz.py`, an image folder in `folder.py`;
what is refused there and here is refused in one line before anything slow (decoding, resizing, training) starts.
"""

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError, first_few
from tinyml_kit.core.spec import MIN_INPUT_SIDE, require_input_shape
from tinyml_kit.train.folder import class_folders, decode_images, list_images
from tinyml_kit.train.npz import peek_npz, read_npz

DIGITS, FOLDER, NPZ = "digits", "folder", "npz"
DEFAULT_INPUT = {DIGITS: (32, 32, 1)}
DIGITS_NATIVE_SHAPE, DIGITS_CLASSES = (8, 8, 1), 10   # scikit-learn's digits, before upscaling
FOLDER_DEFAULT_INPUT = (64, 64, 3)
VAL_FRACTION = 0.2
# The most bytes the resized uint8 images may take. fit holds the pixels about three times over (the loaded
# array, the train/validation copies split() makes, tf.data's tensor of the training part) plus the decoded
# originals and TensorFlow itself, so 2 GiB of pixels already needs 6-8 GiB of RAM: beyond that the run is more
# likely to swap or be killed than to finish, and a smaller input is the usual fix.
MAX_RESIZED_BYTES = 2 * 2**30


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


def peek_dataset(source: str) -> tuple[tuple[int, int, int] | None, int]:
    """(the images' own (H, W, C), the number of classes), from what is cheap to read, so that a budget can be
    checked before any data is loaded: no image is decoded and an .npz's x is never read (only its header).
    The shape is None for a folder, whose images may differ in size. load_dataset may still refuse the data."""
    kind = _source_kind(source)
    if kind == DIGITS:
        return DIGITS_NATIVE_SHAPE, DIGITS_CLASSES
    if kind == FOLDER:
        return None, len(class_folders(Path(source)))
    return peek_npz(Path(source))


def planned_input(source: str, input_shape: tuple[int, int, int] | None = None) -> tuple[tuple[int, int, int], int]:
    """(the model input `load_dataset` will resize to, the number of classes), without loading the data: what a
    budget needs to be checked before minutes are spent reading and resizing images."""
    native, classes = peek_dataset(source)
    shape = tuple(input_shape or default_input_shape(source) or native)
    return require_input_shape(shape), classes


def load_dataset(source: str, input_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Load `source` ('digits', a folder with one sub-folder per class, or an .npz with x and y), resized to
    `input_shape` (default: `default_input_shape`, else the images' own size)."""
    if input_shape is not None:
        require_input_shape(input_shape)
    kind = _source_kind(source)
    if kind == DIGITS:
        data = _load_digits()
    elif kind == FOLDER:
        data = _load_folder(Path(source), tuple(input_shape or FOLDER_DEFAULT_INPUT))
    else:
        data = Dataset(*read_npz(Path(source)), source=str(Path(source)))
    _validate(data)
    target = tuple(input_shape or default_input_shape(source) or data.input_shape)
    require_input_shape(target)
    if not isinstance(data.x, list) and data.x.shape[1:] != target:   # a folder's list was checked before decoding
        _check_resize_memory(len(data.x), target)
    data.x = _resize(data.x, target)
    return data


def _source_kind(source: str) -> str:
    """DIGITS, FOLDER or NPZ; a missing or unsupported source is refused here, for load and peek alike."""
    path = Path(source)
    if source == DIGITS:
        return DIGITS
    if path.is_dir():
        return FOLDER
    if path.suffix.lower() == ".npz" and path.is_file():
        return NPZ
    if not path.exists():
        raise UserError(f"data '{source}' not found: pass 'digits', an image folder or an .npz file")
    raise UserError(f"data '{source}' is neither a folder nor an .npz file: pass 'digits', an image folder "
                    f"(one sub-folder per class) or an .npz with arrays x and y")


def _check_resize_memory(n: int, shape: tuple[int, int, int]) -> None:
    """Refuse before resizing, not after minutes of it and gigabytes of swap."""
    h, w, c = shape
    need = n * h * w * c
    if need <= MAX_RESIZED_BYTES:
        return
    side = math.isqrt(MAX_RESIZED_BYTES // (n * c))
    fix = (f"choose a smaller input size (at most {side}x{side}x{c} for {n:,} images)" if side >= MIN_INPUT_SIDE
           else "use fewer images")
    raise UserError(f"resizing {n:,} images to {h}x{w}x{c} needs {need / 1e9:.1f} GB, more than the "
                    f"{MAX_RESIZED_BYTES / 2**30:g} GiB limit: {fix}")


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


def _load_folder(path: Path, target: tuple[int, int, int]) -> Dataset:
    """Lists every class's images and checks the resized size before decoding any of them."""
    classes = class_folders(path)
    per_class = list_images(path, classes)
    _check_resize_memory(sum(map(len, per_class)), target)
    images = decode_images([file for files in per_class for file in files])
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(files) for files in per_class])
    return Dataset(images, labels, classes, str(path))  # resized by load_dataset


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
    """Stratified, deterministic split: the same data and seed always give the same validation images, and every
    class has at least one image on each side."""
    _require_two_per_class(data)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for cls in np.unique(data.y):
        idx = np.flatnonzero(data.y == cls)
        rng.shuffle(idx)
        n_val = min(max(round(len(idx) * val_fraction), 1), len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train_idx, val_idx = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
    return Split(data.subset(train_idx), data.subset(val_idx))


def _require_two_per_class(data: Dataset) -> None:
    """A class with one image could only be trained on, never validated, so its accuracy would go unmeasured.
    Checked here rather than in load_dataset: data that is only validated (check, validate) is not split."""
    labels, counts = np.unique(data.y, return_counts=True)
    single = [f"'{data.class_names[int(i)]}'" for i in labels[counts < 2]]
    if len(single) == 1:
        raise UserError(f"class {single[0]} has 1 image; every class needs at least 2 (one to train, one to "
                        f"validate): add images to it or remove it")
    if single:
        raise UserError(f"{len(single):,} classes have 1 image ({first_few(single)}); every class needs at least "
                        f"2 (one to train, one to validate): add images to them or remove them")


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
