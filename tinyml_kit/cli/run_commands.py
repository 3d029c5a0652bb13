"""Commands that make or read run directories and models: `fit`, `compress`, `check`, `analyze`, `validate`,
`report`, `export`, `verify`. Each is one call into `pipeline`, then printing; the exit status says whether
the result holds (fits, LiteRT == TFLM, bit-exact on the Cortex-M4F)."""

import sys
from pathlib import Path

import click

from tinyml_kit.cli import show
from tinyml_kit.cli.group import main
from tinyml_kit.cli.params import (
    ARCH_HELP,
    SEED,
    SHAPE,
    SIZE,
    TFLM_DIR_HELP,
    budget_options,
    compress_options_from,
    compression_options,
    emit,
    engine_options,
    json_option,
    knob_options,
    pins_from,
    print_json,
    run_engine_option,
    run_engine_options,
    train_options_from,
    training_options,
)
from tinyml_kit.core.cores import CORE_IDS
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.evaluation import Evaluation, HostResult, Validation
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.spec import AUTO
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.solve.engines import get_engine
from tinyml_kit.train.trainer import EPOCHS


@main.command()
@budget_options
@click.option("--data", default="digits", show_default=True, help="'digits', an image folder or an .npz.")
@click.option("--arch", "--family", "arch", default=AUTO, show_default=True,
              help=ARCH_HELP + " Families without a law (mobilenetv1, mobilenetv2, resnet8) are measured over their "
              "grid.")
@knob_options
@click.option("--epochs", default=EPOCHS, show_default=True, type=int)
@click.option("--input", "input_shape", type=SHAPE,
              help="Model input H,W,C (default: 32,32,1 for digits, 64,64,3 for folders, an .npz's own size).")
@click.option("--out", help="Run directory (default: runs/fit-<time>).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@training_options
@compression_options
@click.option("--verify", is_flag=True, help="At the end, run `verify` (QEMU Cortex-M4F, reference kernels, "
              "20 images).")
@click.option("--tflm-dir", help="For --verify: " + TFLM_DIR_HELP)
@engine_options
@click.option("--law", help="Accuracy law to rank by: a `sweep` directory or its law.json, of the --arch family "
              "(with auto: that family alone is ranked; default: the shipped CIFAR-10 laws).")
@json_option
def fit(board, data, arch, epochs, max_flash, max_ram, max_macs, max_latency_ms, input_shape, out, seed, verify,
        tflm_dir, engine, cmsis_nn_dir, law, as_json, schedule, learning_rate, lr_finder, class_weight, init_from,
        freeze_stages, unfreeze_epochs, **options):
    """Choose, verify, train, quantize, export and check a model that fits BOARD. Knobs given are pinned (a value,
    a list or a range); the solver chooses the rest, and a fully pinned model is measured as it is."""
    from tinyml_kit.pipeline.fit import fit as run_fit

    training = train_options_from(schedule, learning_rate, lr_finder, class_weight, init_from, freeze_stages,
                                  unfreeze_epochs)
    pins = pins_from(options)
    record = run_fit(training=training, pins=pins, board_id=board, data=data, arch=arch, epochs=epochs,
                     max_flash=max_flash, max_ram=max_ram, max_macs=max_macs, max_latency_ms=max_latency_ms, out=out,
                     seed=seed, input_shape=input_shape,
                     compression=compress_options_from(**options), verify=verify, tflm_dir=tflm_dir,
                     engine=engine, cmsis_nn_dir=cmsis_nn_dir, law=law)
    finish_run(record, as_json)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@compression_options
@click.option("--out", help="New run directory (default: RUN_DIR-<what was applied>, beside it).")
@json_option
def compress(run_dir, out, as_json, **compression):
    """Prune, quantization-aware-train or distil the model of RUN_DIR into a new run directory, measured again."""
    from tinyml_kit.pipeline.compress_run import compress_run

    finish_run(compress_run(run_dir, compress_options_from(**compression), out), as_json)


def finish_run(record: RunRecord, as_json: bool) -> None:
    """Print a run's result; exit 1 if it does not fit, TFLM disagrees with LiteRT, or verify failed."""
    emit(as_json, record.to_dict(), lambda: show.run(record))
    if not record.verdict.ok:
        from tinyml_kit.pipeline.pinned import verdict_misses

        if record.advice is not None and record.advice.compress is not None:
            click.echo(f"to make it fit: {show.compress_command(record.advice.compress)}", err=True)
        fail(f"the model does not fit {record.board.id}: {'; '.join(verdict_misses(record.verdict, record.budget))}; "
             f"see {record.run_dir}/report.json")
    _require_same_outputs(record.check, record.check.host)
    if record.verify is not None:
        _require_verified(record.verify)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _require_same_outputs(result: Evaluation | Validation, host: HostResult | None = None) -> None:
    """The host int8 result only stands for the MCU's if TFLM (and the engine built for this machine, `host`)
    computes the same outputs; a difference of one op that its kernels' known arithmetic explains
    (`check.op_difference`) is named in one line and passes."""
    op = result.litert_tflm_op
    if op is not None and op.explained:
        click.echo(f"warning: TFLM's outputs differ from LiteRT's by up to {result.litert_tflm_max_abs_diff}: "
                   f"{op.line()}", err=True)
    elif not result.litert_equals_tflm:
        fail(f"TFLM outputs differ from LiteRT's by up to {result.litert_tflm_max_abs_diff}"
             + (f" ({op.line()})" if op else "") + ": the int8 accuracy is LiteRT's, not the MCU's")
    if host is not None and not host.equals_litert:
        fail(f"the C engine's outputs differ from LiteRT's by up to {host.litert_max_abs_diff}")


def _require_verified(r: VerifyResult) -> None:
    """A firmware with exact kernels gives LiteRT's outputs, or, for TFLM where the check found LiteRT and TFLM
    parting on an op their kernels round differently (`_require_same_outputs` passed it), TFLM's on this machine."""
    if not r.fits:
        fail(f"the firmware does not fit {r.board}")
    if get_engine(r.engine).expects_bit_exact(r.kernels) and not (r.bit_exact or r.equals_host_tflm):
        fail(f"the Cortex-M4F outputs differ from the host's by up to {r.max_abs_diff}")


@main.command()
@click.argument("target", type=click.Path())
@click.option("--data", help="Images to evaluate on (default for a run: its validation split).")
@run_engine_options
@json_option
def check(target, data, engine, cmsis_nn_dir, as_json):
    """Float vs int8 accuracy, LiteRT vs TFLM outputs and measured arena of RUN_DIR or MODEL.tflite; with
    --engine c, the generated C built for this machine and compared with LiteRT on the same images."""
    from tinyml_kit.pipeline.checks import check_target

    result = check_target(target, data, engine, cmsis_nn_dir)
    emit(as_json, result.to_dict(), lambda: show.check(result))
    _require_same_outputs(result, result.host)


@main.command()
@click.argument("target", type=click.Path())
@click.option("--board", "board_id", help="Board to check the fit against (default for a run: its board).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print the per-layer table as CSV.")
@run_engine_option
def analyze(target, board_id, as_json, as_csv, engine):
    """Per-layer flash, MACs and TFLM memory plan of RUN_DIR's model or any int8 MODEL.tflite: the measured
    totals, the op where the RAM peak occurs and, with a board, whether it fits and by how much. With the C
    engine, also its static plan, and the board verdict by its flash and arena."""
    from tinyml_kit.check.analysis import CSV_COLUMNS
    from tinyml_kit.pipeline.checks import analyze_target

    if as_json and as_csv:
        raise UserError("give --json or --csv, not both")
    r = analyze_target(target, board_id, engine)
    if as_json:
        print_json(r.to_dict())
    elif as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in r.layers:
            writer.writerow({**row.to_dict(), "output_shape": "x".join(map(str, row.output_shape))})
    else:
        show.analysis(r)
    if r.fits is False:
        sys.exit(1)


@main.command()
@click.argument("target", type=click.Path())
@click.option("--data", help="Images to validate on (default for a run: its validation split).")
@click.option("--random-inputs", is_flag=True, help="Without data: compare the runtimes on random pixels "
              "(no accuracy).")
@click.option("--no-onnx", is_flag=True, help="Skip the ONNX Runtime check of the float model.")
@json_option
def validate(target, data, random_inputs, no_onnx, as_json):
    """The same inputs through Keras (float), ONNX Runtime, LiteRT and TFLM (int8): accuracy, macro P/R/F1 and
    confusion matrix per runtime; rmse, mae, l2r, cos and top-1 agreement per pair of runtimes."""
    from tinyml_kit.pipeline.checks import validate_target

    r = validate_target(target, data, random_inputs, onnx=not no_onnx)
    emit(as_json, r.to_dict(), lambda: show.validation(r))
    _require_same_outputs(r)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir):
    """Write RUN_DIR/report.html: budgets, per-layer memory, training, float vs int8 vs TFLM metrics, confusion
    matrix, Grad-CAM and linear probes, in one self-contained page."""
    from tinyml_kit.pipeline.runs import report_run

    click.echo(report_run(run_dir))


@main.command()
@click.argument("model", type=click.Path())
@click.option("--format", "format_", type=click.Choice(["tflite", "onnx"]), default="tflite", show_default=True,
              help="tflite: the int8 model for --target; onnx: the float model as <name>.onnx (tf2onnx).")
@click.option("--target", type=click.Choice(["c", "arduino", "stm32"]),
              help="For tflite. c (default): model data + C++ model API; arduino: library folder + .zip; "
              "stm32: Makefile project.")
@click.option("--out", default=".", show_default=True, help="Directory to write into (created if missing): for c, "
              "empty, the model's own folder or an earlier export of the same model (tinyml_export.json), whose "
              "files are replaced; never another run's directory.")
@click.option("--labels", help="Comma-separated class labels, spaces around each trimmed (default: from a run's "
              "report.json, else class0..).")
@click.option("--name", default="model", show_default=True,
              help="C symbol prefix; names the library (tinyml_<name>), the project and the .onnx file.")
@click.option("--board", "board_id", help="Board whose core flags the STM32 Makefile uses (default: the run's).")
@click.option("--tflm-dir", help="For stm32: " + TFLM_DIR_HELP + " Sets the Makefile's TFLM_DIR.")
@run_engine_options
def export(model, format_, target, out, labels, name, board_id, tflm_dir, engine, cmsis_nn_dir):
    """Export RUN_DIR's model (or MODEL.tflite) as aligned C sources, an Arduino library or an STM32 project, or
    its float model as ONNX."""
    if format_ == "onnx":
        from tinyml_kit.export.onnx_export import export_onnx

        if target or labels or board_id or tflm_dir or engine or cmsis_nn_dir:
            raise UserError("--format onnx writes the float model only: drop --target, --labels, --board, "
                            "--tflm-dir, --engine and --cmsis-nn-dir")
        click.echo(export_onnx(model, Path(out), name))
        return
    from tinyml_kit.pipeline.exporting import export_model

    labels = [label.strip() for label in labels.split(",")] if labels is not None else None
    for path in export_model(model, Path(out), target or "c", labels, name, board_id, tflm_dir, engine, cmsis_nn_dir):
        click.echo(path)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--kernels", type=click.Choice(["ref", "cmsis_nn"]),
              help="TFLM kernels to link: the reference ones (bit-exact with LiteRT's; the default) or CMSIS-NN. The C "
              "engine always calls CMSIS-NN.")
@click.option("--images", default=20, show_default=True, type=click.IntRange(1),
              help="Validation images to run under QEMU.")
@click.option("--arena-bytes", type=SIZE, help="Try another arena size, e.g. 90KB (default: the exported "
              "kTensorArenaSize).")
@click.option("--tflm-dir", help=TFLM_DIR_HELP)
@click.option("--core", type=click.Choice(CORE_IDS),
              help="Emulated core: m4 (mps2-an386), m7 (mps2-an500), m33 (mps2-an505) or m55 (mps3-an547). "
              "Default: the board's.")
@click.option("--profile", is_flag=True, help="Also count each op's instructions (TFLM's MicroProfiler hook; the "
              "C engine's own) and report them per op and per op type.")
@run_engine_options
@json_option
def verify(run_dir, kernels, images, arena_bytes, tflm_dir, core, profile, engine, cmsis_nn_dir, as_json):
    """Build RUN_DIR's firmware sources for an emulated Cortex-M core (the board's by default), run validation
    images under QEMU, compare with the host, and read flash, RAM, arena and instructions (per op with --profile)
    off the ELF and the core."""
    from tinyml_kit.check.verify import verify_lines
    from tinyml_kit.pipeline.checks import verify_run

    result = verify_run(run_dir, kernels, images, tflm_dir, arena_bytes, engine=engine, cmsis_nn_dir=cmsis_nn_dir,
                        core=core, profile=profile)
    emit(as_json, result.to_dict(), lambda: click.echo("\n".join(verify_lines(result))))
    _require_verified(result)
