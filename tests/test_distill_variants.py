"""Distillation beyond logits (features, attention) and through a teacher-assistant, and their refusals."""

import numpy as np
import pytest
from test_bad_input import no_data_loading  # noqa: F401  (fixture)
from test_cli import assert_one_line_error, run

from tinyml_kit.core.errors import UserError


def _model(arch, shape=(16, 16, 1), classes=10, **knobs):
    from tinyml_kit._tf import keras
    from tinyml_kit.nets import build

    keras().utils.set_random_seed(0)
    return build(arch, shape, classes, **knobs)


def test_hint_pairs_are_the_stages_both_models_have_at_one_resolution():
    from tinyml_kit.train.hints import hint_pairs

    student = _model("tinynet", alpha=0.5, depth=3)                  # stages at 8, 4, 2
    teacher = _model("resnet")                                        # stages at 16, 8, 4
    pairs = hint_pairs(student, teacher, "features")
    assert [student.get_layer(s).output_shape[1] for s, _ in pairs] == [8, 4]
    assert all(student.get_layer(s).output_shape[1:3] == teacher.get_layer(t).output_shape[1:3] for s, t in pairs)
    other = _model("resnet", shape=(48, 48, 1))                       # 48, 24, 12: nothing in common
    with pytest.raises(UserError, match="share no resolution"):
        hint_pairs(student, other, "attention")


def test_a_student_ending_in_softmax_is_distilled_as_its_logits():
    """The same student with and without a final softmax: the same distillation loss (its outputs read as
    probabilities, not as logits, as training without a teacher also reads them)."""
    from tinyml_kit._tf import keras, tf
    from tinyml_kit.train.distill import distiller, outputs_probabilities

    k = keras()
    logits = _model("tinynet", shape=(8, 8, 1), classes=3, alpha=0.25, depth=1)
    softmax = k.Model(logits.inputs, k.layers.Softmax()(logits.outputs[0]))
    teacher = _model("tinynet", shape=(8, 8, 1), classes=3, alpha=0.5, depth=1)
    rng = np.random.default_rng(0)
    x = tf().constant(rng.uniform(0, 255, (8, 8, 8, 1)), tf().float32)
    y = tf().one_hot(rng.integers(0, 3, 8), 3)
    assert [outputs_probabilities(m) for m in (logits, softmax)] == [False, True]
    losses = []
    for student in (logits, softmax):
        d = distiller(student, teacher, alpha_kd=0.5)
        d.compile(optimizer=k.optimizers.SGD(0.0))
        losses.append(float(d.train_step((x, y))["loss"]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) and losses[0] > 0


@pytest.mark.parametrize("kind", ["features", "attention"])
def test_hint_loss_is_zero_on_the_teachers_own_maps_and_positive_on_others(kind):
    from tinyml_kit._tf import tf
    from tinyml_kit.train.hints import BETA, hint_loss

    rng = np.random.default_rng(0)
    a = tf().constant(rng.normal(size=(4, 8, 8, 6)), tf().float32)
    b = tf().constant(rng.normal(size=(4, 8, 8, 6)), tf().float32)
    identity = [lambda x: x]
    assert float(hint_loss(kind, [a], [a], identity)) == pytest.approx(0.0, abs=1e-6)
    different = float(hint_loss(kind, [a], [b], identity))
    assert 0 < different <= BETA / 2 * 4 / (8 * 8)   # unit vectors: |d|² ≤ 4, spread over 8 x 8 positions


@pytest.mark.parametrize("kind", ["features", "attention"])
def test_a_student_distilled_on_maps_moves_its_maps_towards_the_teachers(kind):
    from tinyml_kit._tf import keras, tf
    from tinyml_kit.train.data import load_dataset, split, tf_dataset
    from tinyml_kit.train.distill import distiller
    from tinyml_kit.train.hints import hint_loss, hint_pairs, with_maps

    parts = split(load_dataset("digits", (16, 16, 1)), seed=0)
    teacher, student = _model("resnet"), _model("tinynet", alpha=0.5, depth=3)
    pairs = hint_pairs(student, teacher, kind)
    x = tf().constant(parts.val.x[:128].astype(np.float32))
    fitted = distiller(student, teacher, hint=kind)
    assert len(fitted.adapters) == (len(pairs) if kind == "features" else 0)

    def loss():
        _, *s = with_maps(student, [p for p, _ in pairs])(x)
        _, *t = with_maps(teacher, [q for _, q in pairs])(x)
        return float(hint_loss(kind, s, t, fitted.adapters))

    before = loss()
    fitted.compile(optimizer=keras().optimizers.Adam(3e-3))
    fitted.fit(tf_dataset(parts.train, 32, training=True), epochs=2, verbose=0)
    assert loss() < 0.7 * before


def test_auto_assistant_is_between_twice_the_student_and_half_the_teacher():
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import model_costs
    from tinyml_kit.train.distill import auto_assistant

    family, knobs = auto_assistant(20_000, 200_000, (32, 32, 3), 10)
    params = model_costs(build(family, (32, 32, 3), 10, **knobs)).params
    assert 40_000 <= params <= 100_000
    with pytest.raises(UserError, match="2x the student to half the teacher"):
        auto_assistant(50_000, 120_000, (32, 32, 3), 10)


@pytest.mark.parametrize("args, fragments", [
    (["--distill", "features"], ["give --teacher", "(--distill, --assistant, --teacher)"]),
    (["--assistant", "auto"], ["give --teacher"]),
    (["--teacher", "auto", "--assistant", "/nowhere"], ["assistant '/nowhere' not found", "(--assistant)"]),
])
def test_bad_distillation_options_are_refused_before_loading_data(tmp_path, no_data_loading, args,  # noqa: F811
                                                                   fragments):
    assert_one_line_error(run("fit", "--out", tmp_path / "r", *args), *fragments)
    assert not (tmp_path / "r").exists()


def test_an_impossible_auto_assistant_is_refused_before_the_auto_teacher_trains(monkeypatch):
    import tinyml_kit.compress.teachers as teachers
    from tinyml_kit.compress.options import CompressOptions
    from tinyml_kit.train.data import load_dataset, split

    def never(*args, **kwargs):
        raise AssertionError("a model was trained before the refusal")

    monkeypatch.setattr(teachers, "_train", never)
    parts = split(load_dataset("digits", (32, 32, 3)), seed=0)
    student = _model("resnet", shape=(32, 32, 3))                     # 78 k: the teacher is 2x that or more
    with pytest.raises(UserError, match="2x the student to half the teacher"):
        teachers.resolve_teacher(CompressOptions(teacher="auto", assistant="auto"), student, parts, 1, 32, 0)
