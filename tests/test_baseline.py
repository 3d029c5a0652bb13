"""`baseline --method bovw`: dense SIFT, k-means words, Hellinger histograms and a linear SVM on fit's own split;
beside a run, saved as baseline_bovw.json and shown in its report.html."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

from tinyml_kit.baseline import BovwParams, descriptors_per_image, run_bovw
from tinyml_kit.baseline.bovw import dense_sift, fit_vocabulary, grid, histograms
from tinyml_kit.core.errors import UserError
from tinyml_kit.pipeline import baseline as pipeline_baseline
from tinyml_kit.pipeline.baseline import run_baseline
from tinyml_kit.train.data import load_dataset, split

SMALL = BovwParams(vocab=50, side=24, step=3, patch=6)   # 64 descriptors per digit: seconds for all 1,797


@pytest.fixture(scope="module")
def digits_split():
    """fit's split of the built-in digits at their own 8x8 (no resizing, so no TensorFlow): the method upscales."""
    return split(load_dataset("digits", (8, 8, 1)), seed=0)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """40 digits each of classes 0, 1 and 2 (8x8): a whole baseline run in about a second."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == c)[:40] for c in range(3)])
    path = tmp_path_factory.mktemp("data") / "digits120.npz"
    np.savez(path, x=np.round(d.images[keep] * 255 / 16).astype(np.uint8), y=d.target[keep])
    return path


def test_bovw_learns_the_digits(digits_split):
    r = run_bovw(digits_split, SMALL)
    assert r.accuracy > 0.85 and r.macro_f1 > 0.85, (r.accuracy, r.macro_f1)   # chance is 0.1
    assert (r.train_images, r.val_images) == (len(digits_split.train.x), len(digits_split.val.x))
    assert r.descriptors_per_image == 64 and r.train_descriptors == 64 * r.train_images
    assert r.val_descriptors == 64 * r.val_images and r.kmeans_descriptors == r.train_descriptors
    confusion = np.array(r.confusion_matrix)
    assert confusion.shape == (10, 10) and confusion.sum() == r.val_images
    assert np.trace(confusion) == round(r.accuracy * r.val_images)
    assert r.method == "bovw" and r.vocab == 50 and r.params["side"] == 24 and r.seconds["total_s"] > 0


def test_dense_grid_gives_every_image_descriptors():
    """Even a blank image (where SIFT's detector finds nothing) gets one descriptor per grid point; small images
    are upscaled to 64 px, larger ones keep their size, and the grid is centred."""
    points = grid(64, 64, 4)
    xs = sorted({x for x, _ in points})
    assert len(points) == 256 and xs[0] == 64 - 1 - xs[-1] and np.allclose(np.diff(xs), 4)
    assert descriptors_per_image((8, 8, 1), BovwParams()) == descriptors_per_image((32, 32, 3), BovwParams()) == 256
    assert descriptors_per_image((100, 50, 3), BovwParams()) == 32 * 16        # shorter side 50 -> 64: 128x64
    assert descriptors_per_image((128, 128, 1), BovwParams(step=8)) == 256
    rng = np.random.default_rng(0)
    images = np.concatenate([np.zeros((1, 32, 32, 3), np.uint8), rng.integers(0, 256, (2, 32, 32, 3), np.uint8)])
    desc = dense_sift(images, BovwParams())
    assert desc.shape == (3, 256, 128) and desc.dtype == np.uint8
    assert desc[0].max() == 0 and desc[1:].max() > 0            # no gradient, no histogram mass; noise has both


def test_histograms_are_hellinger_mapped_and_the_seed_fixes_the_words(digits_split):
    desc = dense_sift(digits_split.train.x[:200], SMALL)
    kmeans, n = fit_vocabulary(desc, SMALL)
    h = histograms(desc, kmeans, SMALL)
    assert h.shape == (200, 50) and n == 200 * 64
    assert np.allclose((h ** 2).sum(axis=1), 1, atol=1e-5) and (h >= 0).all()   # sqrt of an L1-normalized histogram
    again, _ = fit_vocabulary(desc, SMALL)
    other, _ = fit_vocabulary(desc, replace(SMALL, seed=1))
    assert np.array_equal(kmeans.cluster_centers_, again.cluster_centers_)
    assert not np.array_equal(kmeans.cluster_centers_, other.cluster_centers_)


def test_cli_json_table_and_the_same_result_for_the_same_seed(tiny_npz, monkeypatch):
    seen = []

    def recording(parts, params):
        seen.append(parts)
        return run_bovw(parts, params)

    monkeypatch.setattr(pipeline_baseline, "run_bovw", recording)
    result = run("baseline", "--data", tiny_npz, "--vocab", 20, "--seed", 3, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    dataset = load_dataset(str(tiny_npz))
    parts = split(dataset, seed=3)                                  # fit's split of the same data and seed
    for mine, fits in ((seen[0].train, parts.train), (seen[0].val, parts.val)):
        assert np.array_equal(mine.x, fits.x) and np.array_equal(mine.y, fits.y)
    assert (d["train_images"], d["val_images"]) == (len(parts.train.x), len(parts.val.x)) == (96, 24)
    assert d["method"] == "bovw" and d["vocab"] == 20 and d["input_shape"] == [8, 8, 1] and d["seed"] == 3
    assert d["accuracy"] > 0.8 and d["macro_f1"] > 0.8                         # 3 classes: chance is 1/3
    assert d["descriptors_per_image"] == 256 and d["train_descriptors"] == 256 * 96
    assert d["model"] is None and d["written"] == [] and d["fingerprint"] == dataset.fingerprint()
    again = run_baseline("bovw", str(tiny_npz), vocab=20, seed=3).to_dict()
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in d.items() if k != "seconds"}
    table = run("baseline", "--data", tiny_npz, "--vocab", 20, "--seed", 3)
    assert table.exit_code == 0 and "bovw, 20 words" in table.stdout and f"{d['accuracy']:.4f}" in table.stdout
    assert "96 train / 24 validation images" in table.stdout


def test_help_loads_neither_opencv_nor_scikit_learn_nor_tensorflow():
    code = ("import sys; from tinyml_kit.cli import main\n"
            "for args in (['--help'], ['baseline', '--help']):\n"
            "    try: main(args)\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in ('cv2', 'sklearn', 'tensorflow') if m in sys.modules]\n"
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and "--vocab" in result.stdout, result.stderr


@pytest.fixture
def no_work(monkeypatch):
    """Fails a test whose refusal came only after the descriptors were being computed."""
    def refuse(*args, **kwargs):
        raise AssertionError("the baseline started before the input was checked")
    monkeypatch.setattr(pipeline_baseline, "run_bovw", refuse)


def test_bad_input_is_refused_before_any_work(tiny_npz, tmp_path, no_work):
    assert_one_line_error(run("baseline", "--method", "sift"), "--method", "sift")
    with pytest.raises(UserError, match="unknown baseline method 'sift'"):
        run_baseline("sift", str(tiny_npz))
    assert_one_line_error(run("baseline", "--data", tiny_npz, "--vocab", 1), "at least 2 words", "(--vocab)")
    assert_one_line_error(run("baseline", "--data", tiny_npz, "--vocab", 96 * 256 + 1),
                          "only 24,576 descriptors", "at most 24,576", "(--vocab)")
    assert_one_line_error(run("baseline", "--data", tmp_path / "none.npz"), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    for run_dir in (tmp_path / "missing", empty):
        assert_one_line_error(run("baseline", "--data", tiny_npz, "--run", run_dir), "not a run directory",
                              "(--run)")
    assert list(empty.iterdir()) == [] and not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_baseline_beside_a_run(fitted, digits_npz, tmp_path):
    import shutil

    out, report = tmp_path / "run", fitted[1]
    shutil.copytree(fitted[0], out)   # the baseline is written into the run: the session's run stays as it is
    page = (out / "report.html").read_text()
    assert 'id="baseline"' not in page
    # another split, other data or another input size than the run's: refused, nothing written
    assert_one_line_error(run("baseline", "--run", out, "--seed", 1), "seed 1", "--seed")
    assert_one_line_error(run("baseline", "--run", out, "--data", "digits"), "not the run's data", "--data")
    assert_one_line_error(run("baseline", "--run", out, "--input", "32,32,1"), "16x16x1", "--input")
    assert not list(out.glob("baseline_*")) and (out / "report.html").read_text() == page

    result = run("baseline", "--run", out, "--data", digits_npz, "--vocab", 20, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    data = report["data"]
    assert (d["train_images"], d["val_images"], d["fingerprint"], d["seed"]) == \
        (data["train_images"], data["val_images"], data["fingerprint"], data["seed"])
    assert d["input_shape"] == data["input_shape"] == [16, 16, 1]
    assert d["model"]["int8_accuracy"] == report["int8_accuracy"] == report["check"]["int8"]["accuracy"]
    assert d["model"]["int8_macro_f1"] == report["check"]["int8"]["macro_f1"]
    saved = json.loads((out / "baseline_bovw.json").read_text())
    assert saved == {k: v for k, v in d.items() if k != "written"}
    assert d["written"] == [str(out / "baseline_bovw.json"), str((out / "report.html").absolute())]

    page = (out / "report.html").read_text()
    section = page[page.index('<section id="baseline">'):]
    section = section[:section.index("</section>")]
    for value in (d["accuracy"], d["macro_f1"], report["int8_accuracy"], report["check"]["int8"]["macro_f1"]):
        assert f"{value:.4f}" in section, value
    assert "this model (int8, as deployed)" in section and "bovw: dense RootSIFT" in section

    # `report` re-renders with the baseline; one made on another split is left out
    stale = dict(saved, fingerprint="0" * 16)
    (out / "baseline_bovw.json").write_text(json.dumps(stale))
    assert run("report", out).exit_code == 0
    assert 'id="baseline"' not in (out / "report.html").read_text()
