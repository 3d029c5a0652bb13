"""The typed results of `verify`, `analyze` and the candidates' measurements: their JSON is the one users' scripts
read (keys and order), and what is written reads back into the same record, older files included."""

import json

from test_cli import run

from tinyml_kit.core.verification import ElfSections, Measurement, OpProfile, VerifyResult

# `verify --json` of a run, as the CLI printed it before the result was typed (TFLM reference kernels, profiled)
VERIFIED = {
    "engine": "tflm", "kernels": "ref", "core": "m4", "core_title": "Cortex-M4F", "machine": "mps2-an386",
    "images": 3, "bit_exact": True, "outputs_equal_fraction": 1.0, "max_abs_diff": 0, "top1_agreement": 1.0,
    "elf_flash_bytes": 151000, "elf_ram_bytes": 60000, "elf_sections": {"text": 140000, "data": 11000, "bss": 49000},
    "model_bytes": 30000, "arena_used_bytes": 20000, "arena_reserved_bytes": 22928, "arena_host_bytes": 21824,
    "stack_used_bytes": 1500, "instructions_per_inference": 1200, "instructions_range": [1180, 1220],
    "board": "nucleo-f401re", "board_flash_bytes": 524288, "board_ram_bytes": 98304, "fits_flash": True,
    "fits_ram": True, "fits": True,
    "profile": [{"index": 0, "op": "CONV_2D", "instructions": 1040, "share": 1040 / 1200},
                {"index": 2, "op": "ADD", "instructions": 100, "share": 100 / 1200}],
    "profile_instructions": 1140, "profile_coverage": 0.95,
    "profile_by_op": [{"op": "CONV_2D", "count": 1, "instructions": 1040, "share": 1040 / 1200},
                      {"op": "ADD", "count": 1, "instructions": 100, "share": 100 / 1200}],
    "run_dir": "/runs/a",
}


def verified(**changes) -> VerifyResult:
    """A `verify` result to test readers with (`changes`: its JSON keys)."""
    return VerifyResult.from_dict({**VERIFIED, **changes})


def test_a_verify_result_writes_its_json_key_for_key_and_reads_it_back():
    v = verified()
    assert v.elf_sections == ElfSections(140000, 11000, 49000) and v.profiled
    assert v.profile.ops[0] == OpProfile(0, "CONV_2D", 1040, 1040 / 1200) and v.profile.by_op[1].op == "ADD"
    assert list(v.to_dict().items()) == list(VERIFIED.items())   # the same keys, in the same order
    assert VerifyResult.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    plain = {k: x for k, x in VERIFIED.items() if not k.startswith("profile") and k != "run_dir"}
    assert VerifyResult.from_dict(plain).to_dict() == plain and not VerifyResult.from_dict(plain).profiled


CYCLES = {"cycles_est": 1500, "cycles_range": [1480, 1520], "latency_ms": 0.018, "clock_mhz": 84,
          "cycles_validated": True, "cycle_basis": "the M4 table; flash: 2 wait states", "flash_misses": 12}


def test_a_verify_result_with_cycles_writes_them_after_the_instructions_and_reads_them_back():
    """Cycles came later: they follow the keys results had before, per op too, and read back as they were."""
    ops = [{**op, "cycles": c, "flash_misses": m, "flash_loads": f}
           for op, c, m, f in zip(VERIFIED["profile"], (1300, 125), (10, 2), (40, 8), strict=True)]
    by_op = [{**t, "cycles": c} for t, c in zip(VERIFIED["profile_by_op"], (1300, 125), strict=True)]
    timed = {**{k: x for k, x in VERIFIED.items() if not k.startswith("profile") and k != "run_dir"}, **CYCLES,
             "profile": ops, "profile_instructions": 1140, "profile_coverage": 0.95, "profile_by_op": by_op,
             "profile_cycles": 1425, "run_dir": VERIFIED["run_dir"]}
    v = VerifyResult.from_dict(timed)
    assert v.cycles.cycles_est == 1500 and v.profile.ops[1].cycles == 125 and v.profile.cycles == 1425
    assert list(v.to_dict().items()) == list(timed.items())
    from tinyml_kit.check.verify import verify_lines

    lines = "\n".join(verify_lines(v))
    assert "~1,500 cycles per inference est. = 0.018 ms at 84 MHz" in lines and "flash: 2 wait states" in lines
    assert "ops sum to 1,425 of 1,500 estimated cycles" in lines


def test_a_verify_result_from_before_the_engine_and_core_were_recorded_reads_as_tflm_on_the_m4():
    old = {k: x for k, x in VERIFIED.items() if k not in ("engine", "core", "core_title", "machine")}
    v = VerifyResult.from_dict(old)
    assert (v.engine, v.core, v.core_title, v.machine) == ("tflm", "m4", "Cortex-M4F", "mps2-an386")


def test_a_measurement_round_trips_and_an_older_one_lacks_only_its_instructions():
    m = Measurement("tinynet", {"alpha": 1.5, "depth": 3}, 27658, 743808, 35784, 21824, 22928, True, 3073201)
    assert Measurement.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    older = {k: x for k, x in m.to_dict().items() if k != "instructions"}
    assert Measurement.from_dict(older).instructions is None


# `analyze --json --board B --engine c`'s keys, in the order they were printed before the result was typed
ANALYZED = ["model", "flash_bytes", "tflite_bytes", "weights_bytes", "structure_bytes", "params", "macs", "ops",
            "op_count", "arena_bytes", "arena_alloc_bytes", "arena_head_bytes", "arena_tail_bytes",
            "plan_head_bytes", "plan_matches_tflm", "input_bytes", "output_bytes", "peak_layer", "peak_op",
            "peak_name", "peak_tensors", "layers", "tensors", "instructions_core", "instructions_est",
            "latency_ms_est", "latency_basis", "cycles_est", "board", "flash_linked_bytes", "flash_reserve_bytes",
            "flash_budget_bytes", "ram_linked_bytes", "ram_reserve_bytes", "arena_budget_bytes", "fits_flash",
            "fits_ram", "fits", "flash_margin_bytes", "flash_margin_percent", "ram_margin_bytes",
            "ram_margin_percent", "c_engine"]


def test_analyze_json_is_the_analysis_record_key_for_key(tiny_model):
    from tinyml_kit.check.analyze import analyze_model

    _, path = tiny_model
    r = analyze_model(path.read_bytes(), path.name, "nucleo-f401re", engine="c")   # its predictions
    printed = json.loads(run("analyze", path, "--board", "nucleo-f401re", "--json", "--engine", "c").stdout)
    assert list(printed) == ANALYZED and list(r.to_dict()) == ANALYZED[:-1]
    assert printed["layers"][0] == r.layers[0].to_dict() and set(printed["c_engine"]) == {
        "flash_bytes", "constant_bytes", "arena_bytes", "plan"}
    assert r.fits is True and r.board_fit.board == "nucleo-f401re"
    assert printed["peak_tensors"] == [vars(t) for t in r.peak_tensors]
    assert "fits" not in analyze_model(path.read_bytes(), path.name).to_dict()   # no board, no verdict
