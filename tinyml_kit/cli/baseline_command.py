"""`baseline`: a classic, non-deep classifier on fit's own train / validation split, to read beside the model.
One call into `pipeline.baseline`, then printing; OpenCV, scikit-learn and TensorFlow load only when it runs."""

import click

from tinyml_kit.baseline import METHODS
from tinyml_kit.cli.group import main
from tinyml_kit.cli.params import SEED, SHAPE, emit, json_option
from tinyml_kit.pipeline.baseline import DEFAULT_VOCAB, run_baseline


@main.command()
@click.option("--method", type=click.Choice(METHODS), default="bovw", show_default=True,
              help="bovw: dense SIFT, a k-means vocabulary of visual words, word histograms and a linear SVM.")
@click.option("--data", help="'digits', an image folder or an .npz (default: the run's data with --run, else "
              "digits).")
@click.option("--vocab", type=int, default=DEFAULT_VOCAB, show_default=True, help="Visual words (k-means clusters).")
@click.option("--input", "input_shape", type=SHAPE,
              help="Input H,W,C the images are resized to, as for fit (default: the run's with --run, else fit's "
              "default for the data).")
@click.option("--seed", type=SEED, help="Split, vocabulary and SVM seed (default: the run's with --run, else 0).")
@click.option("--run", "run_dir", type=click.Path(file_okay=False),
              help="Run directory to compare with: its split is used, the result is saved in it as "
              "baseline_<method>.json and its report.html re-rendered with a 'Classic baseline' section.")
@json_option
def baseline(method, data, vocab, input_shape, seed, run_dir, as_json):
    """Accuracy and macro F1 of a classic, non-deep classifier on the validation split fit uses: what the deep
    model buys on this data."""
    result = run_baseline(method, data=data, vocab=vocab, input_shape=input_shape, seed=seed, run_dir=run_dir)
    d = result.to_dict()
    emit(as_json, d, lambda: _show(d))


def _show(d: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    shape = "x".join(map(str, d["input_shape"]))
    click.echo(f"{d['method']} baseline on {d['data']} ({shape}, seed {d['seed']}): {d['train_images']:,} train / "
               f"{d['val_images']:,} validation images")
    table = Table()
    table.add_column("classifier")
    for column in ("accuracy", "macro F1"):
        table.add_column(column, justify="right")
    table.add_row(f"{d['method']}, {d['vocab']} words", f"{d['accuracy']:.4f}", f"{d['macro_f1']:.4f}")
    model = d["model"] or {}
    for kind in ("int8", "float"):
        if f"{kind}_accuracy" in model:
            table.add_row(f"the run's model, {kind}", f"{model[f'{kind}_accuracy']:.4f}",
                          f"{model[f'{kind}_macro_f1']:.4f}")
    Console().print(table)
    seconds = d["seconds"]
    steps = ", ".join(f"{key[:-2]} {s:.1f}" for key, s in seconds.items() if key != "total_s")
    click.echo(d["description"])
    click.echo(f"{d['descriptors_per_image']:,} descriptors per image ({d['train_descriptors']:,} train, "
               f"{d['val_descriptors']:,} validation; vocabulary fitted on {d['kmeans_descriptors']:,}); "
               f"{seconds['total_s']:.1f} s ({steps})")
    for path in d["written"]:
        click.echo(f"wrote {path}")
