"""`tinyml-kit` command line: thin wrappers over the library; progress on stderr, results on stdout."""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from tinyml_kit import __version__
from tinyml_kit.core.boards import DEFAULT_BOARD
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.units import parse_bytes, parse_count

ARCH_CHOICES = ["phinet", "tinynet", "mobilenetv1", "mobilenetv2", "resnet8"]


def _log(message: str) -> None:
    click.echo(message, err=True)


def _shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1 or dims[2] not in (1, 3):
        raise UserError(f"--input '{text}' is not H,W,C with C 1 or 3: write e.g. 32,32,3")
    return dims


def _compression_options(command):
    """Pruning, quantization and distillation options shared by `fit` and `compress`."""
    options = [
        click.option("--prune", type=click.Choice(["none", "magnitude", "structured"]), default="none",
                     show_default=True, help="structured removes whole channels (smaller file, arena and MACs); "
                     "magnitude zeroes weights (the .tflite does not shrink)."),
        click.option("--sparsity", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
                     show_default=True, help="Fraction of channels (structured) or weights (magnitude) removed."),
        click.option("--criterion", type=click.Choice(["bn", "magnitude"]), default="bn", show_default=True,
                     help="Structured pruning ranks channels by batch-norm |gamma| or filter L1 norm."),
        click.option("--quant", type=click.Choice(["ptq", "qat"]), default="ptq", show_default=True,
                     help="int8 by post-training quantization or quantization-aware training."),
        click.option("--teacher", help="Distil from a run directory, a .keras file, or 'auto' (trains a PhiNet "
                     "10-20x the student)."),
        click.option("--temperature", type=click.FloatRange(0, min_open=True), default=4.0, show_default=True,
                     help="Distillation temperature T."),
        click.option("--alpha-kd", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="Weight of the teacher's soft targets (lambda); 1 - it weighs the labels."),
        click.option("--finetune-epochs", type=click.IntRange(1), default=10, show_default=True,
                     help="Epochs of fine-tuning after pruning, for QAT, and for distilling an existing run."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _compress_options(prune, sparsity, criterion, quant, teacher, temperature, alpha_kd, finetune_epochs):
    from tinyml_kit.compress.stages import CompressOptions

    return CompressOptions(prune=prune, sparsity=sparsity, criterion=criterion, quant=quant, teacher=teacher,
                           temperature=temperature, alpha_kd=alpha_kd, finetune_epochs=finetune_epochs)


_TFLM_DIR_HELP = "TFLM directory (tflm/ source tree + prebuilt/); default: $TINYML_TFLM_DIR."


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


class _Cli(click.Group):
    """Turns UserError (and anything unexpected) into one line on stderr and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except click.UsageError as e:
            command = f"tinyml-kit {e.ctx.info_name} --help" if e.ctx else "tinyml-kit --help"
            click.echo(f"error: {e.format_message()} (see {command})", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:   # output piped into head & co.
            sys.stderr.close()
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing was written", err=True)
            sys.exit(130)
        except Exception as e:
            if os.environ.get("TINYML_KIT_DEBUG"):
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            click.echo(f"internal error: {type(e).__name__}: {first} (set TINYML_KIT_DEBUG=1 for a traceback)",
                       err=True)
            sys.exit(1)


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="tinyml-kit")
def main():
    """Fit a trained, int8-quantized, host-verified image classifier into a microcontroller board."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def boards(as_json: bool):
    """List boards with the flash and arena budgets left for a model."""
    from tinyml_kit.core.boards import load_boards

    found = load_boards()
    if as_json:
        _print_json({"boards": [b.to_dict() for b in found.values()]})
        return
    import shutil

    from rich.console import Console
    from rich.table import Table

    table = Table(title="Boards: model flash / arena budget = linked memory - runtime and application reserve")
    for col in ("id", "core", "MHz", "flash KiB", "SRAM KiB", "model flash KiB", "arena KiB", "fw", "board"):
        table.add_column(col, justify="right" if col == "MHz" or "KiB" in col else "left", no_wrap=col != "board")
    for b in found.values():
        budget = (f"{b.flash_budget_bytes / 1024:.0f}", f"{b.arena_budget_bytes / 1024:.0f}") if b.tflm_supported \
            else ("no TFLM", "no TFLM")
        table.add_row(b.id, b.core, f"{b.clock_mhz:g}", f"{b.flash_bytes / 1024:.0f}", f"{b.sram_bytes / 1024:.0f}",
                      *budget, b.framework, b.name)
    Console(width=shutil.get_terminal_size((150, 24)).columns).print(table)


@main.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--arch", type=click.Choice(ARCH_CHOICES), help="Architecture to build and count.")
@click.option("--alpha", type=click.FloatRange(0, min_open=True), help="Width multiplier.")
@click.option("--beta", type=click.FloatRange(0, min_open=True), help="PhiNet shape factor.")
@click.option("--t0", type=click.FloatRange(0, min_open=True), help="PhiNet base expansion.")
@click.option("--depth", type=click.IntRange(1), help="Number of blocks (PhiNet N, TinyNet blocks).")
@click.option("--divisor", type=click.IntRange(1), help="PhiNet channel divisor.")
@click.option("--input", "input_", default="32,32,3", show_default=True, help="Input H,W,C.")
@click.option("--classes", default=10, show_default=True, type=click.IntRange(2))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(model, arch, alpha, beta, t0, depth, divisor, input_, classes, as_json):
    """Costs of an architecture (--arch ...) or of an int8 MODEL.tflite (size, measured arena, ops)."""
    from tinyml_kit.pipeline.api import inspect_arch, inspect_tflite

    if model and arch:
        raise UserError("give either MODEL.tflite or --arch, not both")
    if model:
        result = inspect_tflite(model)
    elif arch:
        result = inspect_arch(arch, _shape(input_), classes, alpha=alpha, beta=beta, t0=t0, depth=depth,
                              divisor=divisor)
    else:
        raise UserError("nothing to inspect: pass MODEL.tflite or --arch NAME")
    if as_json:
        _print_json(result)
    else:
        for key, value in result.items():
            click.echo(f"{key:>18}: {value}")


@main.command()
@click.option("--board", default=DEFAULT_BOARD, show_default=True, help="Board id (see `tinyml-kit boards`).")
@click.option("--data", default="digits", show_default=True, help="'digits', an image folder or an .npz.")
@click.option("--arch", type=click.Choice(ARCH_CHOICES), default="phinet", show_default=True)
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1))
@click.option("--max-flash", help="Model flash limit, e.g. 256KB (default: the board's budget).")
@click.option("--max-ram", help="Arena limit, e.g. 96KB (default: the board's budget).")
@click.option("--max-macs", help="MACs limit, e.g. 5M (default: ~100 ms on the board, estimated).")
@click.option("--max-latency-ms", type=click.FloatRange(0, min_open=True),
              help="Latency limit in ms, turned into MACs with the core's estimated throughput (default 100).")
@click.option("--input", "input_", help="Model input H,W,C (default: 32,32,1 for digits, 64,64,3 for folders).")
@click.option("--out", help="Run directory (default: runs/fit-<time>).")
@click.option("--seed", default=0, show_default=True, type=int)
@_compression_options
@click.option("--verify", "verify_", is_flag=True,
              help="At the end, run `verify` (QEMU Cortex-M4F, reference kernels, 20 images).")
@click.option("--tflm-dir", help="For --verify: " + _TFLM_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def fit(board, data, arch, epochs, max_flash, max_ram, max_macs, max_latency_ms, input_, out, seed, verify_,
        tflm_dir, as_json, **compression):
    """Choose, verify, train, quantize, export and check a model that fits BOARD."""
    from tinyml_kit.pipeline.fit import fit as run_fit

    if verify_:
        from tinyml_kit.check.verify import preflight

        preflight(tflm_dir)   # a missing toolchain is reported before training, not after
    report = run_fit(board_id=board, data=data, arch=arch, epochs=epochs,
                     max_flash=parse_bytes(max_flash) if max_flash else None,
                     max_ram=parse_bytes(max_ram) if max_ram else None,
                     max_macs=parse_count(max_macs) if max_macs else None, max_latency_ms=max_latency_ms,
                     out=out, seed=seed, input_shape=_shape(input_), compression=_compress_options(**compression),
                     log=_log)
    if verify_:
        from tinyml_kit.check.verify import verify_run

        report["verify"] = verify_run(report["run_dir"], tflm_dir=tflm_dir, log=_log)
        _print_verify(report["verify"], _log)
        from tinyml_kit.pipeline.report import report_run

        report_run(report["run_dir"], log=_log)   # again, with the Cortex-M4F results
    _finish_run(report, as_json)
    if verify_:
        _require_verified(report["verify"])


def _finish_run(report: dict, as_json: bool) -> None:
    """Print a run's result; exit 1 if it does not fit or TFLM disagrees with LiteRT."""
    if as_json:
        _print_json(report)
    else:
        click.echo(report["run_dir"])
    if not report["fits_all"]:
        misses = ", ".join(k for k, ok in report["fits"].items() if not ok)
        click.echo(f"error: the model does not fit {report['board']['id']} ({misses}); see "
                   f"{report['run_dir']}/report.json", err=True)
        sys.exit(1)
    _require_same_outputs(report)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@_compression_options
@click.option("--out", help="New run directory (default: RUN_DIR-<what was applied>, beside it).")
@click.option("--json", "as_json", is_flag=True, help="Print the new report as one JSON object.")
def compress(run_dir, out, as_json, **compression):
    """Prune, quantization-aware-train or distil the model of RUN_DIR into a new run directory, measured again."""
    from tinyml_kit.pipeline.api import compress_run

    options = _compress_options(**compression)
    if options.prune == "none" and options.quant == "ptq" and not options.teacher:
        raise UserError("nothing to do: pass --prune, --quant qat or --teacher")
    _finish_run(compress_run(run_dir, options, out, log=_log), as_json)


def _require_same_outputs(result: dict) -> None:
    """The host int8 result only stands for the MCU's if TFLM computes the same outputs."""
    if not result["litert_equals_tflm"]:
        diff = result.get("check", result)["litert_tflm_max_abs_diff"]
        click.echo(f"error: TFLM outputs differ from LiteRT's by up to {diff}: the int8 accuracy is LiteRT's, "
                   f"not the MCU's", err=True)
        sys.exit(1)


@main.command()
@click.argument("target", type=click.Path(exists=False))
@click.option("--data", help="Images to evaluate on (default for a run: its validation split).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(target, data, as_json):
    """Float vs int8 accuracy, LiteRT vs TFLM outputs and measured arena of RUN_DIR or MODEL.tflite."""
    from tinyml_kit.pipeline.api import check_target

    result = check_target(target, data, log=_log)
    if as_json:
        _print_json(result)
        _require_same_outputs(result)
        return
    for key in ("model", "data", "images", "float_accuracy", "int8_accuracy", "agreement", "litert_equals_tflm",
                "litert_tflm_max_abs_diff", "flash_bytes", "arena_bytes", "arena_alloc_bytes"):
        click.echo(f"{key:>24}: {result.get(key)}")
    if "int8" in result:
        r = result["int8"]
        click.echo(f"{'int8 macro P/R/F1':>24}: {r['macro_precision']:.4f} / {r['macro_recall']:.4f} / "
                   f"{r['macro_f1']:.4f}")
        click.echo(f"{'int8 confusion':>24}: rows = true class {result['class_names']}")
        for row in r["confusion_matrix"]:
            click.echo(" " * 26 + " ".join(f"{v:4d}" for v in row))
    _require_same_outputs(result)


@main.command()
@click.argument("target", type=click.Path())
@click.option("--board", "board_id", help="Board to check the fit against (default for a run: its board).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the per-layer table as CSV.")
def analyze(target, board_id, as_json, as_csv):
    """Per-layer flash, MACs and TFLM memory plan of RUN_DIR's model or any int8 MODEL.tflite: the measured
    totals, the op where the RAM peak occurs and, with a board, whether it fits and by how much."""
    from tinyml_kit.check.analyze import CSV_COLUMNS, analyze_target

    if as_json and as_csv:
        raise UserError("give --json or --csv, not both")
    r = analyze_target(target, board_id)
    if as_json:
        _print_json(r)
    elif as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in r["layers"]:
            writer.writerow({**row, "output_shape": "x".join(map(str, row["output_shape"]))})
    else:
        _print_analysis(r)
    if r.get("fits") is False:
        sys.exit(1)


def _print_analysis(r: dict) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{r['model']}: per-layer plan (op i runs at step i; live = planned buffers in use)")
    for col in ("#", "op", "output", "params", "MACs", "weights B", "act B", "lifetime", "offset", "live B",
                "high-water B", "tensor"):
        table.add_column(col, justify="left" if col in ("op", "output", "tensor", "lifetime") else "right",
                         no_wrap=col != "tensor", overflow="ellipsis")
    for row in r["layers"]:
        peak = row["index"] == r["peak_layer"]
        table.add_row(str(row["index"]), row["op"], "x".join(map(str, row["output_shape"][1:])), f"{row['params']:,}",
                      f"{row['macs']:,}", f"{row['weight_bytes']:,}", f"{row['activation_bytes']:,}",
                      f"{row['output_first_op']}-{row['output_last_op']}", f"{row['output_offset']:,}",
                      f"{row['live_bytes']:,}", f"{row['high_water_bytes']:,}" + (" PEAK" if peak else ""),
                      row["name"].split(";")[0][-40:], style="bold red" if peak else None)
    console = Console(width=shutil.get_terminal_size((160, 24)).columns)
    console.print(table)
    lines = [
        f"flash {r['flash_bytes']:,} B = weights {r['weights_bytes']:,} + graph, names and quantization "
        f"{r['structure_bytes']:,}; {r['params']:,} stored params, {r['macs']:,} MACs, {r['op_count']} ops",
        f"arena {r['arena_bytes']:,} B measured on TFLM = planned activations {r['arena_head_bytes']:,} + "
        f"persistent {r['arena_tail_bytes']:,} ({r['arena_alloc_bytes']:,} with headroom); input "
        f"{r['input_bytes']:,} B, output {r['output_bytes']:,} B",
        f"RAM peak at op {r['peak_layer']} ({r['peak_op']}): " + ", ".join(
            f"{t['bytes']:,} B @ {t['offset']:,}" for t in r["peak_tensors"]) + " live",
    ]
    if not r["plan_matches_tflm"]:
        lines.append(f"note: the replayed plan's head ({r['plan_head_bytes']:,} B) differs from TFLM's "
                     f"({r['arena_head_bytes']:,} B): a kernel's scratch buffers are not modelled; totals are TFLM's")
    if "fits" in r:
        lines.append(
            f"{'FITS' if r['fits'] else 'DOES NOT FIT'} {r['board']}: flash {r['flash_bytes']:,} / "
            f"{r['flash_budget_bytes']:,} B (linked {r['flash_linked_bytes']:,} - reserve {r['flash_reserve_bytes']:,}), "
            f"margin {r['flash_margin_bytes']:,} B ({r['flash_margin_percent']:.1f} %); arena "
            f"{r['arena_alloc_bytes']:,} / {r['arena_budget_bytes']:,} B (linked {r['ram_linked_bytes']:,} - reserve "
            f"{r['ram_reserve_bytes']:,}), margin {r['ram_margin_bytes']:,} B ({r['ram_margin_percent']:.1f} %)")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


@main.command()
@click.argument("target", type=click.Path())
@click.option("--data", help="Images to validate on (default for a run: its validation split).")
@click.option("--random-inputs", is_flag=True, help="Without data: compare the runtimes on random pixels "
              "(no accuracy).")
@click.option("--no-onnx", is_flag=True, help="Skip the ONNX Runtime check of the float model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def validate(target, data, random_inputs, no_onnx, as_json):
    """The same inputs through Keras (float), ONNX Runtime, LiteRT and TFLM (int8): accuracy, macro P/R/F1 and
    confusion matrix per runtime; rmse, mae, l2r, cos and top-1 agreement per pair of runtimes."""
    from tinyml_kit.check.validate import validate_target

    r = validate_target(target, data, random_inputs, onnx=not no_onnx, log=_log)
    if as_json:
        _print_json(r)
    else:
        _print_validation(r)
    _require_same_outputs(r)


def _print_validation(r: dict) -> None:
    source = "RANDOM INPUTS (no accuracy)" if r["random_inputs"] else r["data"]
    click.echo(f"{r['model']}: {r['images']} images from {source}")
    if not r["random_inputs"]:
        click.echo(f"{'runtime':>10} {'kind':>8} {'acc':>8} {'macro P':>8} {'macro R':>8} {'macro F1':>8}")
        for name, m in r["runtimes"].items():
            click.echo(f"{name:>10} {m['kind']:>8} {m['accuracy']:8.4f} {m['macro_precision']:8.4f} "
                       f"{m['macro_recall']:8.4f} {m['macro_f1']:8.4f}")
    for name, why in r["skipped"].items():
        click.echo(f"{name:>10}: skipped, {why}")
    click.echo(f"{'pair':>18} {'rmse':>10} {'mae':>10} {'l2r':>10} {'cos':>8} {'top-1 agr':>9} {'max diff':>10}")
    for p in r["pairs"]:
        label = f"{p['a']} vs {p['b']}" + (" *" if p["cross"] else "")
        click.echo(f"{label:>18} {p['rmse']:10.3g} {p['mae']:10.3g} {p['l2r']:10.3g} {p['cos']:8.5f} "
                   f"{p['agreement']:9.2%} {p['max_abs_diff']:10.3g}")
    click.echo("(* cross rows: int8 outputs, dequantized, against the float model's)")
    if not r["random_inputs"]:
        deployed = r["runtimes"]["tflm"]
        click.echo(f"TFLM confusion matrix, rows = true class {r['class_names']}")
        for row in deployed["confusion_matrix"]:
            click.echo("  " + " ".join(f"{v:4d}" for v in row))


@main.command()
@click.option("--board", default=DEFAULT_BOARD, show_default=True, help="Board id (see `tinyml-kit boards`).")
@click.option("--max-flash", help="Model flash limit, e.g. 256KB (default: the board's budget).")
@click.option("--max-ram", help="Arena limit, e.g. 96KB (default: the board's budget).")
@click.option("--max-macs", help="MACs limit, e.g. 5M.")
@click.option("--max-latency-ms", type=click.FloatRange(0, min_open=True),
              help="Latency limit in ms, turned into MACs with the core's estimated throughput (default 100).")
@click.option("--input", "input_", default="32,32,3", show_default=True, help="Model input H,W,C.")
@click.option("--classes", default=10, show_default=True, type=click.IntRange(2))
@click.option("--frontier", is_flag=True, help="Print the accuracy a larger budget would buy instead.")
@click.option("--plot", type=click.Path(dir_okay=False), help="With --frontier: draw it to this .png.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def solve(board, max_flash, max_ram, max_macs, max_latency_ms, input_, classes, frontier, plot, as_json):
    """The PhiNet (alpha, beta, t0, depth) with the highest predicted accuracy whose estimated flash, arena and
    MACs fit BOARD, with runner-ups and the binding constraint. No training, no TensorFlow."""
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.solve.solver import frontier as frontier_points
    from tinyml_kit.solve.solver import solution_summary
    from tinyml_kit.solve.solver import solve as run_solve

    b = get_board(board)
    shape = _shape(input_)
    if plot and not frontier:
        raise UserError("--plot draws the frontier: add --frontier")
    budget = make_budget(b, parse_bytes(max_flash) if max_flash else None, parse_bytes(max_ram) if max_ram else None,
                         parse_count(max_macs) if max_macs else None, max_latency_ms)
    if frontier:
        from tinyml_kit.core.latency import latency_ms

        points = frontier_points(b, shape, classes, budget=budget)
        if plot:
            from tinyml_kit.pipeline.plots import plot_frontier

            limits = {"flash": budget.flash_bytes, "arena": budget.arena_bytes,
                      "latency_ms": latency_ms(budget.macs, b.core, b.clock_mhz)}
            _log(f"wrote {plot_frontier(points, b.id, limits, plot)}")
        if as_json:
            _print_json({"board": b.id, "input_shape": list(shape), "classes": classes, "points": points})
            return
        click.echo(f"{'pred. acc':>9} {'params':>11} {'flash est':>11} {'arena est':>10} {'MACs':>12} "
                   f"{'ms on ' + b.id:>22}  config                         boards that fit")
        for p in points:
            mark = "*" if p["fits_board"] else " "
            config = f"a={p['alpha']:g} b={p['beta']:g} t0={p['t0']:g} N={p['depth']}"
            fits = ", ".join(p["boards_that_fit"][:4]) + (" …" if len(p["boards_that_fit"]) > 4 else "")
            click.echo(f"{p['predicted_accuracy']:8.1f}%{mark}{p['params']:>11,} {p['flash_bytes_est']:>11,} "
                       f"{p['arena_alloc_bytes_est']:>10,} {p['macs']:>12,} {p['latency_ms_est']:>22.1f}  "
                       f"{config:30s} {fits or '-'}")
        click.echo(f"(* fits {b.id}'s flash and arena limits, tightened by any --max-*; accuracy predicted by the "
                   f"scaling law)")
        return
    sol = run_solve(b, input_shape=shape, classes=classes, budget=budget)
    if as_json:
        _print_json(sol.to_dict())
    else:
        click.echo("\n".join(solution_summary(sol)))


@main.command("scaling-law")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw accuracy vs parameters to this .png.")
@click.option("--json", "as_json", is_flag=True, help="Print the shipped fit as one JSON object.")
def scaling_law(plot, as_json):
    """The shipped accuracy-vs-parameters fit: CV RMSE of each form per depth, the N-segments, held-out error."""
    from tinyml_kit.solve.scaling_law import ScalingLaw, load_sweep

    law = ScalingLaw.load()
    if plot:
        from tinyml_kit.core.resources import MODELS_DIR
        from tinyml_kit.pipeline.plots import plot_scaling_law

        rows = load_sweep(MODELS_DIR / law.source["sweep"], law.source.get("metric", "int8_accuracy"))
        _log(f"wrote {plot_scaling_law(law, rows, plot)}")
    if as_json:
        _print_json(law.to_dict())
        return
    click.echo(f"CV RMSE (accuracy points, {law.source.get('cv', 'random 70/30 splits')}), by form and depth N:")
    click.echo(f"{'form':>24} " + " ".join(f"{'N=' + str(n):>7}" for n in law.depths))
    for form, by_n in law.cv_rmse.items():
        mark = " <- used" if form == law.form else ""
        click.echo(f"{form:>24} " + " ".join(f"{by_n.get(n, float('nan')):7.2f}" for n in law.depths) + mark)
    click.echo("segments (best N by parameter budget, from the fitted curves):")
    for seg in law.segments:
        click.echo(f"  N={seg['depth']}: {seg['params_from']:>10,} - {seg['params_to']:>10,} params")
    if law.held_out:
        click.echo(f"held-out configurations: RMSE {law.held_out['rmse']:.2f} points over "
                   f"{len(law.held_out['rows'])} (max error {law.held_out['max_abs_error']:.2f})")


@main.command()
@click.argument("model", type=click.Path())
@click.option("--format", "format_", type=click.Choice(["tflite", "onnx"]), default="tflite", show_default=True,
              help="tflite: the int8 model for --target; onnx: the float model as <name>.onnx (tf2onnx).")
@click.option("--target", type=click.Choice(["c", "arduino", "stm32"]),
              help="For tflite. c (default): model data + C++ model API; arduino: library folder + .zip; "
              "stm32: Makefile project.")
@click.option("--out", default=".", show_default=True, help="Directory to write into (created if missing).")
@click.option("--labels", help="Comma-separated class labels, spaces around each trimmed (default: from a run's "
              "report.json, else class0..).")
@click.option("--name", default="model", show_default=True,
              help="C symbol prefix; names the library (tinyml_<name>), the project and the .onnx file.")
@click.option("--board", "board_id", help="Board whose core flags the STM32 Makefile uses (default: the run's).")
@click.option("--tflm-dir", help="For stm32: " + _TFLM_DIR_HELP + " Sets the Makefile's TFLM_DIR.")
def export(model, format_, target, out, labels, name, board_id, tflm_dir):
    """Export RUN_DIR's model (or MODEL.tflite) as aligned C sources, an Arduino library or an STM32 project, or
    its float model as ONNX."""
    if format_ == "onnx":
        from tinyml_kit.export.onnx_export import export_onnx

        if target or labels or board_id or tflm_dir:
            raise UserError("--format onnx writes the float model only: drop --target, --labels, --board and --tflm-dir")
        click.echo(export_onnx(model, Path(out), name, log=_log))
        return
    from tinyml_kit.pipeline.api import export_model

    labels = [label.strip() for label in labels.split(",")] if labels is not None else None
    for path in export_model(model, Path(out), target or "c", labels, name, board_id, tflm_dir, log=_log):
        click.echo(path)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir):
    """Write RUN_DIR/report.html: budgets, per-layer memory, training, float vs int8 vs TFLM metrics, confusion
    matrix, Grad-CAM and linear probes, in one self-contained page."""
    from tinyml_kit.pipeline.report import report_run

    click.echo(report_run(run_dir, log=_log))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--kernels", type=click.Choice(["ref", "cmsis_nn"]), default="ref", show_default=True,
              help="TFLM kernels to link: the reference ones (bit-exact with LiteRT's) or CMSIS-NN.")
@click.option("--images", default=20, show_default=True, type=click.IntRange(1),
              help="Validation images to run under QEMU.")
@click.option("--arena-bytes", help="Try another arena size, e.g. 90KB (default: the exported kTensorArenaSize).")
@click.option("--tflm-dir", help=_TFLM_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(run_dir, kernels, images, arena_bytes, tflm_dir, as_json):
    """Build RUN_DIR's firmware sources for an emulated Cortex-M4F, run validation images under QEMU, compare
    with the host, and read flash, RAM, arena and instructions off the ELF and the core."""
    from tinyml_kit.check.verify import verify_run

    result = verify_run(run_dir, kernels, images, tflm_dir, parse_bytes(arena_bytes) if arena_bytes else None,
                        log=_log)
    if as_json:
        _print_json(result)
    else:
        _print_verify(result)
    _require_verified(result)


def _print_verify(r: dict, echo: Callable[[str], None] = click.echo) -> None:
    echo(f"{r['images']} images on the Cortex-M4F ({r['kernels']} kernels): "
               f"{'bit-exact with' if r['bit_exact'] else 'DIFFERENT from'} LiteRT's reference kernels "
               f"(outputs equal {r['outputs_equal_fraction']:.0%}, max diff {r['max_abs_diff']}, "
               f"top-1 agreement {r['top1_agreement']:.0%})")
    echo(f"  ELF flash {r['elf_flash_bytes']:,} / {r['board_flash_bytes']:,} B, RAM {r['elf_ram_bytes']:,} "
               f"+ stack {r['stack_used_bytes']:,} / {r['board_ram_bytes']:,} B ({r['board']}): "
               f"{'fits' if r['fits'] else 'DOES NOT FIT'}")
    echo(f"  arena used {r['arena_used_bytes']:,} of {r['arena_reserved_bytes']:,} B "
               f"(host measured {r['arena_host_bytes']:,}); {r['instructions_per_inference']:,} instructions "
               f"per inference")


def _require_verified(r: dict) -> None:
    if not r["fits"]:
        click.echo(f"error: the firmware does not fit {r['board']}", err=True)
        sys.exit(1)
    if r["kernels"] == "ref" and not r["bit_exact"]:
        click.echo(f"error: the Cortex-M4F outputs differ from the host's by up to {r['max_abs_diff']}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
