"""Bad input found by trying the tool as a new user would: each gets one line naming the problem and the fix,
exit status != 0, no traceback, and nothing written; the slow work is not started before the refusal."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import patch_everywhere
from test_cli import assert_one_line_error, run


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if any dataset is loaded: the refusal must come before."""
    import tinyml_kit.train.data as data

    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the refusal")

    patch_everywhere(monkeypatch, data, "load_dataset", refuse)


def test_unwritable_output_is_refused_before_any_work(tmp_path, no_data_loading):
    result = run("fit", "--out", "/proc/tinyml-kit-run")
    assert_one_line_error(result, "/proc", "not writable", "(--out)")
    assert "epoch   1/" not in result.stderr


def test_an_input_no_model_fits_is_refused_before_loading_data(no_data_loading):
    assert_one_line_error(run("fit", "--input", "2000,2000,3", "--out", "/tmp/never-written"),
                          "no PhiNet, ResNet or TinyNet fits nano33-ble-sense at input 2000x2000x3", "(--max-flash")
    assert not os.path.exists("/tmp/never-written")


@pytest.mark.parametrize("args, fragments", [
    (["solve", "--max-flash", "0"], ["flash limit 0 B is not positive", "(--max-flash)"]),
    (["fit", "--max-flash", "0"], ["flash limit 0 B is not positive"]),
    (["solve", "--max-ram", "0.5"], ["cannot read size '0.5'", "not a whole number"]),
    (["fit", "--max-ram", "0.5"], ["not a whole number"]),
    (["solve", "--max-macs", "0"], ["MAC limit 0 MACs is not positive", "(--max-macs)"]),
    (["fit", "--max-macs", "0"], ["MAC limit 0 MACs is not positive"]),
    (["solve", "--max-latency-ms", "0"], ["latency limit 0 ms is not positive"]),
    (["fit", "--seed", "-1"], ["--seed", "-1 is not in the range"]),
    (["fit", "--seed", "123456789012345678901"], ["--seed", "is not in the range"]),
    (["fit", "--epochs", "0"], ["0 training epochs: give at least 1", "(--epochs)"]),
    (["solve", "--frontier", "--plot", "missing_dir/x.png"], ["--plot", "folder missing_dir does not exist"]),
    (["solve", "--input", "4,4,3"], ["--input", "4x4x3 is smaller than 8x8"]),
    (["fit", "--prune", "structured", "--sparsity", "1"], ["sparsity 1.0 is not a fraction", "(--sparsity)"]),
    (["fit", "--teacher", "auto", "--temperature", "0"], ["temperature 0.0 must be positive", "(--temperature)"]),
])
def test_values_that_were_internal_errors_are_one_line(args, fragments, tmp_path, no_data_loading):
    assert_one_line_error(run(*args, *(["--out", tmp_path / "r"] if args[0] == "fit" else [])), *fragments)
    assert not (tmp_path / "r").exists()


def test_a_report_json_that_is_not_a_run_is_named(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    for command in ("report", "verify", "analyze", "check"):
        assert_one_line_error(run(command, tmp_path), "report.json lacks board", "re-run fit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_commands_that_take_only_run_directories_do_not_offer_a_tflite(tiny_model):
    _, model = tiny_model
    for command in (["verify"], ["report"], ["compress", "--prune", "structured"]):
        for target, fragment in ((model, "is a file"), (model.parent, "the directory fit wrote")):
            result = run(*command, target)
            assert_one_line_error(result, fragment)
            assert "or a .tflite" not in result.stderr.splitlines()[-1]
    assert_one_line_error(run("check", model.parent), "not a run directory", "or a .tflite file")


def test_a_teacher_that_is_not_a_model_is_refused_before_training(tmp_path, no_data_loading):
    text = tmp_path / "teacher.keras"
    text.write_text("not a model")
    assert_one_line_error(run("fit", "--teacher", text, "--out", tmp_path / "r"),
                          "is not a Keras model", "(--teacher)")


def test_the_plan_is_said_before_the_work(tmp_path):
    """`--epochs 1 --quant qat` fine-tunes for 10 epochs: said up front, before anything (here: an impossible
    budget) stops the run."""
    result = run("fit", "--epochs", "1", "--quant", "qat", "--max-flash", "1KB", "--out", tmp_path / "r")
    assert ("plan: train 1 epoch (cosine schedule, rate 0.003), then 10 epochs of quantization-aware training, "
            "int8 conversion") in result.stderr
    assert_one_line_error(result, "no PhiNet, ResNet or TinyNet fits")


def test_a_teacher_at_chance_is_warned_about(tmp_path, digits_npz, caplog):
    from tinyml_kit.compress.options import CompressOptions
    from tinyml_kit.compress.teachers import resolve_teacher
    from tinyml_kit.nets import build
    from tinyml_kit.train.data import load_dataset, split

    parts = split(load_dataset(str(digits_npz), (16, 16, 1)))
    untrained = build("tinynet", (16, 16, 1), 3, alpha=0.25, depth=2)
    # all weights zero: the same logits for every image, so one class always (an untrained network's random
    # weights may land a little above chance)
    untrained.set_weights([np.zeros_like(w) for w in untrained.get_weights()])
    untrained.save(tmp_path / "teacher.keras")
    student = build("tinynet", (16, 16, 1), 3, alpha=0.25, depth=1)
    with caplog.at_level("WARNING", logger="tinyml_kit"):
        _, info = resolve_teacher(CompressOptions(teacher=str(tmp_path / "teacher.keras")), student, parts, 1, 32, 0)
    chance = [r.getMessage() for r in caplog.records if "close to chance" in r.getMessage()]
    assert info["float_accuracy"] < 0.5 and chance, (info, caplog.records)


@pytest.mark.slow
def test_sigterm_while_the_run_is_written_leaves_nothing(tmp_path, digits_npz):
    """`kill` during the last stage (the report, written into a hidden staging directory) cleans up like
    Ctrl-C: exit 130, one line, no run directory and no staging directory."""
    out = tmp_path / "runs" / "r"
    out.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tinyml_kit.cli", "fit", "--board", "nucleo-f401re", "--data",
                             str(digits_npz), "--input", "16,16,1", "--epochs", "1", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if any(p.name.startswith(".r.") for p in out.parent.iterdir()):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: nothing was written" and "Traceback" not in stderr
    assert list(out.parent.iterdir()) == []


def test_fit_json_is_the_run_record(tmp_path):
    """--json keeps stderr to warnings: an impossible budget still gives its one error line and nothing else."""
    result = run("fit", "--max-flash", "1KB", "--json", "--out", tmp_path / "r")
    assert_one_line_error(result, "no PhiNet, ResNet or TinyNet fits")
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]
    assert result.stdout == ""


def test_a_text_npz_is_refused_while_peeking(tmp_path, no_data_loading):
    """Refused while peeking, before the budget is checked, so before any loading."""
    text = tmp_path / "x.npz"
    text.write_text("hello")
    assert_one_line_error(run("fit", "--data", text, "--out", tmp_path / "r"), "not an .npz archive")


def test_the_training_plot_continues_with_the_fine_tuning_stages():
    """A QAT or pruned run's plot shows every epoch it trained: training, then each stage after a named line."""
    from tinyml_kit.pipeline.plots import training_figure

    history = {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.8], "accuracy": [0.5, 0.6, 0.7],
               "val_accuracy": [0.4, 0.5, 0.6]}
    qat = {"stage": "qat", "history": {"loss": [0.6, 0.5], "val_loss": [0.7, 0.6], "accuracy": [0.8, 0.9],
                                       "val_accuracy": [0.7, 0.8]}}
    loss_axes = training_figure(history, [qat]).axes[0]
    last_epoch = max(x for line in loss_axes.get_lines() for x in line.get_xdata())
    assert last_epoch == 5 and [t.get_text() for t in loss_axes.texts] == ["qat"]


def test_log_lines_print_once_even_when_the_root_logger_is_configured(tmp_path):
    """TensorFlow's converter configures the root logger; the CLI's lines must not reach it and print twice.
    After the command, logging is as it was (the CLI can be invoked in-process)."""
    import io
    import logging

    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    logging.getLogger().addHandler(handler)
    try:
        result = run("fit", "--max-flash", "1KB", "--out", tmp_path / "r")
    finally:
        logging.getLogger().removeHandler(handler)
    assert result.stderr.count("plan: train 30 epochs") == 1 and seen.getvalue() == ""
    assert logging.getLogger("tinyml_kit").propagate and not logging.getLogger("tinyml_kit").handlers


def test_npz_class_names_are_checked_as_labels_before_training(tmp_path):
    """Empty or repeated class names would reach the firmware as labels: refused when the data is read, not
    after training, at export."""
    x, y = np.zeros((12, 8, 8), np.uint8), np.arange(12) % 3
    for names, fragment in ((["cat", "", "dog"], "label 2 of 3 is empty"),
                            (["cat", "dog", "cat"], "labels 1 and 3 are both 'cat'")):
        path = tmp_path / "named.npz"
        np.savez(path, x=x, y=y, class_names=np.array(names))
        result = run("fit", "--data", path, "--input", "16,16,1", "--out", tmp_path / "r")
        assert_one_line_error(result, "class_names", fragment)
        assert "epoch   1/" not in result.stderr and not (tmp_path / "r").exists()
