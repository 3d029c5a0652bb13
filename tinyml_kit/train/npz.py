"""Reading an .npz of images `x` and labels `y` (optional `class_names`), and refusing what cannot be read right.

Pixel conventions (README, "Data"): uint8 is pixels 0..255 as they are; other integer dtypes must lie in 0..255;
floats are pixels scaled to [0, 1]. Anything else is refused rather than guessed: guessing the range from the values
once read [0, 1] floats with a single stray 1.01 as 0..255, turned every image black, and training still ran.
"""

import logging
import zipfile
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError, first_few
from tinyml_kit.core.labels import check_labels

log = logging.getLogger(__name__)

SAVE_HINT = "save it with numpy.savez(path, x=..., y=...)"
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first member, or an empty zip
_READ_ERRORS = (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile)


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images as uint8 (N, H, W, C), labels as class indices 0..K-1, and the K class names."""
    _require_zip(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            _require_xy(f.files, path)
            x, y = f["x"], f["y"]
            names = [str(n) for n in f["class_names"]] if "class_names" in f else None
    except _READ_ERRORS as e:
        raise _unreadable(path, e) from None
    image_shape(x.shape, path)
    x = to_pixels(x if x.ndim == 4 else x[..., None], path)
    labels, y = label_values(y, path)
    if names is None:
        names = [str(v) for v in labels]
    elif len(labels):  # class_names[i] names label value i; keep only the labels present, in label order
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(names):
            raise UserError(f"{path}: class_names has {len(names)} entries but y holds labels "
                            f"{labels.min()}..{labels.max()}: y must index class_names")
        names = [names[int(v)] for v in labels]
        try:
            check_labels(names, len(names))
        except UserError as e:
            raise UserError(f"{path}: class_names: {e.message}") from None
    return x, y.astype(np.int64), names


def peek_npz(path: Path) -> tuple[tuple[int, int, int], int]:
    """(H, W, C) of x from its .npy header, and the number of distinct labels; x's pixels are never read."""
    _require_zip(path)
    try:
        with zipfile.ZipFile(path) as z:
            _require_xy([n[:-4] for n in z.namelist() if n.endswith(".npy")], path)
            with z.open("x.npy") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape = read_header(fh)[0]
            with z.open("y.npy") as fh:
                y = np.lib.format.read_array(fh, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _unreadable(path, e) from None
    return image_shape(shape, path), len(label_values(y, path)[0])


def image_shape(shape: tuple[int, ...], path: Path) -> tuple[int, int, int]:
    """(H, W, C) of one image of an x of `shape`; (N, H, W) means grayscale."""
    full = (*shape, 1) if len(shape) == 3 else tuple(shape)
    if len(full) != 4 or full[-1] not in (1, 3):
        raise UserError(f"{path}: x has shape {tuple(shape)}; expected (N, H, W), (N, H, W, 1) or (N, H, W, 3)")
    return tuple(int(d) for d in full[1:])


def to_pixels(x: np.ndarray, path: Path) -> np.ndarray:
    """uint8 pixels from x, by the dtype's convention; values outside it are refused, never clipped."""
    if x.dtype == np.uint8:
        log.info("x is uint8: read as pixels 0..255")
        return x
    if x.dtype.kind in "iu":
        lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
        if lo < 0 or hi > 255:
            raise UserError(f"{path}: x is {x.dtype} with values {lo}..{hi}, outside the pixel range 0..255: "
                            f"save uint8 pixels 0..255 or floats scaled to [0, 1]")
        log.info(f"x is {x.dtype}: read as pixels 0..255")
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        raise UserError(f"{path}: x has dtype {x.dtype}: save uint8 pixels 0..255 or floats scaled to [0, 1]")
    _require_finite(x, path)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0 or hi > 1:
        raise UserError(f"{path}: x is {x.dtype} with values {lo:.4g}..{hi:.4g}, but float pixels must lie in [0, 1]: "
                        f"save uint8 pixels 0..255 or rescale x to [0, 1]")
    log.info(f"x is {x.dtype}: read as pixels in [0, 1], scaled to 0..255")
    scaled = np.multiply(x, np.float32(255), dtype=np.float32)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def label_values(y: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(distinct label values, each label's index among them). Whole-number floats (3.0) count as integers;
    fractional ones are refused: they are regression targets or a mistake, and each would become its own class."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = y[~whole]
            raise UserError(f"{path}: y holds {len(bad):,} non-integer label{'s' * (len(bad) != 1)} (e.g. "
                            f"{bad[0]:g}): labels must be class numbers 0, 1, 2, ... or class names (strings)")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iubUS":
        raise UserError(f"{path}: y has dtype {y.dtype}: labels must be class numbers 0, 1, 2, ... or class names")
    return np.unique(y, return_inverse=True)


def _require_finite(x: np.ndarray, path: Path) -> None:
    finite = np.isfinite(x)
    if finite.all():
        return
    n_nan = int(np.isnan(x).sum())
    n_inf = int(finite.size - finite.sum()) - n_nan
    counts = " and ".join(f"{n:,} {what} value{'s' * (n != 1)}" for n, what in ((n_nan, "NaN"), (n_inf, "infinite"))
                          if n)
    images = np.flatnonzero(~finite.reshape(len(x), -1).all(axis=1))
    where = first_few([f"x[{i}]" for i in images])
    them = "it" if n_nan + n_inf == 1 else "them"
    raise UserError(f"{path}: x holds {counts} (in {where}): replace {them} with pixel values or drop those images")


def _require_zip(path: Path) -> None:
    """Refuse what is not a zip before numpy sees it: np.load would try to unpickle it and say only that pickled
    data is not allowed."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    if head[:4] in _ZIP_STARTS:
        return
    what = ("it is empty" if not head else "it is a single .npy array from numpy.save"
            if head == b"\x93NUMPY" else "it is not a zip file")
    raise UserError(f"{path} is not an .npz archive made by numpy.savez ({what}): {SAVE_HINT}")


def _require_xy(arrays: list[str], path: Path) -> None:
    if "x" not in arrays or "y" not in arrays:
        raise UserError(f"{path} must hold arrays 'x' (images) and 'y' (labels); it has "
                        f"{', '.join(arrays) or 'no arrays'}: {SAVE_HINT}")


def _unreadable(path: Path, e: Exception) -> UserError:
    reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return UserError(f"cannot read {path} as .npz ({reason}): {SAVE_HINT}")
