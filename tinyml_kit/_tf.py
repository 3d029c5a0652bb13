"""The single place TensorFlow and tf_keras are imported.

tfmot (pruning, QAT) needs the Keras 2 API, so TF_USE_LEGACY_KERAS must be set before TensorFlow loads.
Callers use `tf()` / `keras()` inside functions so commands that never train stay fast.
"""

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    from tinyml_kit.core.stderr import captured_stderr

    with captured_stderr():  # CUDA-stub and absl start-up notices, meaningless on a CPU-only install
        import tensorflow

    tensorflow.get_logger().setLevel(logging.ERROR)
    return tensorflow


@lru_cache(maxsize=1)
def keras():
    tf()
    import tf_keras

    return tf_keras


@lru_cache(maxsize=1)
def keras3():
    """The Keras 3 package (what `import keras` gives on TensorFlow 2.16+), on the TensorFlow backend beside tf_keras
    in the same process: only to read a user's model saved with it (`pipeline.foreign_keras3`)."""
    tf()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras
