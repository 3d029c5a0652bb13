"""`tinyml-kit sweep`: grids, results saved as they finish and resumed, the recipe pinned, the law it fits."""

import json

import pytest
from test_cli import assert_one_line_error, run

from tinyml_kit.pipeline.sweep import (
    RESULTS,
    fit_law,
    job_key,
    load_grid,
    read_results,
    run_sweep,
)


@pytest.mark.parametrize("text, fragment", [
    ("- 0.5\n- 1.0\n", "must map phinet's knobs"),
    ("alpha: [0.5]\ngamma: [2]\n", "unknown knob 'gamma' for phinet"),
    ("alpha: [0.5]\nheld_out: [{alpha: 0.7, width: 2}]\n", "unknown knob 'width'"),
    ("alpha: [0.5]\nheld_out: [3]\n", "held_out must be a list of configurations"),
    ("alpha: [0.5]\nheld_out: [{alpha: -1}]\n", "alpha: -1 must be above 0"),
    ("alpha: [0.5, -1]\n", "alpha: -1 must be above 0"),
    ("alpha: []\n", "alpha: [] is empty"),
    ("alpha: [true]\n", "alpha: True is not a number"),
    ("depth: [3.5]\n", "depth: 3.5 is not a whole number"),
    # the command line's ceilings and checks (core.pins) hold for a grid file's values, held-out ones included
    ("alpha: [100.0]\n", "alpha: 100 is beyond any model a microcontroller holds: give at most 8"),
    ("alpha: [0.5]\nheld_out: [{alpha: 9}]\n", "alpha: 9 is beyond any model"),
    ("alpha: [0.5]\nheld_out: [{alpha: .nan}]\n", "alpha: nan is not a finite number"),
    ("alpha: [1e9]\n", "YAML reads 1e9 as text, not a number (an exponent needs a decimal point and a sign): "
                        "write 1.0e+09"),
    ("alpha: [0.5\n", "is not valid YAML"),
])
def test_bad_grid_files_are_one_line(tmp_path, digits_npz, text, fragment):
    grid = tmp_path / "grid.yaml"
    grid.write_text(text)
    assert_one_line_error(run("sweep", "--data", digits_npz, "--grid", grid, "--out", tmp_path / "s"), fragment,
                          "--grid")
    assert not (tmp_path / "s").exists()


def test_grids(tmp_path):
    assert len(load_grid("small")) == 8 and {j["depth"] for j in load_grid("small")} == {3, 4}
    thesis = load_grid("thesis")
    assert len(thesis) == 45 and sum(j["held_out"] for j in thesis) == 6
    grid = tmp_path / "resnet.yaml"
    grid.write_text("alpha: [0.25, 0.5]\ndepth: [1, 2]\nheld_out:\n  - {alpha: 0.375}\n")
    jobs = load_grid(str(grid), "resnet")
    assert [(j["alpha"], j["depth"], j["held_out"]) for j in jobs] == [
        (0.25, 1, False), (0.25, 2, False), (0.5, 1, False), (0.5, 2, False), (0.375, 1, True)]
    assert {j["arch"] for j in jobs} == {"resnet"} and job_key(jobs[-1]) == "resnet_alpha0.375_depth1"


@pytest.mark.parametrize("args, fragment, option", [
    (["--arch", "resnet8"], "resnet8 has no knob to sweep", "--arch"),
    (["--arch", "resnet", "--grid", "thesis"], "neither small nor a file", "--grid"),
])
def test_bad_family_sweeps_are_one_line(tmp_path, digits_npz, args, fragment, option):
    assert_one_line_error(run("sweep", "--data", digits_npz, *args, "--out", tmp_path / "s"), fragment, option)
    assert not (tmp_path / "s").exists()


def test_a_resnet_sweep_fits_a_resnet_law_the_solver_ranks(tmp_path, digits_npz):
    """Another family through the same command: its rows, its law (marked with its family) and a solver ranking
    that law's family; a PhiNet sweep is not resumed into it."""
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.solve.scaling_law import ScalingLaw
    from tinyml_kit.solve.solver import solve

    grid = tmp_path / "resnet.yaml"
    grid.write_text("alpha: [0.25, 0.375, 0.5, 0.75]\ndepth: [1]\n")
    out = tmp_path / "sweep"
    summary = run_sweep(str(digits_npz), out, str(grid), epochs=1, input_shape=(16, 16, 1), arch="resnet",
                        workers=2)
    assert summary["finished"] == 4 and not summary["failed"]
    rows = read_results(out)
    assert {r["arch"] for r in rows} == {"resnet"} and all(r["flash_bytes"] < r["tflite_bytes"] for r in rows)
    law = ScalingLaw.load(fit_law(out, splits=10))
    assert law.family == "resnet" and law.depths == [1]
    sol = solve(get_board("nano33-ble-sense"), input_shape=(16, 16, 1), law=law)
    assert sol.best.family == "resnet" and set(sol.families) == {"resnet"}
    assert_one_line_error(run("sweep", "--data", digits_npz, "--grid", "small", "--epochs", "1", "--input",
                              "16,16,1", "--out", out), "another arch", "--out")


def saturating_rows() -> list[dict]:
    """Five configurations at each of depths 4 and 7 whose accuracy saturates early (lines 1-5: depth 4)."""
    rows = []
    for depth, base in ((4, 70.0), (7, 72.0)):
        for i, params in enumerate((2_000, 6_000, 20_000, 60_000, 150_000)):
            accuracy = base + 8 * (1 - 0.5 ** i)
            rows.append({"alpha": 0.1 * (i + 1), "beta": 1.0, "t0": 5, "depth": depth, "key": f"{depth}-{i}",
                         "params": params, "int8_accuracy": accuracy / 100})
    return rows


def hand_written_sweep(out, lines: list[str]):
    """A sweep directory as `sweep` leaves it, with results.jsonl's `lines` as given."""
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"dataset": "mine.npz", "dataset_sha256": "0" * 64,
                                                "recipe": {"epochs": 1, "input_shape": [32, 32, 3]}}))
    (out / RESULTS).write_text("".join(line + "\n" for line in lines))
    return out


def test_a_users_law_changes_what_solve_picks_and_predicts(tmp_path):
    """A sweep where accuracy saturates early: its law ranks configurations differently from the shipped one. Its
    sweep.json is an old one, naming the dataset by the path on the machine that swept: the law names the file."""
    out = hand_written_sweep(tmp_path / "sweep", [json.dumps(r) for r in saturating_rows()])
    meta = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps(dict(meta, dataset="/home/someone/data/mine.npz")))
    assert fit_law(out, splits=20).is_file() and (out / "law.png").stat().st_size > 0
    assert json.loads((out / "law.json").read_text())["source"]["dataset"] == "mine.npz"
    mine = json.loads(run("solve", "--board", "nucleo-f401re", "--law", out, "--json").stdout)
    shipped = json.loads(run("solve", "--board", "nucleo-f401re", "--json").stdout)
    assert 70 < mine["predicted_accuracy"] <= 81 and mine["predicted_accuracy"] != shipped["predicted_accuracy"]
    knobs = ("alpha", "beta", "t0", "depth")
    assert [mine[k] for k in knobs] != [shipped.get(k) for k in knobs]   # this law favours N 7 at this size
    assert mine["depth"] == 7
    assert_one_line_error(run("solve", "--law", tmp_path / "nowhere"), "no scaling-law fit", "--law")


ROW = {"alpha": 0.9, "beta": 1.0, "t0": 5, "depth": 4, "key": "bad", "params": 90_000, "int8_accuracy": 0.75}


@pytest.mark.parametrize("bad, fragment", [
    (dict(ROW, params="many"), ':6: params "many" is not a number'),
    (dict(ROW, params=-5), ":6: params -5 is impossible (above 0 in any model)"),
    (dict(ROW, int8_accuracy=1.5), ":6: int8_accuracy 1.5 is impossible (an accuracy is a fraction in [0, 1])"),
    (dict(ROW, depth=4.5), ":6: depth 4.5 is not a whole number"),
    ({k: v for k, v in ROW.items() if k != "params"}, ":6 has no params"),
    ([1, 2], ":6 is not a result (a JSON object per line)"),
])
def test_a_bad_results_line_is_refused_by_file_and_line(tmp_path, bad, fragment):
    lines = [json.dumps(r) for r in saturating_rows()]
    out = hand_written_sweep(tmp_path / "sweep", [*lines[:5], json.dumps(bad), *lines[5:]])
    assert_one_line_error(run("sweep", "--fit", out), f"{out / RESULTS}{fragment}", "correct or delete that line"
                          if isinstance(bad, dict) else "delete that line")
    assert not (out / "law.json").exists()


def test_repeated_and_cut_short_results_are_dropped_with_a_word(tmp_path):
    """A configuration recorded twice keeps its first row; a line a killed sweep cut short is dropped, and the next
    result appended after it starts on a line of its own."""
    from tinyml_kit.pipeline.sweep import _append

    lines = [json.dumps(r) for r in saturating_rows()]
    out = hand_written_sweep(tmp_path / "sweep", [*lines, lines[0]])
    with (out / RESULTS).open("a") as f:
        f.write('{"alpha": 0.4, "key": "a0.4')
    _append(out, dict(ROW, key="after"))
    assert [r["key"] for r in read_results(out)][-2:] == ["7-4", "after"]
    result = run("sweep", "--fit", out, "--splits", "5")
    assert result.exit_code == 0, result.stderr
    assert f"{out / RESULTS}:11 repeats the configuration of line 1 (4-0): dropped" in result.stderr
    assert f"{out / RESULTS}:12 is not a complete JSON line" in result.stderr


@pytest.mark.parametrize("what, fragment", [
    ("nothing", "does not exist: give the --out of a `tinyml-kit sweep`"),
    ("a fit run", "is not a sweep directory (it has no sweep.json): give the --out of a `tinyml-kit sweep`"),
])
def test_fitting_the_law_of_what_is_not_a_sweep_says_so(tmp_path, what, fragment):
    target = tmp_path / "run"
    if what == "a fit run":
        target.mkdir()
        (target / "report.json").write_text("{}")
    assert_one_line_error(run("sweep", "--fit", target), f"{target} {fragment}")
    assert sorted(p.name for p in tmp_path.rglob("*")) == (["report.json", "run"] if what == "a fit run" else [])


def test_a_law_that_does_not_converge_is_one_line(tmp_path, monkeypatch):
    from tinyml_kit.solve import scaling_law

    def diverges(*args, **kwargs):
        raise RuntimeError("generalized_hyperbolic did not converge on 5 points")

    monkeypatch.setattr(scaling_law, "fit_form", diverges)
    out = hand_written_sweep(tmp_path / "sweep", [json.dumps(r) for r in saturating_rows()])
    assert_one_line_error(run("sweep", "--fit", out, "--splits", "2"), "the law's curve does not fit depth 4's 5 "
                          "results (accuracy 70.0-77.5 % over 2,000-150,000 parameters): sweep more widths")
    assert not (out / "law.json").exists()


def test_fit_refuses_a_missing_law_before_anything_is_written(tmp_path):
    assert_one_line_error(run("fit", "--law", tmp_path / "nowhere", "--out", tmp_path / "run"), "no scaling-law fit",
                          "--law")
    assert not (tmp_path / "run").exists()


def flaky_work(job, data, recipe):
    """Stands in for training in the worker processes: one configuration always fails, one fails once."""
    from pathlib import Path

    marker = Path(data).parent / f"tried-{job['alpha']}"
    if job["alpha"] == 0.3 or (job["alpha"] == 0.4 and not marker.exists()):
        marker.touch()
        raise RuntimeError(f"no luck with {job['alpha']}")
    return {"key": f"a{job['alpha']:g}", "alpha": job["alpha"], "depth": 3, "params": 1_000, "int8_accuracy": 0.5}


def test_a_failing_configuration_is_retried_once_then_recorded(tmp_path, digits_npz):
    data = tmp_path / "data.npz"
    data.write_bytes(digits_npz.read_bytes())
    grid = tmp_path / "grid.yaml"
    grid.write_text("alpha: [0.2, 0.3, 0.4]\nbeta: [1.0]\nt0: [4]\ndepth: [3]\n")
    summary = run_sweep(str(data), tmp_path / "sweep", str(grid), 1, (16, 16, 1), workers=2, work=flaky_work)
    assert summary["failed"] == ["a0.3_b1_t4_n3"]
    rows = read_results(tmp_path / "sweep")
    assert sorted(r["key"] for r in rows if "error" not in r) == ["a0.2", "a0.4"]   # 0.4 passed on its retry
    assert [r["error"] for r in rows if "error" in r] == ["RuntimeError: no luck with 0.3"]
    meta = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert (meta["dataset"], meta["grid"]) == ("data.npz", "grid.yaml") and len(meta["grid_sha256"]) == 64


def test_shipped_results_name_no_machines_path():
    """Sweeps, laws and bench results name data by file name and checksum and runs relative to the repository (or
    as RUN_DIR), and are strict JSON (no NaN)."""
    from pathlib import Path

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {path}"))

    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        return [s for v in value for s in strings(v)] if isinstance(value, list) else [value]

    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("models/sweep/*/*.json"), *root.glob("bench/results/*.json"),
             *root.glob("bench/results/*.jsonl")]
    assert len(files) > 15
    for path in files:
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        found = [s for line in lines if line.strip() for s in strings(strict(line))
                 if isinstance(s, str) and s.startswith("/")]
        assert not found, f"{path}: {found[:3]}"
    for sweep in root.glob("models/sweep/*/sweep.json"):
        meta = json.loads(sweep.read_text())
        assert meta["dataset"] == "cifar10-5k.npz" and len(meta["dataset_sha256"]) == 64 and "grid_sha256" in meta


def quick_work(job, data, recipe):
    """Stands in for training in the worker processes: a plausible result at once."""
    from tinyml_kit.pipeline.sweep import job_key

    return {"key": job_key(job), "alpha": job["alpha"], "depth": int(job["depth"]), "params": int(1e5 * job["alpha"]),
            "int8_accuracy": 0.5, "held_out": job["held_out"]}


@pytest.mark.parametrize("what, fragment", [
    ("a file", "is a file: sweep into a directory (a new one, or a sweep's to resume it)"),
    ("a fit run", "holds model.keras, report.json but no sweep (no sweep.json; a fit run?): sweep into a new or "
                  "empty directory"),
])
def test_a_sweep_into_what_is_not_a_sweep_is_refused(tmp_path, digits_npz, what, fragment):
    out = tmp_path / "out"
    if what == "a file":
        out.write_text("mine")
    else:
        out.mkdir()
        for name in ("model.keras", "report.json"):
            (out / name).write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert_one_line_error(run("sweep", "--data", digits_npz, "--out", out), f"{out} {fragment}", "--out")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("host", ["here", "elsewhere"])
def test_a_directory_another_sweep_holds_is_refused(tmp_path, digits_npz, host):
    """The lock names a live process (this one) on this machine, or a process on another machine that cannot be
    checked: either way the directory is left as it was."""
    import os
    import socket

    out = tmp_path / "sweep"
    out.mkdir()
    lock = json.dumps({"pid": os.getpid(), "host": socket.gethostname() if host == "here" else "node-7"})
    (out / "sweep.lock").write_text(lock)
    result = run("sweep", "--data", digits_npz, "--grid", "small", "--out", out)
    if host == "here":
        assert_one_line_error(result, f"{out} is being swept by process {os.getpid()}: wait for it to finish", "--out")
    else:
        assert_one_line_error(result, f"process {os.getpid()} on node-7: wait for it to finish, or if no sweep runs "
                              f"there any more, delete {out / 'sweep.lock'}")
    assert [p.name for p in out.iterdir()] == ["sweep.lock"] and (out / "sweep.lock").read_text() == lock


def test_a_dead_sweeps_lock_is_taken_over_and_a_limited_run_counts_what_is_done(tmp_path, digits_npz, caplog):
    import logging
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.lock").write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname()}))
    with caplog.at_level(logging.INFO, logger="tinyml_kit"):
        summary = run_sweep(str(digits_npz), out, "thesis", 1, (16, 16, 1), limit=1, work=quick_work)
    meta = json.loads((out / "sweep.json").read_text())   # the data by name and checksum, not this machine's path
    assert (meta["dataset"], meta["grid"], len(meta["dataset_sha256"])) == (digits_npz.name, "thesis", 64)
    assert f"the sweep of process {gone.pid} is gone" in caplog.text
    assert "45 configurations, 0 done, 1 to train now (44 more on the next run)" in caplog.text
    assert (summary["finished"], summary["trained_now"]) == (1, 1) and not (out / "sweep.lock").exists()


def test_more_cores_per_configuration_than_the_machine_has_is_refused(tmp_path, digits_npz, monkeypatch, caplog):
    import os

    from tinyml_kit.pipeline.sweep_pool import require_local_cores

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    out = tmp_path / "sweep"
    assert_one_line_error(run("sweep", "--data", digits_npz, "--cpus-per-task", "64", "--out", out),
                          "64 cores per configuration on a machine with 2: give at most 2", "--cpus-per-task")
    assert not out.exists()
    require_local_cores(2, 2)
    assert "2 configurations at once x 2 core(s) each is more than this machine's 2" in caplog.text


def sleepy_work(job, data, recipe):
    """Stands in for a configuration that trains for a long time."""
    import time

    time.sleep(600)


def test_ctrl_c_twice_stops_a_sweep_with_one_line_and_no_traceback(tmp_path, digits_npz):
    """The second Ctrl-C lands while the workers are being stopped: still one `interrupted` line, exit 130, no
    traceback, and the directory unlocked."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "sweep"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_sweep\n"
            "import tinyml_kit.pipeline.sweep as sweep; sweep.train_one = test_sweep.sleepy_work\n"
            "from tinyml_kit.cli import main\n"
            f"main(['sweep', '--data', {str(digits_npz)!r}, '--input', '8,8,1', '--workers', '2', '--out', "
            f"{str(out)!r}])")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "sweep.json").exists():
        time.sleep(0.2)
    time.sleep(1.0)   # into the loop that waits on the workers
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    stderr = stderr.decode()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert [ln for ln in stderr.splitlines() if ln.strip()][-1].startswith("interrupted: 0 finished results kept")
    assert not (out / "sweep.lock").exists()


def _stop_after(args: list[str], out, results: int, how: str) -> None:
    """Start `args` (a sweep), wait until `out` holds `results` finished results, then stop it by `how`: Ctrl-C as
    a terminal delivers it, or SIGKILL to the whole group (the sweep and its workers, no clean-up)."""
    import os
    import signal
    import subprocess
    import time

    # a runner started in the background may hand down SIGINT ignored: restore the default as a terminal has it
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and len(read_results(out)) < results:
        time.sleep(0.5)
    assert len(read_results(out)) >= results, f"{results} configuration(s) not finished in time before {how}"
    if how == "SIGKILL":
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode != 0
    if how == "SIGINT":
        assert "finished results kept" in process.stderr.read().decode()


@pytest.mark.slow
@pytest.mark.parametrize("executor, alphas, stops", [("local", (0.2, 0.25, 0.3), ("SIGINT", "SIGKILL")),
                                                    ("ray", (0.2, 0.25), ("SIGKILL",))])
def test_a_sweep_interrupted_then_killed_midway_resumes_with_one_result_per_configuration(tmp_path, digits_npz,
                                                                                         executor, alphas, stops):
    """A sweep stopped while a configuration trains, by Ctrl-C after its first result, then (resumed) by SIGKILL
    after its second (Ray: killed after its first): each run resumes what the last left, and the last (here in this
    process, on a local Ray the sweep starts and stops for the Ray executor) trains only what is left and ends with
    one result per configuration; one more has nothing to train, and a resume with another recipe is refused."""
    import sys

    if executor == "ray":
        pytest.importorskip("ray")
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"alpha: [{', '.join(map(str, alphas))}]\nbeta: [1.0]\nt0: [4]\ndepth: [3]\n")
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "tinyml_kit.cli", "sweep", "--data", str(digits_npz), "--grid", str(grid),
            "--epochs", "1", "--input", "16,16,1", "--out", str(out), "--executor", executor, "--workers", "1"]
    for results, how in enumerate(stops, start=1):
        _stop_after(args, out, results, how)
    done = len(read_results(out))
    summary = run_sweep(str(digits_npz), out, str(grid), 1, (16, 16, 1), executor=executor, workers=1)
    assert (summary["executor"], summary["finished"], summary["trained_now"], summary["failed"]) == (
        executor, len(alphas), len(alphas) - done, [])
    assert summary["workers"] >= 1
    if executor == "ray":
        import ray

        assert not ray.is_initialized()   # the sweep stopped the Ray it started
    rows = read_results(out)
    assert sorted(r["key"] for r in rows) == sorted(f"a{a:g}_b1_t4_n3" for a in alphas)
    assert all(r["flash_bytes"] > 0 and r["arena_bytes"] > 0 and 0 <= r["int8_accuracy"] <= 1 and r["params"] > 0
               for r in rows)
    again = run_sweep(str(digits_npz), out, str(grid), 1, (16, 16, 1), executor=executor)
    assert again["trained_now"] == 0 and len(read_results(out)) == len(alphas)
    assert_one_line_error(run("sweep", "--data", digits_npz, "--grid", grid, "--epochs", "2", "--input", "16,16,1",
                              "--out", out), "another recipe", "--out")


def test_ray_executor_retries_a_failing_configuration_once_then_records_it(tmp_path, digits_npz):
    pytest.importorskip("ray")
    import sys

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # Ray workers cannot import the tests
    data = tmp_path / "data.npz"
    data.write_bytes(digits_npz.read_bytes())
    grid = tmp_path / "grid.yaml"
    grid.write_text("alpha: [0.3, 0.4]\nbeta: [1.0]\nt0: [4]\ndepth: [3]\n")
    summary = run_sweep(str(data), tmp_path / "sweep", str(grid), 1, (16, 16, 1), executor="ray", workers=1,
                        cpus_per_task=1, work=flaky_work)
    assert summary["failed"] == ["a0.3_b1_t4_n3"]
    rows = read_results(tmp_path / "sweep")
    assert [r["key"] for r in rows if "error" not in r] == ["a0.4"]
    assert [r["error"] for r in rows if "error" in r] == ["RuntimeError: no luck with 0.3"]


def test_ray_without_the_extra_says_how_to_install_it(tmp_path, digits_npz, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)   # as if Ray were not installed
    result = run("sweep", "--data", digits_npz, "--executor", "ray", "--out", tmp_path / "s")
    assert_one_line_error(result, 'pip install -e ".[ray]"', "--executor")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--executor", "ray", "--ray-address", "headnode"], "is not HOST:PORT"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:9"], "no Ray cluster answers at 127.0.0.1:9"),
    (["--ray-address", "127.0.0.1:6379"], "--ray-address is for --executor ray"),
    (["--workers", "0"], "0 workers: give at least 1"),
])
def test_bad_executor_options_are_one_line(tmp_path, digits_npz, args, fragment):
    pytest.importorskip("ray")
    assert_one_line_error(run("sweep", "--data", digits_npz, "--out", tmp_path / "s", *args), fragment)
    assert not (tmp_path / "s").exists()
