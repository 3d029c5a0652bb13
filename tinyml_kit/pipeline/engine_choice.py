"""Which engine a command runs a model on when the user names none: `solve.engines.DEFAULT` (the C engine),
unless the model has an op it does not run, or the command checks the model on this machine and the default's
own check cannot be built here (no C compiler, no CMSIS-NN sources); then `solve.engines.FALLBACK` (TFLM), and
one warning line that says why. A named engine is taken as it is: what it cannot do is refused by name later."""

import logging

from tinyml_kit.check.engines import checks
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.style_ops import STYLE_OPS
from tinyml_kit.solve.engines import DEFAULT, FALLBACK, Engine, default_engine, fallback_line, get_engine

logger = logging.getLogger(__name__)


def choose_engine(asked: Engine | str | None, ops, what: str = "the model", host_check: bool = False,
                  cmsis_nn_dir=None) -> Engine:
    """`asked`, or the default for a model of `ops` (`host_check`: the command runs the engine's own check on
    this machine, so its tools must be there)."""
    if asked is not None:
        return get_engine(asked)
    engine, why = default_engine(ops, what)
    host = checks(engine).host
    if not why and host_check and host is not None:
        try:
            host.require(cmsis_nn_dir)
        except UserError as e:
            engine, why = FALLBACK, fallback_line(f"{DEFAULT.words.title} cannot be checked on this machine ({e})")
    if why:
        logger.warning(why)
    return engine


def style_ops(style: dict[str, str]) -> list[str]:
    """The ops a PhiNet attention and activation convert to (`core.style_ops`)."""
    return [op for knob, value in style.items() for op in STYLE_OPS[knob][value]]


def run_engine(asked: Engine | str | None, model, host_check: bool = False, cmsis_nn_dir=None) -> Engine:
    """The engine for a command on a run or a bare .tflite (`core.artifacts`' resolved model): `asked`, else the
    run's own, else the default for the .tflite's ops."""
    if asked is None and model.record is not None:
        return get_engine(model.record.engine)
    return choose_engine(asked, model.info.ops, model.name, host_check, cmsis_nn_dir)
