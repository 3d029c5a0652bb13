"""Bad data is refused in one line naming the problem and the fix, before anything slow runs or anything is
written; good data in every documented convention still loads."""

import logging
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import patch_everywhere

from tinyml_kit.cli import main
from tinyml_kit.core.errors import UserError
from tinyml_kit.train import data as data_module
from tinyml_kit.train.data import load_dataset, peek_dataset, split


def _fit_error(tmp_path, *args) -> str:
    """Run `fit` expected to fail on its data: exit 2, exactly one `error:` line, no traceback, no run directory."""
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["fit", *map(str, args), "--out", str(out)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and "Traceback" not in result.stderr, result.stderr
    assert [ln for ln in lines if ln.startswith("error: ")] == [lines[-1]], result.stderr
    assert not out.exists()
    return lines[-1]


def _npz(tmp_path, x, y, name="d.npz"):
    path = tmp_path / name
    np.savez(path, x=x, y=y)
    return str(path)


def _png(path, size=(9, 9)):
    from tinyml_kit._tf import tf

    path.write_bytes(tf().io.encode_png(np.full((*size, 3), 100, np.uint8)).numpy())


# 1. float pixels ---------------------------------------------------------------------------------------------------

def test_nan_and_inf_are_counted_and_located(tmp_path):
    x = np.full((20, 8, 8), 0.5, np.float32)
    x[17, 2, 3] = np.nan
    with pytest.raises(UserError, match=r"x holds 1 NaN value \(in x\[17\]\): replace it"):
        load_dataset(_npz(tmp_path, x, np.arange(20) % 2))
    x[[3, 5, 9, 11], 0, 0] = np.inf
    with pytest.raises(UserError, match=r"1 NaN value and 4 infinite values \(in x\[3\], x\[5\], x\[9\] and 2 more\)"):
        load_dataset(_npz(tmp_path, x, np.arange(20) % 2))


@pytest.mark.parametrize("low,high,shown", [(0.0, 1.01, "0..1.01"), (-0.5, 0.5, "-0.5..0.5"), (0.0, 255.0, "0..255")])
def test_floats_outside_unit_range_are_refused_not_rescaled(tmp_path, low, high, shown):
    x = np.full((10, 8, 8), (low + high) / 2, np.float32)
    x[0, 0, 0], x[1, 1, 1] = low, high
    with pytest.raises(UserError, match=rf"float32 with values {shown}, but float pixels must lie in \[0, 1\]: "
                                        r"save uint8 pixels 0..255 or rescale x to \[0, 1\]"):
        load_dataset(_npz(tmp_path, x, np.arange(10) % 2))


def test_float_npz_through_fit_leaves_nothing(tmp_path):
    x = np.full((10, 8, 8), 0.5, np.float32)
    x[4, 0, 0] = 1.01
    assert "rescale x to [0, 1]" in _fit_error(tmp_path, "--data", _npz(tmp_path, x, np.arange(10) % 2))


def test_pixel_conventions_follow_the_dtype(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tinyml_kit.train.npz")
    floats = np.tile(np.array([0.0, 0.2, 1.0, 0.5], np.float32), (4, 8, 2))         # (4, 8, 8)
    got = load_dataset(_npz(tmp_path, floats, [0, 1, 0, 1])).x[..., 0]
    assert got.dtype == np.uint8 and np.array_equal(got, np.rint(floats * 255).astype(np.uint8))
    assert "x is float32: read as pixels in [0, 1], scaled to 0..255" in caplog.text
    ints = np.tile(np.array([0, 7, 200, 255], np.int16), (4, 8, 2))
    assert np.array_equal(load_dataset(_npz(tmp_path, ints, [0, 1, 0, 1])).x[..., 0], ints)
    assert "x is int16: read as pixels 0..255" in caplog.text
    with pytest.raises(UserError, match="x is int16 with values -1..254, outside the pixel range 0..255"):
        load_dataset(_npz(tmp_path, ints - 1, [0, 1, 0, 1]))
    with pytest.raises(UserError, match="x has dtype bool: save uint8 pixels"):
        load_dataset(_npz(tmp_path, ints > 0, [0, 1, 0, 1]))


# 2. labels ---------------------------------------------------------------------------------------------------------

def test_fractional_labels_are_refused(tmp_path):
    x = np.zeros((10, 8, 8), np.uint8)
    with pytest.raises(UserError, match=r"y holds 10 non-integer labels \(e.g. 0.5\): labels must be class numbers"):
        load_dataset(_npz(tmp_path, x, np.arange(10) + 0.5))


def test_whole_float_and_string_labels_still_load(tmp_path):
    x = np.zeros((6, 8, 8), np.uint8)
    data = load_dataset(_npz(tmp_path, x, np.array([3.0, 1.0, 3.0, 1.0, 3.0, 1.0])))
    assert data.class_names == ["1", "3"] and list(data.y) == [1, 0, 1, 0, 1, 0]
    data = load_dataset(_npz(tmp_path, x, np.array(["dog", "cat"] * 3)))
    assert data.class_names == ["cat", "dog"] and list(data.y) == [1, 0, 1, 0, 1, 0]


# 3. not an .npz ----------------------------------------------------------------------------------------------------

def test_text_file_named_npz_is_named_as_such(tmp_path):
    (tmp_path / "x.npz").write_text("label,path\n0,a.png\n")
    assert "x.npz is not an .npz archive made by numpy.savez (it is not a zip file): save it with numpy.savez(" \
        in _fit_error(tmp_path, "--data", tmp_path / "x.npz")
    np.save(tmp_path / "a.npy", np.zeros((2, 8, 8), np.uint8))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(UserError, match=r"a.npz is not an .npz archive .*a single .npy array from numpy.save"):
        load_dataset(str(tmp_path / "a.npz"))


# 4. image folders --------------------------------------------------------------------------------------------------

def test_unsupported_images_are_refused_with_count_and_example(tmp_path):
    for cls in ("cat", "dog", "eel"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(10):
            _png(tmp_path / "d" / cls / f"{i}.png")
        for i in range(20):
            (tmp_path / "d" / cls / (f"{i}.webp" if i % 2 else f"{i}.TIFF")).write_bytes(b"RIFF....WEBP")
        (tmp_path / "d" / cls / ".hidden.tif").write_bytes(b"")
    line = _fit_error(tmp_path, "--data", tmp_path / "d")
    assert "60 of 90 images are not PNG, JPEG, BMP or GIF (e.g. " in line and "/d/cat/0.TIFF" in line
    assert line.endswith("convert them to PNG or JPEG, or remove them")


def test_non_images_are_ignored_with_a_warning(tmp_path, caplog):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            _png(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "README.txt").write_text("photos from 2019")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "dog" / "old").mkdir()
    data = load_dataset(str(tmp_path), (8, 8, 3))
    assert len(data.x) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "ignored 1 file that is not an image" in warnings[0]
    assert "README.txt" in warnings[0] and "DS_Store" not in caplog.text
    assert "ignored 1 sub-folder inside class folders" in warnings[1] and "old" in warnings[1]


# 5. one-image classes ----------------------------------------------------------------------------------------------

def test_one_image_class_is_named(tmp_path):
    for cls, n in (("cat", 1), ("dog", 4)):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(n):
            _png(tmp_path / "d" / cls / f"{i}.png")
    assert _fit_error(tmp_path, "--data", tmp_path / "d", "--input", "8,8,3").endswith(
        "class 'cat' has 1 image; every class needs at least 2 (one to train, one to validate): "
        "add images to it or remove it")


def test_many_one_image_classes_are_counted(tmp_path):
    data = load_dataset(_npz(tmp_path, np.zeros((10_002, 8, 8), np.uint8), np.r_[np.arange(10_000), 0, 1]))
    with pytest.raises(UserError, match=r"^9,998 classes have 1 image \('2', '3', '4' and 9,995 more\); every class "
                                        r"needs at least 2"):
        split(data)


# 6. memory and input size ------------------------------------------------------------------------------------------

def test_huge_input_is_refused_before_resizing(tmp_path, monkeypatch):
    def no_resize(*_):
        raise AssertionError("resized")

    patch_everywhere(monkeypatch, data_module, "_resize", no_resize)
    with pytest.raises(UserError, match=r"^resizing 1,797 images to 2000x2000x3 needs 21.6 GB, more than the 2 GiB "
                                        r"limit: choose a smaller input size \(at most 631x631x3 for 1,797 images\)"):
        load_dataset("digits", (2000, 2000, 3))


def test_folder_too_big_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "MAX_RESIZED_BYTES", 500)
    patch_everywhere(monkeypatch, data_module, "decode_images", lambda files: pytest.fail("decoded"))
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            (tmp_path / cls / f"{i}.png").write_bytes(b"never decoded")
    with pytest.raises(UserError, match="resizing 4 images to 16x16x3 needs 0.0 GB.*use fewer images"):
        load_dataset(str(tmp_path), (16, 16, 3))


@pytest.mark.parametrize("shape,message", [
    ((4, 4, 1), "input 4x4x1 is smaller than 8x8: choose an input of at least 8x8"),
    ((16, 7, 3), "input 16x7x3 is smaller than 8x8"),
    ((16, 16, 2), r"input 16x16x2 has 2 channels: choose 1 \(grayscale\) or 3 \(RGB\)"),
    ((16, 16), r"input shape \(16, 16\) is not \(height, width, channels\)"),
])
def test_input_shape_limits(shape, message):
    with pytest.raises(UserError, match=message):
        load_dataset("digits", shape)


def test_tiny_native_images_need_an_input_size(tmp_path):
    path = _npz(tmp_path, np.zeros((4, 4, 4, 3), np.uint8), [0, 1, 0, 1])
    assert "input 4x4x3 is smaller than 8x8" in _fit_error(tmp_path, "--data", path)
    assert load_dataset(path, (8, 8, 3)).x.shape == (4, 8, 8, 3)


# 7. peek_dataset ---------------------------------------------------------------------------------------------------

def test_peek_digits_folder_and_npz(tmp_path):
    assert peek_dataset("digits") == ((8, 8, 1), 10) == (load_dataset("digits", (8, 8, 1)).input_shape, 10)
    for cls in ("a", "b", "c", ".git"):
        (tmp_path / "f" / cls).mkdir(parents=True)
    assert peek_dataset(str(tmp_path / "f")) == (None, 3)
    gray = _npz(tmp_path, np.zeros((6, 12, 10), np.uint8), np.array(["x", "y", "z"] * 2), "g.npz")
    assert peek_dataset(gray) == ((12, 10, 1), 3)
    rgb = tmp_path / "c.npz"
    np.savez_compressed(rgb, x=np.zeros((5, 9, 11, 3), np.float32), y=np.array([0, 4, 4, 7, 0]))
    assert peek_dataset(str(rgb)) == ((9, 11, 3), 3)


def test_peek_reads_only_the_header_of_x(tmp_path):
    """An x.npy holding only its header (20,000 64x64x3 images, no pixels) peeks; loading it fails."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (20_000, 64, 64, 3)}
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("x.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
        with z.open("y.npy", "w") as fh:
            np.lib.format.write_array(fh, np.arange(20_000) % 10)
    assert peek_dataset(str(path)) == ((64, 64, 3), 10)
    with pytest.raises(UserError, match="cannot read .*big.npz as .npz"):
        load_dataset(str(path))


@pytest.mark.parametrize("make", [
    lambda p: p / "missing.npz",
    lambda p: p / "missing-folder",
    lambda p: (p / "t.npz").write_text("not numpy") and p / "t.npz",
    lambda p: np.savez(p / "i.npz", images=np.zeros(3)) or p / "i.npz",
    lambda p: (p / "e").mkdir() or p / "e",
    lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt",
    lambda p: np.savez(p / "s.npz", x=np.zeros((2, 8, 8, 4)), y=[0, 1]) or p / "s.npz",
    lambda p: np.savez(p / "f.npz", x=np.zeros((2, 8, 8)), y=[0.5, 1]) or p / "f.npz",
])
def test_peek_refuses_like_load(tmp_path, make):
    source = str(make(tmp_path))
    with pytest.raises(UserError) as peeked:
        peek_dataset(source)
    with pytest.raises(UserError) as loaded:
        load_dataset(source)
    assert str(peeked.value) == str(loaded.value) and "\n" not in str(peeked.value)
