"""Training: fixed seed, Adam with a cosine (or one-cycle) schedule, early stopping on validation accuracy, progress per
epoch.

The same loop trains from scratch, fine-tunes after pruning or for quantization-aware training, and distils
from a teacher: only the learning rate, the extra callbacks and the loss differ.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np

from tinyml_kit.core import progress
from tinyml_kit.train.data import Split, tf_dataset
from tinyml_kit.train.distill import distiller, outputs_probabilities
from tinyml_kit.train.schedules import learning_rate_schedule

logger = logging.getLogger(__name__)

LABEL_SMOOTHING = 0.05
EPOCHS, BATCH_SIZE = 30, 32   # `fit`'s recipe, which sweeps reproduce so that laws predict what `fit` measures


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    seconds: float
    history: dict[str, list[float]]


def train(model, data: Split, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE, learning_rate: float = 3e-3,
          patience: int = 10, seed: int = 0, teacher=None, temperature: float = 4.0,
          alpha_kd: float = 0.5, callbacks: tuple = (), schedule: str = "cosine",
          class_weight: dict | None = None, hint: str = "logits") -> TrainResult:
    """Train `model` in place; the weights of the best validation epoch are restored. The labels' loss reads the
    outputs as logits, or as probabilities where the model ends in a softmax. With a `teacher`, the loss
    is the distillation loss of `distill.distiller`. `class_weight`: a weight per class index (see
    `balanced_class_weights`), applied to the label and logit terms (not to distillation's map hints). `hint`: what else
    a distilled student matches (`train.hints`)."""
    from tinyml_kit._tf import keras, tf

    k = keras()
    k.utils.set_random_seed(seed)
    tf().config.experimental.enable_op_determinism()  # same seed, same run
    train_ds = tf_dataset(data.train, batch_size, training=True, seed=seed)
    val_ds = tf_dataset(data.val, 256, training=False)
    rates = learning_rate_schedule(schedule, learning_rate, epoch_steps(data, batch_size) * epochs)
    if teacher is not None:
        fitted = distiller(model, teacher, temperature, alpha_kd, label_smoothing=LABEL_SMOOTHING, hint=hint)
        fitted.compile(optimizer=k.optimizers.Adam(rates))
    else:
        fitted = model
        loss = k.losses.CategoricalCrossentropy(from_logits=not outputs_probabilities(model),
                                                label_smoothing=LABEL_SMOOTHING)
        model.compile(optimizer=k.optimizers.Adam(rates), loss=loss, metrics=["accuracy"])

    stop = k.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, restore_best_weights=True,
                                     mode="max")
    start = time.perf_counter()
    with progress.task(f"training {model.name}", total=epochs) as advance:
        history = fitted.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0,
                             callbacks=[_epoch_logger(k, epochs, advance), stop, *callbacks],
                             class_weight=class_weight)
    val_acc = history.history["val_accuracy"]
    best = max(range(len(val_acc)), key=val_acc.__getitem__)
    return TrainResult(epochs_run=len(val_acc), best_epoch=best + 1, val_accuracy=float(val_acc[best]),
                       seconds=time.perf_counter() - start,
                       history={k_: [float(v) for v in vals] for k_, vals in history.history.items()})


def epoch_steps(data: Split, batch_size: int) -> int:
    return max(1, -(-len(data.train.x) // batch_size))


def balanced_class_weights(labels, classes: int) -> dict[int, float]:
    """n / (classes · n_c) per class (scikit-learn's "balanced"): every class then weighs as much in the loss as it
    would with equal counts. A class absent from `labels` gets weight 0 (nothing to weigh)."""
    counts = np.bincount(np.asarray(labels), minlength=classes)
    return {c: (float(len(labels) / (classes * n)) if n else 0.0) for c, n in enumerate(counts)}


def _epoch_logger(k, epochs: int, advance):
    """A Keras callback logging each epoch's numbers and advancing the progress bar."""

    class EpochLog(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            logger.info(f"epoch {epoch + 1:3d}/{epochs}  loss {logs.get('loss', 0):.4f}  acc "
                        f"{logs.get('accuracy', 0):.4f}  val_loss {logs.get('val_loss', 0):.4f}  val_acc "
                        f"{logs.get('val_accuracy', 0):.4f}")
            advance()

    return EpochLog()
