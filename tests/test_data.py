import numpy as np
import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.train.data import load_dataset, split, tf_dataset


def _write_png(path, array):
    from tinyml_kit._tf import tf

    path.write_bytes(tf().io.encode_png(array).numpy())


def test_digits_is_built_in_and_upscaled():
    data = load_dataset("digits")
    assert data.x.shape == (1797, 32, 32, 1) and data.x.dtype == np.uint8
    assert data.x.max() == 255 and len(data.class_names) == 10
    assert not data.flip_invariant


def test_split_is_deterministic_and_stratified():
    data = load_dataset("digits")
    a, b = split(data, seed=3), split(data, seed=3)
    assert np.array_equal(a.val.y, b.val.y) and np.array_equal(a.val.x, b.val.x)
    assert len(a.val.x) + len(a.train.x) == len(data.x)
    counts = np.bincount(a.val.y, minlength=10)
    assert counts.min() >= 33 and counts.max() <= 38
    assert not np.array_equal(split(data, seed=4).val.x, a.val.x)


def test_npz_resized_and_labels_remapped(tmp_path):
    x = np.random.default_rng(0).random((12, 10, 10, 3)).astype(np.float32)  # floats in [0, 1]
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.array([5, 7] * 6))
    data = load_dataset(str(path), (16, 16, 3))
    assert data.x.shape == (12, 16, 16, 3) and data.x.dtype == np.uint8
    assert data.class_names == ["5", "7"] and set(data.y) == {0, 1}


def test_npz_class_names_follow_label_values(tmp_path):
    path = tmp_path / "named.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 2, 0, 2]), class_names=np.array(["a", "b", "c"]))
    assert load_dataset(str(path)).class_names == ["a", "c"]
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 3, 0, 3]), class_names=np.array(["a", "b"]))
    with pytest.raises(UserError, match="y must index class_names"):
        load_dataset(str(path))


def test_empty_class_folder_is_named(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_png(tmp_path / "a" / "0.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="class folder .*b has no images"):
        load_dataset(str(tmp_path))


def test_image_folder_any_size(tmp_path):
    rng = np.random.default_rng(0)
    for cls, size in (("cat", (20, 30)), ("dog", (40, 12))):
        (tmp_path / cls).mkdir()
        for i in range(3):
            _write_png(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    data = load_dataset(str(tmp_path), (24, 24, 3))
    assert data.x.shape == (6, 24, 24, 3) and data.class_names == ["cat", "dog"]
    gray = load_dataset(str(tmp_path), (24, 24, 1))
    assert gray.x.shape == (6, 24, 24, 1)


def test_tf_dataset_batches_and_augments():
    data = split(load_dataset("digits"), seed=0)
    x, y = next(iter(tf_dataset(data.train, 16, training=True)))
    assert x.shape == (16, 32, 32, 1) and y.shape == (16, 10)
    assert float(x.numpy().max()) <= 255.0


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "no class sub-folders"),
    (lambda p: (p / "a").mkdir(parents=True), "has no images"),
])
def test_bad_folders(tmp_path, make, message):
    target = tmp_path / "data"
    make(target)
    with pytest.raises(UserError, match=message):
        load_dataset(str(target))


def test_one_class_only(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(4))
    with pytest.raises(UserError, match="only one class"):
        load_dataset(str(path))


def test_unreadable_image_is_named(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        _write_png(tmp_path / cls / "ok.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot decode image .*broken.jpg"):
        load_dataset(str(tmp_path))


def test_npz_without_arrays(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((2, 8, 8)))
    with pytest.raises(UserError, match="must hold arrays 'x'"):
        load_dataset(str(path))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.npz is not an .npz archive made by numpy.savez"):
        load_dataset(str(tmp_path / "junk.npz"))
