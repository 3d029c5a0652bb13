"""Who the student distils from: a teacher (loaded, or "auto": the network the laws rate most accurate among
those at least twice the student's size, trained here), and optionally a teacher-assistant between the two
(progressive distillation, Mirzadeh et al. 2020). Every model is made, and every refusal said, before any of
them trains."""

import logging

from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.stages import stage_numbers
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.train.data import Split
from tinyml_kit.train.distill import auto_assistant, auto_teacher, load_teacher
from tinyml_kit.train.hints import hint_pairs
from tinyml_kit.train.trainer import train

logger = logging.getLogger(__name__)

# A teacher this close to chance (as a fraction of the way from chance to perfect) has nothing to teach.
TEACHER_MIN_SKILL = 0.1


def resolve_teacher(options: CompressOptions, student, parts: Split, epochs: int, batch_size: int,
                    seed: int) -> tuple[object | None, dict | None]:
    """The model the student distils from (the teacher, or the assistant distilled from it), trained if "auto",
    and what to report about it."""
    if not options.teacher:
        return None, None

    shape, classes = parts.train.input_shape, len(parts.train.class_names)
    student_params = model_costs(student).params
    teacher, source = _model("teacher", options.teacher, shape, classes, seed, student_params)
    assistant = None
    if options.assistant:
        assistant, assistant_source = _model("assistant", options.assistant, shape, classes, seed, student_params,
                                             model_costs(teacher).params)
    _require_hints(options.distill, student, teacher, assistant)
    if source["source"] == "auto":
        _train(teacher, "teacher", parts, epochs, batch_size, seed)
    info = _judged(teacher, parts, source, student_params)
    if assistant is None:
        return teacher, info
    if assistant_source["source"] == "auto":
        _train(assistant, "assistant", parts, epochs, batch_size, seed, teacher, options)
    assistant_info = stage_numbers("assistant", assistant, parts.val, **assistant_source)
    logger.info(f"assistant: {assistant_info['params']:,} params, validation accuracy "
                f"{assistant_info['float_accuracy']:.4f}")
    return assistant, {**info, "assistant": assistant_info}


def _model(role: str, given: str, shape, classes: int, seed: int, student_params: int,
           teacher_params: int | None = None):
    """The teacher or assistant `given` (a path, or "auto": built untrained), and where it came from."""
    if given != "auto":
        return load_teacher(given, shape, classes, role, role), {"source": str(given)}
    from tinyml_kit._tf import keras

    family, knobs = (auto_teacher(student_params, shape, classes) if role == "teacher"
                     else auto_assistant(student_params, teacher_params, shape, classes))
    keras().utils.set_random_seed(seed)
    return build(family, shape, classes, **knobs), {"source": "auto", "arch": family, "knobs": knobs}


def _require_hints(kind: str, student, teacher, assistant) -> None:
    """Maps to match exist between each learner and its teacher (refused in one line otherwise)."""
    if kind == "logits":
        return

    hint_pairs(student, assistant if assistant is not None else teacher, kind)
    if assistant is not None:
        hint_pairs(assistant, teacher, kind)


def _train(model, role: str, parts: Split, epochs: int, batch_size: int, seed: int, teacher=None,
           options: CompressOptions | None = None) -> None:
    via = ", distilled from the teacher" if teacher is not None else ""
    logger.info(f"training {role} {model.name}: {model_costs(model).params:,} params, {epochs} epochs{via} ...")
    distil = ({"teacher": teacher, "temperature": options.temperature, "alpha_kd": options.alpha_kd,
               "hint": options.distill} if teacher is not None else {})
    train(model, parts, epochs=epochs, batch_size=batch_size, seed=seed, **distil)


def _judged(teacher, parts: Split, source: dict, student_params: int) -> dict:
    """The teacher's numbers, with a warning if it is smaller than the student or close to chance."""
    classes = len(parts.train.class_names)
    info = stage_numbers("teacher", teacher, parts.val, **source)
    info["size_ratio"] = round(info["params"] / max(1, student_params), 2)
    logger.info(f"teacher: {info['params']:,} params ({info['size_ratio']:g}x the student), validation accuracy "
                f"{info['float_accuracy']:.4f}")
    if info["size_ratio"] < 1:
        logger.warning("the teacher is smaller than the student; distillation is unlikely to help")
    chance = 1 / classes
    if info["float_accuracy"] < chance + TEACHER_MIN_SKILL * (1 - chance):
        logger.warning(f"the teacher's validation accuracy {info['float_accuracy']:.4f} is close to chance "
                       f"({chance:.4f} for {classes} classes): distilling from it will not help; train it longer "
                       f"or give a better teacher")
    return info
