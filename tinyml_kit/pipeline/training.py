"""`fit`'s training stage: the model built (or started from another's weights), the teacher resolved, the
learning rate found if asked, the first stages frozen if asked, the model trained in place, then optionally
fine-tuned with every layer trainable. `sweep` trains each configuration with it too, so a sweep's accuracies
are fit's."""

import logging
from dataclasses import dataclass, field

from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.teachers import resolve_teacher
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.train.lr_finder import range_test
from tinyml_kit.train.options import TrainOptions
from tinyml_kit.train.stages import freeze_stages, unfreeze
from tinyml_kit.train.trainer import balanced_class_weights, train

logger = logging.getLogger(__name__)

UNFREEZE_RATE_FACTOR = 0.1   # every layer trainable: a tenth of the rate, not to undo the pre-trained features


@dataclass
class Trained:
    model: object
    teacher: object | None
    teacher_info: dict | None
    result: object                    # train.trainer.TrainResult of the main phase
    recipe: dict = field(default_factory=dict)   # options, range test, frozen stages, the unfrozen phase


def train_model(arch: str, knobs: dict, parts, epochs: int, batch_size: int, seed: int,
                compression: CompressOptions, options: TrainOptions | None = None, model=None) -> Trained:
    """Train `arch` with `knobs` (or `model`, e.g. one made by `train.transfer.transferred`) on `parts`."""
    from tinyml_kit._tf import keras

    options = options or TrainOptions()
    keras().utils.set_random_seed(seed)  # weight initialisation too, not only training, follows the seed
    if model is None:
        model = build(arch, parts.train.input_shape, len(parts.train.class_names), **knobs)
    teacher, teacher_info = resolve_teacher(compression, model, parts, epochs, batch_size, seed)
    weights = (balanced_class_weights(parts.train.y, len(parts.train.class_names))
               if options.class_weight == "balanced" else None)
    recipe = {**options.to_dict(), "class_weights": weights}
    if options.freeze_stages:
        recipe["frozen_params"] = _freeze(model, options.freeze_stages)
    rate, recipe["lr_rule"] = options.start_rate, "default" if options.learning_rate is None else "given"
    if options.lr_finder:
        test = range_test(model, parts, batch_size, seed, class_weight=weights)
        recipe["lr_finder"], rate, recipe["lr_rule"] = test.to_dict(), test.chosen_rate, test.rule
    recipe["learning_rate"] = rate
    common = {"batch_size": batch_size, "seed": seed, "teacher": teacher, "temperature": compression.temperature,
              "alpha_kd": compression.alpha_kd, "class_weight": weights, "hint": compression.distill}
    trained = train(model, parts, epochs=epochs, learning_rate=rate, schedule=options.schedule, **common)
    if options.unfreeze_epochs:
        recipe["unfreeze"] = _unfrozen_phase(model, parts, options.unfreeze_epochs, rate, common,
                                             trained.val_accuracy)
    if options.freeze_stages:
        unfreeze(model)   # frozen is how it was trained, not what it is: costs count trainable weights
    return Trained(model, teacher, teacher_info, trained, recipe)


def _freeze(model, count: int) -> int:
    total = model_costs(model).params
    frozen = freeze_stages(model, count)
    logger.info(f"frozen: the stem and {count} stage(s), {frozen:,} of {total:,} parameters")
    return frozen


def _unfrozen_phase(model, parts, epochs: int, rate: float, common: dict, frozen_accuracy: float) -> dict:
    """Every layer trained at a lower rate; the frozen phase's weights are kept if this phase does not beat
    their validation accuracy."""
    before = model.get_weights()
    unfreeze(model)
    rate = rate * UNFREEZE_RATE_FACTOR
    logger.info(f"every layer trainable: {epochs} more epochs at rate {rate:.2g} ...")
    result = train(model, parts, epochs=epochs, learning_rate=rate, schedule="cosine", **common)
    kept = result.val_accuracy > frozen_accuracy
    if not kept:
        model.set_weights(before)
        logger.info(f"the unfrozen phase reached {result.val_accuracy:.4f}, not above {frozen_accuracy:.4f}: the "
                    f"frozen phase's weights are kept")
    return {"kept": kept, "epochs": epochs, "learning_rate": rate, "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch, "val_accuracy": round(result.val_accuracy, 4),
            "history": result.history}
