"""`deploy`: a model the user brings (.keras, .h5, a Keras SavedModel directory, a .tflite, an .onnx, a .pt2) made
into a checked int8 run for a board. One call into `pipeline.deploy`, then printing as `fit` prints; TensorFlow (and
torch) load only when it runs."""

import click

from tinyml_kit.cli.group import main
from tinyml_kit.cli.params import SEED, SHAPE, TFLM_DIR_HELP, budget_options, engine_options, json_option
from tinyml_kit.cli.run_commands import finish_run


@main.command()
@click.argument("model", type=click.Path())
@budget_options
@click.option("--data", default="digits", show_default=True, help="'digits', an image folder or an .npz: its "
              "training split calibrates the int8 model, its validation split checks it.")
@click.option("--input", "input_shape", type=SHAPE,
              help="Model input H,W,C: for a model that leaves a size open (default: the model's own).")
@click.option("--pixels", type=click.Choice(["0-255", "0-1"]),
              help="The pixel range the model takes, for a model that does not begin with a Rescaling layer "
              "(0-1: a Rescaling(1/255) is put in front of a Keras or ONNX model, a division by 255 in front of a "
              ".pt2; a float .tflite must take 0-255; an .onnx or .pt2 needs it: 0-1 for PyTorch's ToTensor).")
@click.option("--out", help="Run directory (default: runs/deploy-<time>).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Split and calibration seed.")
@click.option("--verify", is_flag=True, help="At the end, run `verify` (QEMU, the board's core, reference kernels, "
              "20 images).")
@click.option("--tflm-dir", help="For --verify: " + TFLM_DIR_HELP)
@engine_options
@json_option
def deploy(model, board, max_flash, max_ram, max_macs, max_latency_ms, data, input_shape, pixels, out, seed,
           verify, tflm_dir, engine, cmsis_nn_dir, as_json):
    """Deploy MODEL (.keras, .h5, a Keras SavedModel directory, an int8 or float .tflite, an .onnx of a CNN,
    imported and checked against onnxruntime, or a PyTorch torch.export .pt2, converted by litert-torch with the
    torch extra and checked against torch) on BOARD: int8 (post-training, calibrated on the data), measured
    against the board, checked, exported and reported in a run directory that compress, verify, analyze, report
    and export take."""
    from tinyml_kit.pipeline.deploy import deploy as run_deploy

    record = run_deploy(model, board, data, input_shape, out, engine, verify, pixels, seed,
                        (max_flash, max_ram, max_macs, max_latency_ms), tflm_dir, cmsis_nn_dir)
    finish_run(record, as_json)
