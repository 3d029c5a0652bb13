"""Bag of Visual Words: dense SIFT -> k-means vocabulary -> Hellinger-mapped word histograms -> linear SVM.

The classic pipeline the product's research compared its networks against (Csurka et al. 2004; dense grids as in
Fei-Fei & Perona 2005), at its simplest: one histogram per image, no spatial pyramid. Every step is seeded, so the
same split and seed give the same numbers.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from tinyml_kit.check.metrics import classification_report
from tinyml_kit.core.errors import UserError
from tinyml_kit.train.data import Split

METHOD = "bovw"
SIFT_DIMS = 128
_CHUNK = 65_536   # descriptors assigned to words at a time: bounds the float32 copy and the distance matrix


@dataclass(frozen=True)
class BovwParams:
    """The knobs. Measured on a 5,085-image CIFAR-10 subset (32x32x3; fit's split with seed 0: 4,068 training and
    1,017 validation images; 200 words unless said). The vocabulary's draw alone (k-means seeds 0-2, 1 or 3
    initializations) moves the default's accuracy over 0.397-0.420, so differences under ~2 points are noise:

    - Dense, not detected, keypoints. SIFT's detector finds 13 keypoints per 32x32 image on average (238 of the
      5,085 images fewer than 5, 11 none): accuracy 0.240; upscaled to 64 px, 31 per image (1 image none): 0.274.
      A grid gives every image the same number of descriptors: 0.40-0.42 (64 px, step 4, size 8).
    - Upscaled to 64 px first: the same grid relative to the image on the native 32 px (step 2, size 4) gave
      0.346, step 4 with size 8 at 32 px 0.307.
    - Size 8: OpenCV's descriptor spans 4x4 cells of 1.5 x size pixels, 48x48 px of the 64 px image at size 8.
      Sizes 4, 6, 12, 16 gave 0.413, 0.426, 0.362, 0.362 (larger is also slower); step 8 instead of 4: 0.392.
    - RootSIFT 0.420 vs plain SIFT 0.413 (within noise, and free); SVM C 0.1, 1, 10: 0.398, 0.420, 0.415.
    - More words help: 100, 400, 800, 1,600 words gave 0.380, 0.448, 0.449, 0.486 (the vocabulary and histograms
      take 4 s at 100 words, 24 s at 1,600; the descriptors ~25-50 s, whatever the vocabulary).
    """
    vocab: int = 200
    step: int = 4                   # grid spacing, in pixels of the (upscaled) working image
    patch: float = 8.0              # SIFT keypoint size: the patch the descriptor describes
    side: int = 64                  # images whose shorter side is below this are upscaled to it
    root_sift: bool = True          # RootSIFT descriptors (L1, then square root) before clustering
    c: float = 1.0                  # the linear SVM's C
    kmeans_sample: int = 100_000    # training descriptors the vocabulary is fitted on (drawn with the seed)
    seed: int = 0


@dataclass
class BaselineResult:
    """A baseline's scores on the validation split, what it was fitted on, and its cost."""
    method: str
    description: str
    vocab: int
    accuracy: float
    macro_f1: float
    macro_precision: float
    macro_recall: float
    confusion_matrix: list[list[int]]   # rows: true class
    class_names: list[str]
    train_images: int
    val_images: int
    descriptors_per_image: int
    train_descriptors: int
    val_descriptors: int
    kmeans_descriptors: int
    input_shape: list[int]
    seconds: dict[str, float]
    params: dict

    def to_dict(self) -> dict:
        return asdict(self)


def working_size(input_shape: tuple[int, ...], side: int) -> tuple[int, int]:
    """(H, W) that SIFT sees: the image, upscaled (aspect kept) so its shorter side is at least `side`."""
    h, w = int(input_shape[0]), int(input_shape[1])
    scale = max(1.0, side / min(h, w))
    return round(h * scale), round(w * scale)


def grid(h: int, w: int, step: int) -> list[tuple[float, float]]:
    """(x, y) keypoint centres every `step` pixels, centred in the image, so that both borders lose the same."""
    def axis(n: int) -> np.ndarray:
        count = max(1, (n - 1) // step + 1)
        return (n - 1 - (count - 1) * step) / 2 + step * np.arange(count)
    return [(float(x), float(y)) for y in axis(h) for x in axis(w)]


def describe(params: BovwParams, input_shape: tuple[int, ...]) -> str:
    """The pipeline in one line, for the CLI and the report."""
    h, w = working_size(input_shape, params.side)
    return (f"dense {'Root' if params.root_sift else ''}SIFT (every {params.step} px, size {params.patch:g}, on "
            f"{h}x{w} gray) -> {params.vocab}-word k-means vocabulary -> Hellinger word histograms -> linear SVM")


def descriptors_per_image(input_shape: tuple[int, ...], params: BovwParams) -> int:
    """Known before any descriptor is computed (the grid is fixed), so a vocabulary larger than the training
    descriptors can be refused up front."""
    return len(grid(*working_size(input_shape, params.side), params.step))


def dense_sift(x: np.ndarray, params: BovwParams) -> np.ndarray:
    """(N, K, 128) uint8 SIFT descriptors on the grid, of each image converted to gray and upscaled.

    OpenCV's SIFT descriptors are whole numbers in 0..255, so uint8 holds them exactly at a quarter of float32's
    memory (5,085 CIFAR images x 256 keypoints: 167 MB)."""
    import cv2

    h, w = working_size(x.shape[1:], params.side)
    points = grid(h, w, params.step)
    keypoints = [cv2.KeyPoint(px, py, params.patch) for px, py in points]
    # Descriptors at given octave-0 keypoints read only the pyramid's base layer: one layer per octave gives the
    # same descriptors as the default three, at about 2/3 of the time.
    sift = cv2.SIFT_create(nOctaveLayers=1)
    out = np.empty((len(x), len(points), SIFT_DIMS), np.uint8)
    for i, image in enumerate(x):
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.shape[-1] == 3 else image[..., 0]
        if gray.shape != (h, w):
            gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_LINEAR)
        found, desc = sift.compute(gray, keypoints)
        if desc is None or len(found) != len(points):   # OpenCV keeps provided keypoints; refuse to misalign if not
            raise RuntimeError(f"SIFT returned {0 if desc is None else len(found)} of {len(points)} grid descriptors")
        out[i] = np.clip(np.rint(desc), 0, 255)
    return out


def _features(desc: np.ndarray, root_sift: bool) -> np.ndarray:
    """float32 descriptors to cluster; RootSIFT compares them by the Hellinger kernel, not Euclid, which
    (Arandjelovic & Zisserman 2012) keeps large gradient bins from dominating the distance."""
    f = desc.reshape(-1, SIFT_DIMS).astype(np.float32)
    if root_sift:
        f /= np.maximum(f.sum(axis=1, keepdims=True), 1e-6)
        np.sqrt(f, out=f)
    return f


def _one_thread():
    """scikit-learn's k-means on one thread (OpenMP and BLAS). Its result depends on the thread count (the
    inertia's last digits, then the words), so one thread keeps a seed's result the same on any machine; and it is
    faster here: on 2 busy cores, fitting 200 words to 61k descriptors took 1.0-1.3 s on one thread, 9-19 s on
    two (threads waiting for each other)."""
    return threadpool_limits(limits=1)


def fit_vocabulary(train_desc: np.ndarray, params: BovwParams):
    """MiniBatchKMeans on a seeded sample of the training descriptors (never the validation ones). The sample
    bounds the time on large sets; 100k descriptors is ~500 per word at 200 words."""
    from sklearn.cluster import MiniBatchKMeans

    flat = train_desc.reshape(-1, SIFT_DIMS)
    if not 2 <= params.vocab <= len(flat):
        raise UserError(f"vocabulary of {params.vocab:,} words from {len(flat):,} training descriptors: choose "
                        f"between 2 and {len(flat):,}", "vocab")
    rng = np.random.default_rng(params.seed)
    n = min(len(flat), max(params.kmeans_sample, 20 * params.vocab))
    sample = flat[np.sort(rng.choice(len(flat), n, replace=False))] if n < len(flat) else flat
    kmeans = MiniBatchKMeans(n_clusters=params.vocab, batch_size=4096, n_init=1, max_iter=100,
                             random_state=params.seed)
    with _one_thread():
        kmeans.fit(_features(sample, params.root_sift))
    return kmeans, n


def histograms(desc: np.ndarray, kmeans, params: BovwParams) -> np.ndarray:
    """(N, vocab) word histograms, L1-normalized and square-rooted (the Hellinger map).

    L1 makes an image's histogram a distribution over words, whatever its descriptor count; the square root makes
    a linear SVM's dot product the Bhattacharyya coefficient of two distributions, so frequent, uninformative
    words (flat sky, background) weigh less than with raw counts. This is the explicit feature map of the
    Hellinger kernel (Vedaldi & Zisserman 2012): a linear SVM gets most of a kernel SVM's gain at linear cost."""
    n, k = desc.shape[:2]
    flat = desc.reshape(-1, SIFT_DIMS)
    with _one_thread():
        words = np.concatenate([kmeans.predict(_features(flat[i:i + _CHUNK], params.root_sift))
                                for i in range(0, len(flat), _CHUNK)])
    owner = np.repeat(np.arange(n), k)
    counts = np.bincount(owner * params.vocab + words, minlength=n * params.vocab).reshape(n, params.vocab)
    h = counts.astype(np.float32)
    h /= np.maximum(h.sum(axis=1, keepdims=True), 1.0)
    return np.sqrt(h)


def _classifier(params: BovwParams):
    """A linear SVM (one-vs-rest) solved in the primal, as liblinear advises when the images outnumber the
    features (here the words); seeded, like every step."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=params.c, dual=False, max_iter=5000, random_state=params.seed)


def run_bovw(parts: Split, params: BovwParams) -> BaselineResult:
    """Fit the vocabulary and the SVM on `parts.train`, score on `parts.val`."""
    seconds, started = {}, time.perf_counter()
    tick = started

    def lap(key: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        seconds[key], tick = round(now - tick, 2), now

    train_desc, val_desc = dense_sift(parts.train.x, params), dense_sift(parts.val.x, params)
    lap("descriptors_s")
    kmeans, n_fit = fit_vocabulary(train_desc, params)
    lap("vocabulary_s")
    train_h, val_h = histograms(train_desc, kmeans, params), histograms(val_desc, kmeans, params)
    lap("histograms_s")
    svm = _classifier(params).fit(train_h, parts.train.y)
    predicted = svm.predict(val_h)
    lap("svm_s")
    seconds["total_s"] = round(time.perf_counter() - started, 2)
    names = parts.train.class_names
    r = classification_report(parts.val.y, predicted, len(names))
    return BaselineResult(
        method=METHOD, description=describe(params, parts.train.input_shape), vocab=params.vocab,
        accuracy=r["accuracy"], macro_f1=r["macro_f1"],
        macro_precision=r["macro_precision"], macro_recall=r["macro_recall"], confusion_matrix=r["confusion_matrix"],
        class_names=list(names), train_images=len(parts.train.x), val_images=len(parts.val.x),
        descriptors_per_image=train_desc.shape[1], train_descriptors=int(np.prod(train_desc.shape[:2])),
        val_descriptors=int(np.prod(val_desc.shape[:2])), kmeans_descriptors=n_fit,
        input_shape=list(parts.train.input_shape), seconds=seconds, params=asdict(params))
