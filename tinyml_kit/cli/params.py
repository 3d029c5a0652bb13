"""Command-line values parsed where click parses them: sizes, counts, input shapes, seeds, output files, and
the option sets several commands share."""

import json
from pathlib import Path

import click

from tinyml_kit.cli.group import quiet_for_json, said
from tinyml_kit.core.artifacts import require_writable
from tinyml_kit.core.boards import DEFAULT_BOARD
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import NAMES
from tinyml_kit.core.spec import AUTO, require_input_shape
from tinyml_kit.core.units import parse_bytes, parse_count
from tinyml_kit.solve.engines import DEFAULT, ENGINES, FALLBACK


class _Parsed(click.ParamType):
    """A ParamType whose parser raises UserError with the reason, shown as click's 'Invalid value' line."""
    parse = staticmethod(str)

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except UserError as e:
            self.fail(said(e), param, ctx)


class Size(_Parsed):
    """Bytes: 256KB, 96KiB, 1.5MB (KB/MB decimal; KiB, MiB and bare K, M binary)."""
    name = "size"
    parse = staticmethod(parse_bytes)


class Count(_Parsed):
    """A count such as MACs: 5M = 5,000,000."""
    name = "count"
    parse = staticmethod(parse_count)


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"'{text}' is not H,W,C: write e.g. 32,32,3") from None
    return require_input_shape(dims)


class Shape(_Parsed):
    """A model input H,W,C (or HxWxC)."""
    name = "H,W,C"
    parse = staticmethod(parse_shape)


class NewFile(click.ParamType):
    """A file to write: its folder must exist and be writable now, not after the work."""
    name = "file"

    def convert(self, value, param, ctx):
        path = Path(value)
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            self.fail(f"{path} is a folder: give a file name such as {path / 'out.png'}", param, ctx)
        if not folder.is_dir():
            self.fail(f"folder {folder} does not exist: create it or choose another path", param, ctx)
        try:
            require_writable(folder)
        except UserError as e:
            self.fail(said(e), param, ctx)
        return str(path)


SIZE, COUNT, SHAPE, NEW_FILE = Size(), Count(), Shape(), NewFile()
SEED = click.IntRange(0, 2**32 - 1)
TFLM_DIR_HELP = "TFLM directory (tflm/ source tree + prebuilt/); default: $TINYML_TFLM_DIR."


CMSIS_NN_DIR_HELP = ("CMSIS-NN directory (Include/ + Source/); default: $TINYML_CMSIS_NN_DIR, else the TFLM "
                     "tree's third_party/cmsis_nn.")


ENGINE_HELP = ("c: the model compiled to C on CMSIS-NN (static arena, no interpreter); tflm: the .tflite on "
               "TensorFlow Lite Micro.")
DEFAULT_RULE = (f"{DEFAULT.name} ({FALLBACK.name}, with a line saying why, for a model with an op the C engine does "
                f"not run)")


def _engine(of_run: bool):
    if of_run:   # a command on a run directory follows the engine the run was fitted for
        return click.option("--engine", type=click.Choice(list(ENGINES)),
                            help=f"{ENGINE_HELP} Default: the run's engine; for a bare .tflite, {DEFAULT_RULE}.")
    return click.option("--engine", type=click.Choice(list(ENGINES)),
                        help=f"{ENGINE_HELP} Default: {DEFAULT_RULE}; fit also falls back where the C engine's check "
                             f"cannot be built here (no C compiler or CMSIS-NN).")


_cmsis_nn_dir = click.option("--cmsis-nn-dir", help="For --engine c: " + CMSIS_NN_DIR_HELP)
engine_option = _engine(of_run=False)   # --engine, as every command that builds or costs a model takes it
run_engine_option = _engine(of_run=True)


def engine_options(command):
    """--engine and --cmsis-nn-dir, for the commands that build the C engine's sources."""
    return engine_option(_cmsis_nn_dir(command))


def run_engine_options(command):
    """--engine defaulting to the engine the run was fitted for, and --cmsis-nn-dir: for commands on a run."""
    return run_engine_option(_cmsis_nn_dir(command))


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, callback=quiet_for_json, is_eager=False,
                        help="Print one JSON object on stdout (stderr: warnings and errors only).")(command)


def print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def emit(as_json: bool, obj, show) -> None:
    """A command's result on stdout: `obj` as JSON, or `show()` for a human reader."""
    print_json(obj) if as_json else show()


def budget_options(command):
    """The limits `fit` and `solve` share, tightening the board's budget."""
    options = [
        click.option("--board", default=DEFAULT_BOARD, show_default=True, help="Board id (see `tinyml-kit boards`)."),
        click.option("--max-flash", type=SIZE, help="Model flash limit, e.g. 256KB (default: the board's budget)."),
        click.option("--max-ram", type=SIZE, help="Arena limit, e.g. 96KB (default: the board's budget)."),
        click.option("--max-macs", type=COUNT, help="MACs limit, e.g. 5M (default: none; without --max-latency-ms "
                     "it replaces the time limit)."),
        click.option("--max-latency-ms", type=float, help="Latency limit in ms (default 100): cycles at the board's "
                     "clock on Cortex-M4F/M7/M33/M55 (predicted per op with the board's flash wait states), MACs at an "
                     "estimated throughput on other cores."),
    ]
    return with_options(command, options)


def compression_options(command):
    """Pruning, quantization and distillation options shared by `fit` and `compress`."""
    from tinyml_kit.compress.options import (
        CRITERIA,
        DISTILL_KINDS,
        PRUNE_METHODS,
        QUANT_METHODS,
    )

    options = [
        click.option("--prune", type=click.Choice(PRUNE_METHODS), default="none", show_default=True,
                     help="structured removes whole channels (smaller file, arena and MACs); magnitude zeroes "
                     "weights (the .tflite does not shrink)."),
        click.option("--sparsity", type=float, default=0.5, show_default=True,
                     help="Fraction of channels (structured) or weights (magnitude) removed, in (0, 1)."),
        click.option("--criterion", type=click.Choice(CRITERIA), default="bn", show_default=True,
                     help="Structured pruning ranks channels by batch-norm |gamma| or filter L1 norm."),
        click.option("--quant", type=click.Choice(QUANT_METHODS), default="ptq", show_default=True,
                     help="int8 by post-training quantization or quantization-aware training."),
        click.option("--teacher", help="Distil from a run directory, a .keras file, or 'auto' (trains the network "
                     "the laws rate most accurate among those at least 2x the student)."),
        click.option("--distill", type=click.Choice(DISTILL_KINDS), default="logits", show_default=True,
                     help="What the student matches besides the labels: the teacher's logits, and also its "
                     "feature maps (features) or attention maps (attention), stage by stage."),
        click.option("--assistant", help="Progressive distillation: a teacher-assistant (run directory, .keras file, "
                     "or 'auto': trained from the teacher, sized between the two) teaches the student."),
        click.option("--temperature", type=float, default=4.0, show_default=True,
                     help="Distillation temperature T (> 0)."),
        click.option("--alpha-kd", type=float, default=0.5, show_default=True,
                     help="Weight of the teacher's soft targets (lambda, in [0, 1]); 1 - it weighs the labels."),
        click.option("--finetune-epochs", type=int, default=10, show_default=True,
                     help="Epochs of fine-tuning after pruning, for QAT, and for distilling an existing run."),
    ]
    return with_options(command, options)


def with_options(command, options: list):
    """`command` with click `options`, in the order given in its --help."""
    for option in reversed(options):
        command = option(command)
    return command


def compress_options_from(prune, sparsity, criterion, quant, teacher, temperature, alpha_kd, finetune_epochs,
                          distill, assistant):
    from tinyml_kit.compress.options import CompressOptions

    return CompressOptions(prune=prune, sparsity=sparsity, criterion=criterion, quant=quant, teacher=teacher,
                           temperature=temperature, alpha_kd=alpha_kd, finetune_epochs=finetune_epochs,
                           distill=distill, assistant=assistant)


def training_options(command):
    """How `fit` trains: schedule, rate or range test, class weights, transfer from another model."""
    from tinyml_kit.train.options import CLASS_WEIGHTS, LEARNING_RATE, SCHEDULES

    options = [
        click.option("--schedule", type=click.Choice(SCHEDULES), default="cosine", show_default=True,
                     help="Learning-rate schedule: cosine decay, or one-cycle (warm-up to the peak, then anneal)."),
        click.option("--lr", "learning_rate", type=float,
                     help=f"Adam's starting (cosine) or peak (one-cycle) learning rate (default: {LEARNING_RATE:g})."),
        click.option("--lr-finder", is_flag=True, help="Run a learning-rate range test first and train at the rate "
                     "half the one at the loss minimum; the curve is in report.html."),
        click.option("--class-weight", type=click.Choice(CLASS_WEIGHTS), default="none", show_default=True,
                     help="balanced: weigh each class by n / (classes x its count), for imbalanced data."),
        click.option("--init-from", help="Start from the weights of a run directory or .keras file (its "
                     "architecture is trained; the head is re-initialised if the class count differs)."),
        click.option("--freeze-stages", type=int, default=0, show_default=True,
                     help="With --init-from: do not train the stem and this many stages (one per resolution)."),
        click.option("--unfreeze-epochs", type=int, default=0, show_default=True,
                     help="With --init-from: then train every layer this many epochs at a tenth of the rate."),
    ]
    return with_options(command, options)


def train_options_from(schedule, learning_rate, lr_finder, class_weight, init_from, freeze_stages, unfreeze_epochs):
    from tinyml_kit.train.options import TrainOptions

    return TrainOptions(schedule=schedule, learning_rate=learning_rate, lr_finder=lr_finder,
                        class_weight=class_weight, init_from=init_from, freeze_stages=freeze_stages,
                        unfreeze_epochs=unfreeze_epochs)


PIN_HELP = " A value, a list (a,b,c) or a range (low:high, both ends included)."


def knob_options(command):
    """The knobs `fit`, `solve` and `inspect` take. On `fit` and `solve` each is a pin: the solver searches the
    knobs left free; `inspect` takes single values. Parsed by `core.pins`, so the API and the CLI refuse alike."""
    from tinyml_kit.core.spec import ACTIVATIONS, ATTENTIONS

    options = [
        click.option("--alpha", metavar="PIN", help="Width multiplier (PhiNet's alpha; ResNet's, TinyNet's and "
                     "MobileNets' width)." + PIN_HELP),
        click.option("--beta", metavar="PIN", help="PhiNet's shape factor." + PIN_HELP),
        click.option("--t0", metavar="PIN", help="PhiNet's base expansion." + PIN_HELP),
        click.option("--depth", metavar="PIN", help="Blocks: PhiNet's N, TinyNet's blocks, ResNet's blocks per "
                     "stage." + PIN_HELP),
        click.option("--divisor", metavar="PIN", help="PhiNet's channel divisor (default 1)." + PIN_HELP),
        click.option("--first-conv-stride", metavar="PIN", help="PhiNet's stem stride, 1 or 2 (default 2)."
                     + PIN_HELP),
        click.option("--downsampling-layers", metavar="BLOCKS", help="PhiNet's blocks that halve the resolution, "
                     "from block 4 up (default 5,7); one value."),
        click.option("--conv5-percent", metavar="PIN", help="PhiNet's share of last blocks with 5x5 depthwise "
                     "kernels, in [0, 1] (default 0)." + PIN_HELP),
        click.option("--attention", type=click.Choice(ATTENTIONS), help="PhiNet's attention after each block's "
                     "depthwise stage (default se: squeeze-excite; cbam: channel + spatial attention; none)."),
        click.option("--activation", type=click.Choice(ACTIVATIONS), help="PhiNet's activation (default hswish; gelu "
                     "has no TFLM kernel)."),
    ]
    return with_options(command, options)


def pins_from(options: dict) -> dict:
    """The knob options given, parsed into pins (`core.pins.Pin`); the other options are left in `options`."""
    from tinyml_kit.core.pins import KNOB_KINDS, parse_pins

    return parse_pins({k: options.pop(k) for k in KNOB_KINDS})


ARCH_HELP = (f"One of {', '.join((AUTO, *NAMES))}. auto: the solver ranks PhiNets, ResNets and TinyNets "
             f"together by their accuracy laws; a family (or a list of ranked ones, e.g. phinet,resnet) limits the "
             f"search to it.")
