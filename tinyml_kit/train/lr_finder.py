"""The learning-rate range test (Smith 2017, seed 001): train for a few hundred steps while the rate grows
geometrically, record each batch's loss (smoothed), and take half the rate at the loss minimum: past the minimum
the loss diverges, and the peak of a one-cycle schedule belongs just below the largest rate that still trains
(Smith 2018). The steepest-descent rate is recorded too, not used: on ResNet-8 the steepest fall of the loss
came at 1e-4, where an untrained network's loss drops fastest, and one-cycle to that peak lost 24 points
(bench/seed_methods.py); "minimum / 10" gave 1e-3 on the default TinyNet, a third of fit's own rate.

The model's weights are restored afterwards, so the test costs time but changes nothing else.
"""

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.train.data import Split, tf_dataset
from tinyml_kit.train.trainer import LABEL_SMOOTHING, epoch_steps

logger = logging.getLogger(__name__)

START_RATE, END_RATE = 1e-6, 10.0
MAX_STEPS = 200
SMOOTHING = 0.9             # exponential moving average of the loss, bias-corrected
DIVERGED = 4.0              # stop once the smoothed loss is this many times its minimum
BELOW_MINIMUM = 2.0         # the chosen rate is the minimum's rate divided by this
SKIP_START = 0.1            # the first steps are ignored: one lucky batch there once looked like the minimum
RATE_BOUNDS = (1e-4, 3e-2)  # a choice outside this is clipped: the test on a tiny dataset can be noisy


@dataclass
class RangeTest:
    rates: list[float]
    losses: list[float]      # smoothed
    minimum_rate: float
    steepest_rate: float
    chosen_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


def range_test(model, data: Split, batch_size: int, seed: int = 0, steps: int = MAX_STEPS,
               class_weight: dict | None = None) -> RangeTest:
    """Run the range test on `model` (weights restored afterwards) with plain cross-entropy."""
    from tinyml_kit._tf import keras

    k = keras()
    weights = model.get_weights()
    steps = max(20, min(steps, 4 * epoch_steps(data, batch_size)))
    factor = (END_RATE / START_RATE) ** (1 / (steps - 1))
    record = _recorder(k, START_RATE, factor)
    loss = k.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LABEL_SMOOTHING)
    model.compile(optimizer=k.optimizers.Adam(START_RATE), loss=loss)
    ds = tf_dataset(data.train, batch_size, training=True, seed=seed).repeat()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[record], class_weight=class_weight)
    model.set_weights(weights)
    return _choose(record.rates, record.losses)


def _recorder(k, start: float, factor: float):
    class Recorder(k.callbacks.Callback):
        """Sets each batch's rate, records the smoothed loss, stops once it diverges."""

        def __init__(self):
            super().__init__()
            self.rates, self.losses, self.average, self.best = [], [], 0.0, math.inf

        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate.assign(start * factor ** batch)
            self.model.reset_metrics()   # else `loss` is the epoch's running mean, not this batch's

        def on_train_batch_end(self, batch, logs=None):
            raw = float((logs or {}).get("loss", math.nan))
            self.average = SMOOTHING * self.average + (1 - SMOOTHING) * raw
            smoothed = self.average / (1 - SMOOTHING ** (batch + 1))
            self.rates.append(start * factor ** batch)
            self.losses.append(smoothed)
            self.best = min(self.best, smoothed)
            if not math.isfinite(smoothed) or (batch > 10 and smoothed > DIVERGED * self.best):
                self.model.stop_training = True

    return Recorder()


def _choose(rates: list[float], losses: list[float]) -> RangeTest:
    values = np.array([v if math.isfinite(v) else np.nan for v in losses])
    if np.isnan(values).all():
        raise UserError(f"the learning-rate range test's loss was never finite: check the data, or drop "
                        f"{param('lr_finder')} and give {param('learning_rate')}", "lr_finder")
    skip = min(max(5, round(SKIP_START * len(values))), len(values) - 1)
    at = skip + int(np.nanargmin(values[skip:])) if not np.isnan(values[skip:]).all() else int(np.nanargmin(values))
    skip = min(skip, at)
    minimum = rates[at]
    steepest = minimum
    if at - skip >= 2:   # the slope against log rate, between the skipped start and the minimum
        slope = np.gradient(values[skip: at + 1], np.log(rates[skip: at + 1]))
        steepest = rates[skip + int(np.nanargmin(slope))]
    chosen = float(np.clip(minimum / BELOW_MINIMUM, *RATE_BOUNDS))
    logger.info(f"learning-rate range test: {len(rates)} steps, loss lowest at rate {minimum:.2g} (falling fastest "
                f"at {steepest:.2g}); chosen rate {chosen:.2g}")
    return RangeTest([float(r) for r in rates], [float(v) if math.isfinite(v) else None for v in losses],
                     float(minimum), float(steepest), chosen)
