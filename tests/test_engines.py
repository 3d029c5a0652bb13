"""The engines as objects (`solve.engines`): every later stage has a part for every engine, the C engine declares
the ops it lowers, names become objects once, and the pre-flight refuses an op an engine lacks by name."""

import pytest

from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.errors import UserError
from tinyml_kit.solve.engines import ENGINES, TFLM, C, get_engine, require_ops


def test_every_stage_has_a_part_for_every_engine():
    from tinyml_kit.check import verify
    from tinyml_kit.check.engines import CHECKS
    from tinyml_kit.export.firmware import PACKAGING
    from tinyml_kit.pipeline import exporting

    for registry in (CHECKS, PACKAGING, verify._FIRMWARE, verify._TREES, exporting._SOURCES):
        assert set(registry) == set(ENGINES)


def test_the_c_engine_runs_exactly_the_ops_it_lowers():
    from tinyml_kit.engine.codegen import LOWERINGS

    assert C.ops == set(LOWERINGS)


def test_a_name_becomes_the_engine_once():
    assert get_engine("c") is C and get_engine(C) is C and get_engine("tflm") is TFLM
    with pytest.raises(UserError, match="engine 'mve' is unknown: choose tflm or c"):
        get_engine("mve")


def test_each_engine_owns_its_headroom_rule():
    assert TFLM.arena_alloc(20_000) == arena_with_headroom(20_000) > 20_000 and C.arena_alloc(20_000) == 20_000


def test_an_op_is_refused_with_the_engines_that_run_it():
    require_ops(["CONV_2D", "HARD_SWISH"], C)   # both run it, and TFLM checks it
    with pytest.raises(UserError, match="REDUCE_MIN op, which the C engine does not run: use engine=tflm") as e:
        require_ops(["CONV_2D", "REDUCE_MIN"], C, "the model")
    assert e.value.options == ("engine",)
    # GELU: the C engine lowers it, but every run is checked on TFLM too, which has no kernel for it
    with pytest.raises(UserError, match="GELU op, which TFLM has no kernel for .every run is checked on it") as e:
        require_ops(["GELU"], C, "the model", "another activation", "activation")
    assert e.value.options == ("activation",)


def test_the_preflight_reads_the_ops_off_a_built_model():
    """A model whose layers convert to an op a run cannot take, refused by the op's name before any training; no
    case of its own (a global max pooling both engines run; a GELU, which TFLM, the checker, has no kernel for)."""
    from tinyml_kit._tf import keras
    from tinyml_kit.pipeline.preflight import require_runnable

    k = keras()
    x = k.Input((8, 8, 3))
    pooled = k.layers.GlobalMaxPooling2D()(k.layers.Conv2D(4, 3)(x))
    for engine in (TFLM, C):
        require_runnable(k.Model(x, k.layers.Dense(3)(pooled)), engine, "ptq", "the model")
    with pytest.raises(UserError, match="converts to the GELU op, which TFLM has no kernel for"):
        require_runnable(k.Model(x, k.layers.Activation("gelu")(pooled)), C, "ptq", "the model",
                         "init_from")


def test_the_c_engine_is_the_default_and_tflm_the_fallback_said_in_one_line(caplog, monkeypatch):
    from tinyml_kit.pipeline.engine_choice import choose_engine, style_ops

    assert get_engine(None) is C and choose_engine(None, ["CONV_2D", "HARD_SWISH"]) is C and not caplog.records
    assert choose_engine(None, style_ops({"attention": "cbam"}), "PhiNet with cbam") is C and not caplog.records
    assert choose_engine(None, ["CONV_2D", "REDUCE_MIN"], "the model") is TFLM
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("the model has the REDUCE_MIN op")
    assert "which the C engine does not run: running on TFLM + CMSIS-NN instead" in line
    caplog.clear()
    assert choose_engine("c", ["REDUCE_MIN"]) is C and choose_engine("tflm", []) is TFLM   # as named
    assert not caplog.records
    monkeypatch.setenv("TINYML_CMSIS_NN_DIR", "/nonexistent/cmsis_nn")
    assert choose_engine(None, [], host_check=True) is TFLM and choose_engine(None, []) is C
    (line,) = [r.getMessage() for r in caplog.records]
    assert "cannot be checked on this machine" in line and "TINYML_CMSIS_NN_DIR" in line
