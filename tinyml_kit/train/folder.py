"""Reading an image folder: one sub-folder per class, each holding PNG, JPEG, BMP or GIF files.

Images in other formats (WebP, TIFF, HEIC ...) are refused, not skipped: skipping them silently changed the data
a user believed they trained on (60 of 90 files dropped without a word). Files that are not images at all
(README.txt, labels.csv, Thumbs.db) and sub-folders inside a class folder are ignored with one logged warning,
since notes and metadata beside images are common and harmless. Hidden entries ('.DS_Store') are ignored silently.
"""

import logging
import mimetypes
from pathlib import Path

import numpy as np

from tinyml_kit.core.errors import UserError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}   # what tf.io.decode_image reads
# Image formats people keep data sets in that the decoder cannot read (mimetypes adds the ones it knows).
OTHER_IMAGE_SUFFIXES = {".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".ppm",
                        ".pgm", ".pbm", ".pnm", ".ico", ".svg", ".tga", ".psd", ".exr", ".hdr", ".dng", ".cr2",
                        ".nef", ".arw", ".raw"}


def class_folders(path: Path) -> list[str]:
    """The class names: the folder's non-hidden sub-folders, sorted (a class's index is its place here)."""
    try:
        classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise UserError(f"cannot read folder {path}: {e.strerror}") from None
    if not classes:
        raise UserError(f"folder {path} has no class sub-folders: put each class's images in its own sub-folder")
    return classes


def list_images(path: Path, classes: list[str]) -> list[list[Path]]:
    """Each class's image files, sorted; refuses images the decoder cannot read and empty classes."""
    per_class, unsupported, other_files, sub_folders = [], [], [], []
    for name in classes:
        images = []
        for entry in _entries(path / name):
            if entry.is_dir():
                sub_folders.append(entry)
            elif entry.suffix.lower() in IMAGE_SUFFIXES:
                images.append(entry)
            elif _looks_like_image(entry):
                unsupported.append(entry)
            else:
                other_files.append(entry)
        per_class.append(images)
    n_images = sum(map(len, per_class))
    if unsupported:
        raise UserError(f"folder {path}: {len(unsupported):,} of {n_images + len(unsupported):,} images are not "
                        f"PNG, JPEG, BMP or GIF (e.g. {unsupported[0]}): convert them to PNG or JPEG, or remove them")
    if not n_images:
        raise UserError(f"folder {path} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders")
    empty = [path / name for name, images in zip(classes, per_class, strict=False) if not images]
    if empty:
        raise UserError(f"class folder {empty[0]} has no images: add some or remove the folder")
    _warn_ignored(path, other_files, sub_folders)
    return per_class


def decode_images(files: list[Path]) -> list[np.ndarray]:
    """Each file as (H, W, 3) uint8 at its own size (GIFs: the first frame)."""
    from tinyml_kit._tf import tf

    images = []
    for file in files:
        try:
            images.append(tf().io.decode_image(file.read_bytes(), channels=3, expand_animations=False).numpy())
        except Exception:
            raise UserError(f"cannot decode image {file}: remove it or convert it to PNG/JPEG") from None
    return images


def _entries(folder: Path) -> list[Path]:
    try:
        return [e for e in sorted(folder.iterdir()) if not e.name.startswith(".")]
    except OSError as e:
        raise UserError(f"cannot read class folder {folder}: {e.strerror}") from None


def _looks_like_image(file: Path) -> bool:
    suffix = file.suffix.lower()
    return suffix in OTHER_IMAGE_SUFFIXES or (mimetypes.guess_type(file.name)[0] or "").startswith("image/")


def _warn_ignored(path: Path, other_files: list[Path], sub_folders: list[Path]) -> None:
    if other_files:
        n = len(other_files)
        log.warning(f"folder {path}: ignored {n:,} file{'s' * (n != 1)} that {'are' if n != 1 else 'is'} not "
                    f"an image (e.g. {other_files[0]})")
    if sub_folders:
        n = len(sub_folders)
        log.warning(f"folder {path}: ignored {n:,} sub-folder{'s' * (n != 1)} inside class folders (e.g. "
                    f"{sub_folders[0]}): images must sit directly in their class folder")
