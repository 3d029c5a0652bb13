import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tinyml_kit.cli import main
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    stderr = result.stderr.strip()
    assert "Traceback" not in stderr and (result.exception is None or isinstance(result.exception, SystemExit)), stderr
    err = stderr.splitlines()[-1]  # progress lines may precede the error; the error itself is one line
    assert err.startswith("error: ") and [ln.startswith("error: ") for ln in stderr.splitlines()].count(True) == 1
    for fragment in fragments:
        assert fragment in err, err


def test_light_commands_do_not_import_tensorflow(tiny_model):
    code = ("import sys; from tinyml_kit.cli import main\n"
            "for args in (['--help'], ['boards'], ['boards', '--json'], ['solve'], ['solve', '--json'],\n"
            "             ['solve', '--frontier'], ['solve', '--engine', 'c'], ['scaling-law'],\n"
            f"             ['scaling-law', '--arch', 'resnet'], ['analyze', {str(tiny_model[1])!r}],\n"
            f"             ['analyze', {str(tiny_model[1])!r}, '--engine', 'c'], ['deploy', '--help'],\n"
            "             ['deploy', 'model.onnx'], ['deploy', 'model.pt2'], ['deploy', 'missing.keras']):\n"
            "    try: main(args)\n"
            "    except SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_boards_table_and_json():
    result = run("boards")
    assert result.exit_code == 0 and "nano33-ble-sense" in result.output
    data = json.loads(run("boards", "--json").output)
    nano = next(b for b in data["boards"] if b["id"] == "nano33-ble-sense")
    assert nano["flash_budget_bytes"] > 0 and nano["arena_budget_bytes"] > 0
    assert nano["memory"]["flash_accelerator"] == "icache" and nano["memory"]["source"]


def test_inspect_arch_json():
    result = run("inspect", "--arch", "phinet", "--alpha", 0.25, "--beta", 1, "--t0", 6, "--depth", 7,
                 "--input", "32,32,3", "--classes", 10, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"] == 49765 and data["macs"] > 0 and "DEPTHWISE_CONV_2D" in data["ops"]


def test_inspect_tflite_json(tiny_model):
    _, path = tiny_model
    data = json.loads(run("inspect", path, "--json").stdout)
    assert data["tflite_bytes"] == path.stat().st_size
    assert data["flash_bytes"] == len(compact_flatbuffer(path.read_bytes())) < data["tflite_bytes"]   # TFLM's flash
    assert data["arena_bytes"] > 0 and data["ops"]
    assert data["inputs"][0]["dtype"] == "int8" and data["inputs"][0]["shape"] == [1, 16, 16, 1]


def test_check_tflite_with_data(tiny_model, digits_npz):
    _, path = tiny_model
    result = run("check", path, "--data", digits_npz, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["litert_equals_tflm"] is True and data["arena_bytes"] > 0
    assert data["int8_accuracy"] is not None and data["float_accuracy"] is None


def test_export_writes_sources(tiny_model, tmp_path):
    _, path = tiny_model
    result = run("export", path, "--out", tmp_path / "src", "--labels", "a,b,c")   # the C engine by default
    assert result.exit_code == 0, result.output
    assert "TINYML_ARENA_BYTES" in (tmp_path / "src" / "tinyml_model.h").read_text()
    assert (tmp_path / "src" / "tinyml_model.c").is_file() and (tmp_path / "src" / "plan.json").is_file()
    result = run("export", path, "--out", tmp_path / "tflm", "--labels", "a,b,c", "--engine", "tflm")
    assert result.exit_code == 0, result.output
    header = (tmp_path / "tflm" / "model_data.h").read_text()
    assert "kTensorArenaSize" in header and (tmp_path / "tflm" / "model_data.cc").is_file()
    assert not [p for p in (tmp_path).iterdir() if p.name.startswith(".")]


def test_bad_inputs_give_one_line_errors(tmp_path, tiny_model, float_tflite, digits_npz):
    _, model = tiny_model
    assert_one_line_error(run("fit", "--board", "nope", "--out", tmp_path / "r"), "unknown board", "nucleo-l4r5zi")
    assert_one_line_error(run("fit", "--data", tmp_path / "missing", "--out", tmp_path / "r"), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run("fit", "--data", empty, "--out", tmp_path / "r"), "no class sub-folders")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    assert_one_line_error(run("check", corrupt), "not a TFLite flatbuffer")
    assert_one_line_error(run("check", float_tflite), "not int8")
    assert_one_line_error(run("inspect", "--arch", "resnet8", "--alpha", 0.5), "alpha does not apply to resnet8",
                          "(--alpha)")
    assert_one_line_error(run("check", tmp_path), "not a run directory")
    assert_one_line_error(run("fit", "--max-flash", "12XB"), "cannot read size")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    assert_one_line_error(run("fit", "--out", locked / "run"), "not writable")


def test_unwritable_output_directory_even_for_root(tiny_model):
    _, model = tiny_model
    result = run("export", model, "--out", "/proc/tinyml-kit-out")
    assert_one_line_error(result, "/proc")
    assert result.stderr.strip().splitlines()[-1].startswith(("error: cannot write", "error: output directory"))


def test_bad_data_through_fit_leaves_nothing(tmp_path):
    one = tmp_path / "one.npz"
    np.savez(one, x=np.zeros((6, 8, 8), np.uint8), y=np.zeros(6))
    assert_one_line_error(run("fit", "--data", one, "--out", tmp_path / "a" / "r"), "only one class")
    folder = tmp_path / "imgs"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        (folder / cls / "x.png").write_bytes(b"broken")
    assert_one_line_error(run("fit", "--data", folder, "--out", tmp_path / "b" / "r"), "cannot decode image")
    empty = tmp_path / "empty.npz"
    np.savez(empty, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0))
    assert_one_line_error(run("fit", "--data", empty, "--out", tmp_path / "c" / "r"), "has no images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.npz", "imgs", "one.npz"]


def test_check_refuses_data_with_other_classes(tiny_model, tmp_path):
    _, model = tiny_model
    wrong = tmp_path / "five.npz"
    np.savez(wrong, x=np.zeros((10, 8, 8), np.uint8), y=np.arange(10) % 5)
    assert_one_line_error(run("check", model, "--data", wrong), "5 classes but the model outputs 3")


def test_usage_errors_are_one_line():
    assert_one_line_error(run("fit", "--epochs", "x"), "--epochs", "tinyml-kit fit --help")
    assert_one_line_error(run("inspect", "--arch", "phinet", "--depth", "0"), "--depth")


def test_an_unknown_command_names_the_program_once_and_the_closest_command():
    assert_one_line_error(run("flash-it"), "No such command 'flash-it'", "(see tinyml-kit --help)")
    assert_one_line_error(run("fitt"), "Did you mean 'fit'?", "(see tinyml-kit --help)")
    assert_one_line_error(run("fit", "--bogus"), "(see tinyml-kit fit --help)")


def test_export_into_current_directory_stages_inside_it(tiny_model, tmp_path, monkeypatch):
    _, model = tiny_model
    work = tmp_path / "fw"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run("export", model, "--engine", "tflm").exit_code == 0
    assert sorted(p.name for p in work.iterdir()) == ["model_data.cc", "model_data.h", "tinyml_export.json",
                                                      "tinyml_model.cc", "tinyml_model.h", "tinyml_ops.h"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]


def test_unwritable_output_path_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run("fit", "--out", blocker / "run"), "cannot create output directory")
    assert_one_line_error(run("fit", "--out", blocker), "already exists")


def test_impossible_budget_names_smallest_configuration(tmp_path, digits_npz):
    out = tmp_path / "run"
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--max-flash", "2KB", "--out", out)
    assert_one_line_error(result, "no PhiNet, ResNet or TinyNet fits", "the smallest", "needs flash")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_solve_json_and_text():
    data = json.loads(run("solve", "--board", "nucleo-f401re", "--json").output)
    for key in ("family", "alpha", "depth", "params", "macs", "flash_bytes_est", "arena_bytes_est", "instructions_est",
                "cycles_est", "latency_ms_est", "predicted_accuracy", "binding_constraint", "runner_ups", "limits"):
        assert key in data
    assert data["flash_bytes_est"] <= data["limits"]["flash_bytes"]
    assert data["cycles_est"] <= data["limits"]["cycles"] == 84_000 * 100 and data["latency_basis"] == "cycles"
    assert data["latency_ms_est"] == pytest.approx(data["cycles_est"] / 84e3, abs=0.01)
    text = run("solve", "--board", "nucleo-f401re", "--max-latency-ms", "20").output
    assert "binding constraint" in text and "runner-ups" in text and "limit" in text


def test_solve_frontier_and_scaling_law_plots(tmp_path):
    result = run("solve", "--board", "nano33-ble-sense", "--frontier", "--plot", tmp_path / "f.png")
    assert result.exit_code == 0 and "boards that fit" in result.output and (tmp_path / "f.png").stat().st_size
    result = run("scaling-law", "--plot", tmp_path / "s.png")
    assert result.exit_code == 0 and "generalized_hyperbolic" in result.output and "segments" in result.output
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_solve_bad_input_is_one_line():
    assert_one_line_error(run("solve", "--board", "nope"), "unknown board")
    assert_one_line_error(run("solve", "--plot", "x.png"), "--frontier")
    assert_one_line_error(run("solve", "--max-flash", "2KB"), "no PhiNet, ResNet or TinyNet fits", "needs flash")
    assert_one_line_error(run("solve", "--board", "uno-r3"), "uno-r3")
