"""`fit`'s pre-flight, before any data is read: the first candidate (or the model to start from) built as it will
be trained, its predicted ops (`nets.costs`) against the ops of every engine the run takes it to
(`solve.engines.run_on`), and, under QAT, whether every layer can be quantized (`compress.qat`). A new style, family
or op an engine lacks is refused here by what it converts to, with no case of its own."""

from tinyml_kit.compress.qat import require_quantizable
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.spec import describe
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.solve.engines import Engine, require_ops


def require_runnable(model, engine: Engine, quant: str, what: str, *options: str) -> None:
    """Refuse a built model whose predicted ops a run on `engine` cannot take, or that QAT cannot quantize;
    `options` name what chose the model (the CLI points at them beside the engine or the quantization)."""
    # a layer the table does not know is left to the converter (it is not a builtin op name)
    ops = [op for op in model_costs(model).ops if op.isidentifier() and op.isupper() and op != "UNKNOWN"]
    require_ops(ops, engine, what, "", *options)
    if quant == "qat":
        try:
            require_quantizable(model)
        except UserError as e:
            raise UserError(e.message, *e.options, *options) from None


def require_candidate_runs(family: str, knobs: dict, input_shape, classes: int, engine: Engine, quant: str,
                           *options: str) -> None:
    """`require_runnable` on a candidate, built untrained (a few tenths of a second)."""
    require_runnable(build(family, input_shape, classes, **knobs), engine, quant, describe(family, knobs), *options)
