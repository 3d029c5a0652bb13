"""`tinyml-kit sweep`: train a grid on the user's data and fit the accuracy law `solve --law` ranks by."""

import click

from tinyml_kit.cli.group import main, said
from tinyml_kit.cli.params import SHAPE, emit, json_option
from tinyml_kit.pipeline.sweep_pool import EXECUTORS
from tinyml_kit.train.trainer import BATCH_SIZE, EPOCHS


@main.command()
@click.option("--data", help="'digits', an image folder or an .npz (required unless --fit).")
@click.option("--arch", default="phinet", show_default=True,
              help="The family to sweep: phinet, resnet, tinynet, mobilenetv1 or mobilenetv2.")
@click.option("--grid", default="small", show_default=True,
              help="thesis (PhiNet: 45 configurations, 6 held out), small (PhiNet: 8 over two depths; another family: "
              "its fit grid) or a YAML file of knob lists (PhiNet: alpha, beta, t0, depth; ResNet, TinyNet: alpha, "
              "depth; MobileNets: alpha), optionally with held_out: a list of configurations.")
@click.option("--epochs", default=EPOCHS, show_default=True, type=int,
              help="Training epochs per configuration (fit's default, so the law predicts what fit measures).")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, type=int, help="As fit's.")
@click.option("--input", "input_shape", type=SHAPE, help="Model input H,W,C (default: as fit chooses).")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: a pool of processes on this machine; ray: Ray tasks on a local Ray or the cluster at "
              "--ray-address (pip install -e \".[ray]\").")
@click.option("--workers", type=int,
              help="Configurations trained at once (default: 1 locally, as many as the Ray cluster's CPUs hold).")
@click.option("--cpus-per-task", type=int,
              help="Cores each configuration trains on (default: local cores / workers; 1 per Ray task).")
@click.option("--ray-address", help="Join this Ray cluster (the address `ray start --head` prints, or 'auto').")
@click.option("--configs", type=click.IntRange(1), help="Train at most this many new configurations, then stop.")
@click.option("--out", help="Sweep directory (default: runs/sweep-<time>); an existing one is resumed.")
@click.option("--fit", "fit_only", type=click.Path(file_okay=False),
              help="Only fit the law of this sweep directory (no training).")
@click.option("--splits", default=200, show_default=True, type=click.IntRange(2),
              help="Random 70/30 splits per depth that score the law's forms (the thesis used 500).")
@json_option
def sweep(data, arch, grid, epochs, batch_size, input_shape, executor, workers, cpus_per_task, ray_address, configs,
          out, fit_only, splits, as_json):
    """Train GRID's networks of one family (ARCH) on DATA with fit's recipe, here or on a Ray cluster, each quantized
    to int8 and measured, each result saved as it finishes (a re-run resumes), then fit the accuracy law `solve
    --law` and `fit --law` rank by."""
    from datetime import datetime
    from pathlib import Path

    from tinyml_kit.core.errors import UserError
    from tinyml_kit.pipeline.sweep import fit_law, run_sweep

    if fit_only:
        law = fit_law(fit_only, splits)
        emit(as_json, {"law": str(law)}, lambda: click.echo(law))
        return
    if data is None:
        raise UserError("sweep needs --data (or --fit SWEEP_DIR to fit a finished sweep's law)")
    out = out or str(Path("runs") / f"sweep-{datetime.now():%Y%m%d-%H%M%S}")
    try:
        summary = run_sweep(data, out, grid, epochs, input_shape, workers, configs, executor, ray_address,
                            cpus_per_task, arch=arch, batch_size=batch_size)
    except KeyboardInterrupt:
        import signal
        import sys

        from tinyml_kit.pipeline.sweep import read_results

        signal.signal(signal.SIGINT, signal.SIG_IGN)   # exiting: another Ctrl-C would cut the clean-up short
        kept = len([r for r in read_results(Path(out)) if "error" not in r])
        click.echo(f"interrupted: {kept} finished results kept in {out}; run the same command to resume", err=True)
        sys.exit(130)
    try:
        summary["law"] = str(fit_law(out, splits))
    except UserError as e:
        summary["law"] = None
        summary["law_note"] = said(e)
    emit(as_json, summary, lambda: click.echo(
        f"{summary['finished']} of {summary['configurations']} configurations in {summary['sweep_dir']}"
        + (f"; {len(summary['failed'])} failed: {', '.join(summary['failed'])}" if summary["failed"] else "")
        + (f"\nlaw: {summary['law']}, drawn in law.png beside it (solve --law {summary['sweep_dir']})"
           if summary["law"]
           else f"\nno law yet: {summary['law_note']}")))
