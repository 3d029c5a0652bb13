"""Knowledge distillation (BRIEF §5): the student learns the teacher's softened outputs as well as the labels.

loss = λ · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) + (1 − λ) · CE(y, z_s)

T² keeps the soft term's gradients on the scale of the hard term's as T grows (Hinton et al. 2015). The teacher
is any Keras model taking the same raw pixels; one ending in softmax (teacher or student: a user's model often
does) is read back as logits (log of its probabilities), which the softmax at temperature T then treats exactly
like logits. With `hint` "features" or
"attention", `train.hints` adds a term matching intermediate maps.
"""

import json
import re
import textwrap
import zipfile
from pathlib import Path

from tinyml_kit.core.errors import UserError
from tinyml_kit.nets import load_keras_model
from tinyml_kit.train.hints import adapters, hint_loss, hint_pairs, with_maps

TEACHER_SIZE_FACTOR = 2   # "auto" teachers have at least this many times the student's parameters
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"   # a Keras .h5 file starts with it


def distiller(student, teacher, temperature: float = 4.0, alpha_kd: float = 0.5, label_smoothing: float = 0.0,
              hint: str = "logits"):
    """A Keras model that trains `student` (in place) against `teacher` (frozen). Its metrics are the student's."""
    from tinyml_kit._tf import keras, tf

    k, t = keras(), tf()
    probabilities, student_probabilities = outputs_probabilities(teacher), outputs_probabilities(student)
    teacher.trainable = False
    pairs = hint_pairs(student, teacher, hint) if hint != "logits" else []
    student_maps = with_maps(student, [a for a, _ in pairs])
    teacher_maps = with_maps(teacher, [b for _, b in pairs])

    class Distiller(k.Model):
        def __init__(self):
            super().__init__(name=f"distill_{student.name}")
            self.student, self.teacher = student, teacher
            self.adapters = adapters(student, teacher, pairs) if hint == "features" else []
            self.hard_loss = k.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
            self.loss_tracker = k.metrics.Mean(name="loss")
            self.accuracy = k.metrics.CategoricalAccuracy(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_tracker, self.accuracy]

        def call(self, x, training=False):
            return self.student(x, training=training)

        def train_step(self, data):
            x, y, weight = k.utils.unpack_x_y_sample_weight(data)
            z_t, *t_maps = _listed(teacher_maps(x, training=False))
            soft = t.nn.softmax(as_logits(z_t, probabilities) / temperature)
            with t.GradientTape() as tape:
                z, *s_maps = _listed(student_maps(x, training=True))
                z = as_logits(z, student_probabilities)
                log_student = t.nn.log_softmax(z / temperature)
                kl = t.reduce_sum(soft * (t.math.log(t.maximum(soft, 1e-12)) - log_student), -1)
                kl = t.reduce_mean(kl if weight is None else kl * t.cast(weight, kl.dtype))
                loss = (alpha_kd * temperature ** 2 * kl + (1 - alpha_kd) * self.hard_loss(y, z, weight)
                        + t.add_n(self.student.losses or [t.constant(0.0)]))
                if pairs:
                    loss += hint_loss(hint, s_maps, t_maps, self.adapters)
            variables = self.student.trainable_variables + [v for a in self.adapters for v in a.trainable_variables]
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=False))
            self.loss_tracker.update_state(loss)
            self.accuracy.update_state(y, z)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y, _ = k.utils.unpack_x_y_sample_weight(data)
            z = as_logits(self.student(x, training=False), student_probabilities)
            self.loss_tracker.update_state(self.hard_loss(y, z))
            self.accuracy.update_state(y, z)
            return {m.name: m.result() for m in self.metrics}

    return Distiller()


def as_logits(z, probabilities: bool):
    """A model's outputs as logits: a softmax's probabilities as their logarithms (a softmax of which gives them
    back), so a teacher or a student ending in a softmax is distilled like one ending in logits."""
    from tinyml_kit._tf import tf

    return tf().math.log(tf().maximum(z, 1e-12)) if probabilities else z


def _listed(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def outputs_probabilities(model) -> bool:
    """Whether `model` ends in a softmax (a user's model often does; tinyml-kit's own end in logits). A layer
    wrapped for QAT is judged by the layer it wraps."""
    last = model.layers[-1]
    last = getattr(last, "layer", last)
    activation = getattr(last, "activation", None)
    return type(last).__name__ == "Softmax" or getattr(activation, "__name__", "") == "softmax"


def load_teacher(path: str | Path, input_shape: tuple[int, int, int], classes: int, what: str = "teacher",
                 option: str = "teacher"):
    """A teacher (or assistant: `what`, `option`) from a run directory (its model.keras) or a .keras / .h5 file,
    checked against the student's input and classes."""
    file = teacher_file(path, what, option)
    teacher = load_model_file(file, what, option)
    t_in, t_out = tuple(teacher.input_shape[1:]), teacher.output_shape[-1]
    if t_in != tuple(input_shape) or t_out != classes:
        raise UserError(f"{what} {file} takes {t_in} and gives {t_out} outputs, but the student takes "
                        f"{tuple(input_shape)} and has {classes} classes: use a {what} trained on the same data",
                        option)
    return teacher


def auto_assistant(student_params: int, teacher_params: int, input_shape: tuple[int, int, int],
                   classes: int) -> tuple[str, dict]:
    """(family, knobs) of a teacher-assistant (Mirzadeh et al. 2020): the network the laws rate most accurate
    among those at least twice the student's size and at most half the teacher's."""
    from tinyml_kit.solve.solver import most_accurate

    low, high = TEACHER_SIZE_FACTOR * student_params, teacher_params // TEACHER_SIZE_FACTOR
    best = most_accurate(input_shape, classes, min_params=low, max_params=high) if low <= high else None
    if best is None:
        raise UserError(f"no network of {low:,} to {high:,} parameters (2x the student to half the teacher) is rated "
                        f"more accurate than smaller ones: pass a trained assistant (a run directory or a .keras "
                        f"file) or a larger teacher", "assistant")
    return best


def auto_teacher(student_params: int, input_shape: tuple[int, int, int], classes: int) -> tuple[str, dict]:
    """(family, knobs) of the network the shipped laws rate most accurate among those with at least twice the
    student's parameters, any ranked family: a teacher must be larger, and above all more accurate (trained with
    fit's recipe, a ResNet beats a PhiNet ten times its size on the laws' data)."""
    from tinyml_kit.solve.solver import most_accurate

    low = TEACHER_SIZE_FACTOR * student_params
    best = most_accurate(input_shape, classes, min_params=low)
    if best is None:
        raise UserError(f"no network with at least {low:,} parameters ({TEACHER_SIZE_FACTOR}x the student) is rated "
                        f"more accurate than smaller ones within the scaling laws' range: pass a trained teacher (a "
                        f"run directory or a .keras file)", "teacher")
    return best


def teacher_file(teacher: str | Path, what: str = "teacher", option: str = "teacher") -> Path:
    """The model file of a teacher (or of any model given by path: `what` and `option` name it in errors) given as
    a run directory or a .keras / .h5 file, checked to be one."""
    path = Path(teacher)
    file = path / "model.keras" if path.is_dir() else path
    auto = option in ("teacher", "assistant")
    if path.is_dir() and not file.is_file():
        raise UserError(f"{what} directory {path} holds no model.keras: a run directory (made by fit or compress) "
                        f"holds model.keras, model.tflite and report.json; pass a run directory"
                        + (", a .keras file or 'auto'" if auto else " or a .keras file"), option)
    if not file.is_file():
        raise UserError(f"{what} '{teacher}' not found: pass a run directory"
                        + (", a .keras file or 'auto'" if auto else " or a .keras file"), option)
    with open(file, "rb") as f:
        head = f.read(8)
    if not (zipfile.is_zipfile(file) or head == _HDF5_SIGNATURE):
        raise UserError(f"{what} {file} is not a Keras model (neither a .keras archive nor HDF5): pass a run "
                        f"directory{',' if auto else ' or'} a model saved with model.save()"
                        + (" or 'auto'" if auto else ""), option)
    return file


_UNKNOWN_CLASS = re.compile(r"(?:object of type|Unknown layer:?)\s*[`']?(\w+)")


def load_model_file(file: Path, what: str = "teacher", option: str = "teacher"):
    """The Keras model in `file` (checked by `teacher_file`), or one line on why it cannot be used: the common
    causes are named (a Keras 3 file, a layer class defined in someone else's code), anything else is Keras's own
    first sentence, whole."""
    try:
        return load_keras_model(file)
    except Exception as e:
        saved_by = _saved_by(file)
        unknown = _UNKNOWN_CLASS.search(str(e))
        if saved_by and not saved_by.startswith("2."):
            why = (f"it was saved by Keras {saved_by}, and tinyml-kit trains with tf_keras 2 (pruning and QAT need "
                   f"it), which cannot read Keras 3 files")
        elif unknown:
            why = f"it uses the layer class {unknown.group(1)}, which neither Keras nor tinyml-kit defines"
        else:
            why = f"Keras could not read it ({type(e).__name__}: {textwrap.shorten(str(e), 160, placeholder=' ...')})"
        raise UserError(f"cannot load {what} {file}: {why}; pass a run directory, or a model saved with tf_keras "
                        f"from Keras's and tinyml-kit's layers", option) from None


def _saved_by(file: Path) -> str | None:
    """The Keras version a .keras archive records (its metadata.json), if any."""
    try:
        with zipfile.ZipFile(file) as z:
            return str(json.loads(z.read("metadata.json")).get("keras_version"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None
