"""`verify --core` on the four emulated Cortex-M cores and `verify --profile`: bit-exact on each, every op timed,
the ops summing to the whole inference; cores QEMU cannot emulate refused in one line."""

import json
from dataclasses import replace

import pytest
from test_cli import assert_one_line_error, run
from test_verification_records import VERIFIED, verified

from tinyml_kit.check.profile import parse_profile, profile_lines, profile_summary
from tinyml_kit.core.boards import get_board
from tinyml_kit.core.cores import CORES, core_for_board, require_core
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.core.verification import OpTypeProfile


def test_each_board_core_maps_to_its_qemu_machine_or_is_refused():
    assert core_for_board(get_board("nano33-ble-sense")).machine == "mps2-an386"
    assert core_for_board(get_board("nucleo-h743zi2")).machine == "mps2-an500"
    assert core_for_board(get_board("nucleo-u575zi-q")).machine == "mps2-an505"
    assert core_for_board(get_board("stm32n6570-dk")).machine == "mps3-an547"
    with pytest.raises(UserError, match="Cortex-M0\\+, which no QEMU machine here emulates"):
        core_for_board(get_board("rpi-pico"))
    assert require_core("m7", get_board("rpi-pico")) is CORES["m7"]   # asked for by name: any board


def test_profile_lines_give_medians_shares_and_the_sum():
    printed = "\n".join(["TINYML_OP 0 0 CONV_2D 1000", "TINYML_OP 0 2 ADD 100", "TINYML_OP 1 0 CONV_2D 1040",
                         "TINYML_OP 1 2 ADD 100", "TINYML_OP 2 0 CONV_2D 1080", "TINYML_OP 2 2 ADD 140"])
    ops = parse_profile(printed, 3, 1200)
    assert [(p.index, p.op, p.instructions) for p in ops] == [(0, "CONV_2D", 1040), (2, "ADD", 100)]
    summary = profile_summary(ops, 1200)
    assert summary.ops == ops and summary.instructions == 1140 and summary.coverage == pytest.approx(0.95)
    assert summary.by_op[0] == OpTypeProfile("CONV_2D", 1, 1040, pytest.approx(1040 / 1200))
    result = replace(verified(), instructions_per_inference=1200, profile=summary)
    assert result.to_dict()["profile_by_op"] == VERIFIED["profile_by_op"]   # verify's JSON, as written before
    assert profile_lines(result)[-1].endswith("the rest is TFLM's interpreter between ops")
    c_engine = profile_lines(replace(result, engine="c"))[-1]   # no interpreter: its own code between kernel calls
    assert "interpreter" not in c_engine and "the rest is the generated code between the kernel calls" in c_engine
    assert parse_profile("TINYML_OUTPUT 0 5 1 2", 1, 5) == []
    with pytest.raises(UserError, match="differs in its ops from image to image"):
        parse_profile("TINYML_OP 0 0 CONV_2D 10\nTINYML_OP 0 1 ADD 5\nTINYML_OP 1 0 CONV_2D 10", 2, 20)


def _profiled(out, *args) -> dict:
    result = run("verify", out, "--images", "2", "--profile", "--json", *args)
    assert result.exit_code == 0, result.output
    v = json.loads(result.stdout)
    assert v["bit_exact"] and v["images"] == 2
    total = v["instructions_per_inference"]
    assert sum(p["instructions"] for p in v["profile"]) == v["profile_instructions"]
    assert 0.99 <= v["profile_coverage"] <= 1.0, v["profile_coverage"]   # the ops are the inference
    assert sum(t["instructions"] for t in v["profile_by_op"]) == v["profile_instructions"] <= total
    # cycles, estimated by the QEMU plugin from the core's timing table: per op too, summing to the whole within 1 %
    assert sum(p["cycles"] for p in v["profile"]) == v["profile_cycles"] == sum(t["cycles"] for t in v["profile_by_op"])
    assert abs(v["profile_cycles"] - v["cycles_est"]) <= 0.01 * v["cycles_est"], (v["profile_cycles"], v["cycles_est"])
    assert v["latency_ms"] == pytest.approx(v["cycles_est"] / (v["clock_mhz"] * 1e3), abs=1e-3)
    return v


@pytest.mark.slow
@pytest.mark.parametrize("core", ["m7", "m33", "m55"])
def test_verify_on_another_core_is_bit_exact_and_profiled_op_by_op(fitted, core):
    out, report = fitted
    v = _profiled(out, "--core", core, "--kernels", "cmsis_nn")
    assert v["core"] == core and v["machine"] == CORES[core].machine
    ops = read_model((out / "model.tflite").read_bytes()).ops
    assert [p["index"] for p in v["profile"]] == list(range(len(v["profile"])))   # TFLM runs the graph in order
    assert set(p["op"] for p in v["profile"]) == set(ops)
    assert (out / f"verify_{core}_cmsis_nn_profile.json").is_file()   # beside the board's own core's
    if core == "m55":   # Helium kernels: several times fewer instructions than the M4F's DSP ones
        assert v["instructions_per_inference"] * 2 < report["verify"]["instructions_per_inference"]


@pytest.mark.slow
def test_c_engine_profile_names_the_models_ops(fitted):
    out, _ = fitted
    tflm = _profiled(out, "--kernels", "cmsis_nn")
    c = _profiled(out, "--engine", "c")
    kinds = {p["index"]: p["op"] for p in tflm["profile"]}
    fused = {p["index"] for p in c["profile"] if p["op"] == "RESIDUAL_BLOCK"}   # run row by row, at its ADD's index
    assert all(kinds[i] == "ADD" for i in fused)
    assert all(kinds[p["index"]] == p["op"] for p in c["profile"] if p["index"] not in fused)   # index and kind
    assert {p["op"] for p in c["profile"]} - {"RESIDUAL_BLOCK"} <= set(kinds.values())
    html = run("report", out)
    assert html.exit_code == 0, html.output
    page = (out / "report.html").read_text()
    assert "Per-op instructions: Cortex-M4F, C engine" in page and "every op, in execution order" in page


@pytest.mark.slow
def test_c_engine_on_the_m55_takes_the_helium_kernels_it_was_planned_for(fitted):
    """Planned again for CMSIS-NN's MVE kernels: bit-exact, and the arena the firmware's `tinyml_init` accepted
    (it asks CMSIS-NN for every scratch size) is the plan, which differs from the DSP cores' plan."""
    from tinyml_kit.core.cores import KernelFamily
    from tinyml_kit.engine.codegen import compile_model

    out, _ = fitted
    result = run("verify", out, "--engine", "c", "--core", "m55", "--images", "2", "--json")
    assert result.exit_code == 0, result.output
    v = json.loads(result.stdout)
    model = (out / "model.tflite").read_bytes()
    planned = {family: compile_model(model, family=family).arena_bytes for family in KernelFamily}
    assert v["bit_exact"] and v["core"] == "m55"
    assert v["arena_used_bytes"] == v["arena_host_bytes"] == planned[KernelFamily.MVE] != planned[KernelFamily.DSP]


def test_cores_qemu_cannot_run_are_refused_in_one_line(fitted, digits_npz, tmp_path):
    out, _ = fitted
    assert_one_line_error(run("verify", out, "--core", "m3"), "--core")
    assert_one_line_error(run("fit", "--data", digits_npz, "--board", "rpi-pico", "--verify", "--out",
                              tmp_path / "pico"), "no QEMU machine here emulates", "--core")
    assert not (tmp_path / "pico").exists()   # refused before training


def test_verify_refuses_a_board_without_memory_data_before_building():
    """Its cycles would rest on a guessed flash: one line naming the board and what is missing, and nothing built
    (the model source is not even looked at)."""
    from tinyml_kit.check.verify import verify_model

    board = replace(get_board("nucleo-f401re"), memory=None)
    with pytest.raises(UserError, match="board 'nucleo-f401re' .* has no memory-system data") as e:
        verify_model(None, None, board)
    assert "\n" not in str(e.value)
