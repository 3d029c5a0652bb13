"""Classic, non-deep baselines on the same train / validation split `fit` uses, so that a user can see what the
deep model buys on their data. `bovw`: dense SIFT, a k-means vocabulary, word histograms and a linear SVM.

No command-line knowledge here: a baseline takes a `Split` and returns a `BaselineResult` (plain typed data);
`pipeline.baseline.run_baseline` validates the request, loads the data and writes the result beside a run."""

from tinyml_kit.baseline.bovw import METHOD as BOVW
from tinyml_kit.baseline.bovw import (
    BaselineResult,
    BovwParams,
    descriptors_per_image,
    run_bovw,
)

METHODS = (BOVW,)

__all__ = ["BOVW", "METHODS", "BaselineResult", "BovwParams", "descriptors_per_image", "run_bovw"]
