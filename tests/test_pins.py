"""Pinned knobs on `solve` and `fit`: values, lists and ranges for PhiNet, ResNet, TinyNet and a MobileNet; what
each pin costs; the refusal of an impossible pin; a fully pinned fit is the model `inspect`'s knobs build."""

import json
import re

import numpy as np
import pytest
from conftest import patch_everywhere
from test_bad_input import no_data_loading  # noqa: F401
from test_cli import assert_one_line_error, run

from tinyml_kit.core.boards import get_board
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.pins import Pin, make_search, parse_pin, parse_pins
from tinyml_kit.solve.choice import NothingFits
from tinyml_kit.solve.pin_effects import effect_lines, pin_effects
from tinyml_kit.solve.solver import solve

BOARD = "nucleo-f746zg"


def test_pins_parse_values_lists_and_ranges():
    assert parse_pin("depth", "7") == Pin("depth", (7,)) and parse_pin("depth", "7").fixed
    assert parse_pin("t0", "4,5,6").values == (4.0, 5.0, 6.0)
    alpha = parse_pin("alpha", "0.25:1.0")
    assert (alpha.low, alpha.high, alpha.fixed) == (0.25, 1.0, False)
    assert alpha.axis((0.1, 0.3, 0.5, 1.2)) == (0.25, 0.3, 0.5, 1.0)          # the grid inside, and both ends
    assert parse_pin("depth", "3:6").axis((4, 7)) == (3, 4, 5, 6)              # every whole number
    assert parse_pin("downsampling_layers", "7,5").values == ((5, 7),)        # one value: the list of blocks
    assert parse_pins({"alpha": 0.5, "depth": None}) == {"alpha": Pin("alpha", (0.5,))}


@pytest.mark.parametrize("knob, text, fragment", [
    ("depth", "4.5", "depth=4.5 is not a whole number"),
    ("alpha", "1:0.5", "write 0.5:1"),
    ("alpha", "x", "alpha='x' is not a number"),
    ("alpha", "0", "alpha=0 must be above 0"),
    ("first_conv_stride", "3", "is 1 or 2"),
    ("attention", "se,cbam", "takes one value"),
    ("downsampling_layers", "2,5", "list blocks from 4 up"),
    ("alpha", "nan", "is not a finite number"),
    ("depth", "1:500", "depth=500 is beyond any model a microcontroller holds: give at most 20"),
])
def test_bad_pins_are_refused_by_name(knob, text, fragment):
    with pytest.raises(UserError, match=None) as e:
        parse_pin(knob, text)
    assert fragment in str(e.value)


@pytest.mark.parametrize("family, given, check", [
    ("phinet", {"depth": "7"}, lambda k: k["depth"] == 7),
    ("phinet", {"t0": "4,5", "depth": "4"}, lambda k: k["t0"] in (4, 5) and k["depth"] == 4),
    ("phinet", {"alpha": "0.3:0.6", "beta": "1"}, lambda k: 0.3 <= k["alpha"] <= 0.6 and k["beta"] == 1),
    ("resnet", {"depth": "2"}, lambda k: k["depth"] == 2),
    ("resnet", {"alpha": "0.25,0.5"}, lambda k: k["alpha"] in (0.25, 0.5)),
    ("resnet", {"alpha": "0.3:0.6", "depth": "1:2"}, lambda k: 0.3 <= k["alpha"] <= 0.6 and k["depth"] in (1, 2)),
    ("tinynet", {"depth": "4"}, lambda k: k["depth"] == 4),
    ("tinynet", {"alpha": "0.5,0.75,1"}, lambda k: k["alpha"] in (0.5, 0.75, 1.0)),
    ("tinynet", {"alpha": "0.5:1.0", "depth": "3,5"}, lambda k: 0.5 <= k["alpha"] <= 1 and k["depth"] in (3, 5)),
])
def test_solver_keeps_pins_and_ranks_the_free_knobs(family, given, check):
    search = make_search(family, given)
    sol = solve(get_board(BOARD), pins=search.pins, law=_laws(family))
    for choice in [sol.best, *sol.runner_ups]:
        assert choice.family == family and check(choice.knobs()), choice.knobs()
    free = solve(get_board(BOARD), law=_laws(family))
    assert sol.best.predicted_accuracy <= free.best.predicted_accuracy + 1e-9   # a pin never helps
    fixed = {k for k, p in search.pins.items() if p.fixed}
    assert set(sol.chosen()) == set(sol.best.knobs()) - fixed   # a pick within a list or range is the solver's


def _laws(family):
    from tinyml_kit.solve.scaling_law import family_laws

    return family_laws(family)


def test_explanation_says_what_a_binding_pin_costs():
    board = get_board(BOARD)
    sol = solve(board, pins=parse_pins({"depth": "7"}), law=_laws("phinet"))
    free = solve(board, law=_laws("phinet"))
    (effect,) = pin_effects(sol)
    assert effect.free.estimate.describe() == free.best.estimate.describe()
    gain = free.best.predicted_accuracy - sol.best.predicted_accuracy
    assert gain > 0.05 and effect.gain == pytest.approx(gain)
    header, line = effect_lines(sol, [effect])
    assert header.strip() == "pinned depth 7; what each pin costs, in predicted accuracy:"
    assert line.strip() == (f"with depth 7 fixed, the best fit is {sol.best.estimate.describe()} "
                            f"({sol.best.predicted_accuracy:.1f} %); with depth free it would be "
                            f"{free.best.estimate.describe()} ({free.best.predicted_accuracy:.1f} %), "
                            f"+{gain:.1f} points predicted")


def test_solve_cli_pins_and_records_pinned_and_chosen():
    result = run("solve", "--board", BOARD, "--family", "phinet", "--depth", "7", "--t0", "4,5", "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["pinned"] == {"depth": 7, "t0": [4.0, 5.0]} and set(d["chosen"]) == {"alpha", "beta", "t0"}
    assert d["depth"] == 7 and d["t0"] in (4, 5)
    assert [e["knob"] for e in d["pin_effects"]] == ["t0", "depth", "all"] and d["pin_lines"]
    text = run("solve", "--board", BOARD, "--arch", "phinet", "--depth", "7").stdout
    assert "with depth 7 fixed, the best fit is phinet(" in text and "with depth free it would be" in text


def test_auto_keeps_only_families_with_the_pinned_knob():
    result = run("solve", "--board", BOARD, "--beta", "1", "--json")
    d = json.loads(result.stdout)
    assert d["family"] == "phinet" and set(d["families"]) == {"phinet"}


def test_impossible_pin_says_by_how_much_and_the_nearest_fitting_values():
    result = run("solve", "--board", BOARD, "--arch", "phinet", "--alpha", "2", "--depth", "7", "--max-flash",
                 "200KB")
    assert_one_line_error(result, "no PhiNet with alpha 2, depth 7 fits", "flash", "(+", "nearest that fit",
                          "--alpha ", "--depth ")
    alpha = float(re.search(r"nearest that fit, the other pins kept: --alpha ([\d.]+)", result.stderr).group(1))
    # the value named fits, and the next step up the grid does not
    solve(get_board(BOARD), max_flash=200_000, pins=parse_pins({"alpha": alpha, "depth": 7}), law=_laws("phinet"))
    with pytest.raises(NothingFits):
        solve(get_board(BOARD), max_flash=200_000, pins=parse_pins({"alpha": round(alpha + 0.05, 2), "depth": 7}),
              law=_laws("phinet"))


@pytest.mark.parametrize("args, fragments", [
    (["--arch", "resnet", "--beta", "1"], ["--beta does not apply to ResNet", "(its knobs: alpha, depth)"]),
    (["--arch", "mobilenetv1"], ["MobileNetV1 has no accuracy law", "fit --arch mobilenetv1"]),
    (["--arch", "phinet", "--attention", "cbam"], ["fit --arch phinet --attention cbam"]),
    (["--arch", "phinet,mobilenetv2"], ["list only phinet, resnet, tinynet"]),
    (["--depth", "7", "--frontier"], ["--frontier ranks every family"]),
    (["--arch", "resnet", "--attention", "se"], ["--attention does not apply to ResNet"]),
    (["--arch", "phinet", "--depth", "1:3"], ["so N starts at 4", "give --depth 4 or more"]),
    (["--beta", "1", "--depth", "2"], ["so N starts at 4"]),     # under auto too: PhiNet has both knobs
    (["--depth", "4:20", "--t0", "1:16", "--beta", "0.5:2", "--divisor", "1:64"],
     ["371,280 PhiNet configurations to rank (at most 12,000)", "narrow or fix one of --beta, --t0, --depth"]),
    (["--arch", "phinet", "--depth", "7", "--downsampling-layers", "9"], ["block 9 of --downsampling-layers",
                                                                         "give --depth 9 or more"]),
    # the default blocks too, when listed: block 7 does not exist at N 4
    (["--arch", "phinet", "--depth", "4", "--downsampling-layers", "5,7"], ["block 7 of --downsampling-layers",
                                                                           "give --depth 7 or more"]),
])
def test_solve_refuses_pins_it_cannot_honour(args, fragments):
    assert_one_line_error(run("solve", "--board", BOARD, *args), *fragments)


def test_resnet8_is_resnet_with_width_and_depth_pinned():
    d = json.loads(run("solve", "--board", "nucleo-h743zi2", "--arch", "resnet8", "--json").stdout)
    assert (d["family"], d["alpha"], d["depth"]) == ("resnet", 1.0, 1)
    assert d["pin_effects"] == [] and d["pinned"] == {}   # the alias's width and depth are not the user's pins
    assert_one_line_error(run("solve", "--board", BOARD, "--arch", "resnet8", "--max-latency-ms", "50"),
                          "no ResNet with alpha 1, depth 1", "raise the limits")


def test_pins_beyond_the_sweep_are_flagged_and_their_effect_worded_so():
    """beta 2 and t0 7 lie outside PhiNet's sweep: the law predicts them from parameters alone."""
    sol = solve(get_board(BOARD), pins=parse_pins({"beta": "0.5:2", "t0": "1:8"}), law=_laws("phinet"), engine="tflm")
    assert sol.best.extrapolated and "beta 2 outside the swept 0.75-1.35" in sol.best.basis
    effects = pin_effects(sol)
    lines = effect_lines(sol, effects, header=False)
    assert len(lines) == len(effects) and not any("costs nothing" in line for line in lines)
    for e, line in zip(effects, lines, strict=False):
        if e.gain <= -0.05:
            what = "every pin" if e.knob == "all" else f"{e.knob} {e.pinned}"
            assert line.strip().startswith(f"{what} reaches beyond the sweep"), line


def test_a_pin_between_grid_steps_is_said_to_be_off_the_grid_not_beyond_the_sweep():
    """30 ms on the board holds a ResNet of width 0.55 but not the grid's next width, 0.625 (~37 ms on the C engine):
    the pin beats the grid."""
    sol = solve(get_board(BOARD), pins=parse_pins({"alpha": "0.55"}), law=_laws("resnet"), max_latency_ms=30)
    (effect,) = pin_effects(sol)
    assert not sol.best.extrapolated and effect.gain < -0.05
    (line,) = effect_lines(sol, [effect], header=False)
    assert line.strip().startswith("alpha 0.55 is off the solver's grid: with it free the best on the grid is")


def test_freeing_a_pin_reopens_the_families_it_closed():
    pinned = json.loads(run("solve", "--board", BOARD, "--beta", "1", "--json").stdout)
    free = json.loads(run("solve", "--board", BOARD, "--json").stdout)
    assert set(pinned["families"]) == {"phinet"} and free["family"] != "phinet"
    (effect,) = pinned["pin_effects"]
    assert effect["free_best"].startswith(free["family"] + "(")
    assert effect["free_predicted_accuracy"] == free["predicted_accuracy"]


def test_style_alone_searches_phinet_and_ranges_cover_their_ends():
    from tinyml_kit.core.family import PHINET

    assert make_search("auto", {"attention": "cbam"}).families == ("phinet",)
    assert make_search("auto", {"depth": "7"}).families == ("auto",)
    assert parse_pin("divisor", "5:7").axis(PHINET.plan["divisor"].grid) == (5, 7)
    assert parse_pin("divisor", "3:9").axis(PHINET.plan["divisor"].grid) == (3, 4, 8, 9)


def test_a_downsampling_block_past_the_swept_depths_takes_n_that_deep():
    sol = solve(get_board("nucleo-h743zi2"), pins=parse_pins({"downsampling_layers": "9"}), law=_laws("phinet"))
    assert sol.best.knobs()["depth"] == 9 and "depth 9 not swept: on the depth-7 curve" in sol.best.basis


def test_freeing_a_pin_below_the_laws_sizes_says_nothing_fits_then():
    sol = solve(get_board(BOARD), max_flash=5_000, pins=parse_pins({"alpha": "0.05"}), law=_laws("tinynet"),
                engine="tflm")
    (effect,) = pin_effects(sol)
    assert effect.free is None and "nothing the laws cover fits" in effect_lines(sol, [effect])[1]


def test_mobilenet_grid_is_narrowed_by_its_pin():
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.pipeline.candidates import candidates

    board = get_board(BOARD)
    pool, explained = candidates(make_search("mobilenetv2", {"alpha": "0.3:0.5"}), (32, 32, 3), 10, board,
                                 make_budget(board))
    assert sorted(c.knobs["alpha"] for c in pool) == [0.3, 0.35, 0.5]
    assert explained.pinned == {"alpha": {"min": 0.3, "max": 0.5}}
    listed, _ = candidates(make_search("mobilenetv1", {"alpha": "0.2,0.3"}), (32, 32, 3), 10, board,
                           make_budget(board))
    assert sorted(c.knobs["alpha"] for c in listed) == [0.2, 0.3]   # listed values off the grid are built too


def test_fit_refuses_a_pin_its_family_lacks_before_loading_data(tmp_path):
    assert_one_line_error(run("fit", "--arch", "tinynet", "--t0", "4", "--data", tmp_path / "missing.npz",
                              "--out", tmp_path / "r"), "--t0 does not apply to TinyNet")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("arch, knobs", [
    ("phinet", {"alpha": "0.25", "beta": "1", "t0": "4", "depth": "4"}),
    ("resnet", {"alpha": "0.25", "depth": "1"}),
])
def test_fully_pinned_fit_is_the_model_inspects_knobs_build(tmp_path, digits_npz, arch, knobs):
    """Same architecture, same layer names: the run's trained weights in inspect's build convert to the run's
    .tflite byte for byte."""
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build, load_keras_model
    from tinyml_kit.train.data import load_dataset, split

    flags = [x for k, v in knobs.items() for x in ("--" + k.replace("_", "-"), v)]
    out = tmp_path / "run"
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--board", "nucleo-h743zi2",
                 "--arch", arch, *flags, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record["search"]["pinned"]) == set(knobs) and record["search"]["chosen"] == {}
    assert "every searched knob pinned: the model was measured as given" in (out / "report.html").read_text()
    inspected = json.loads(run("inspect", "--arch", arch, *flags, "--input", "16,16,1", "--classes", "3",
                               "--json").stdout)
    assert inspected["params"] == record["params"]
    model = build(arch, (16, 16, 1), 3, **{k: float(v) if k != "depth" else int(v) for k, v in knobs.items()})
    assert model.name == inspected["name"]
    model.set_weights(load_keras_model(out / "model.keras").get_weights())
    parts = split(load_dataset(str(digits_npz), (16, 16, 1)), seed=0)
    assert quantize_int8(model, calibration_images(parts.train.x, seed=0)) == (out / "model.tflite").read_bytes()


def test_fully_pinned_fit_that_does_not_fit_is_measured_and_refused_before_loading_data(
        tmp_path, digits_npz, no_data_loading):  # noqa: F811
    out = tmp_path / "r"
    # estimated at 795,374 B: within the estimates' margin of the limit, so it is measured
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--board", BOARD,
                 "--arch", "phinet", "--alpha", "1", "--beta", "1", "--t0", "6", "--depth", "7", "--max-flash", "780KB",
                 "--out", out)
    assert_one_line_error(result, "phinet(alpha=1, beta=1, t0=6, depth=7) does not fit", "it measures flash",
                          "> 780,000 B (+", "nearest that fit, the other pins kept (estimated): --alpha ")
    assert not out.exists()
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.pipeline.measure import measure

    alpha = float(re.search(r"\(estimated\): --alpha ([\d.]+)", result.stderr).group(1))
    board, knobs = get_board(BOARD), {"beta": 1.0, "t0": 6.0, "depth": 7}
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 1), dtype=np.uint8).astype(np.float32)
    assert measure("phinet", {"alpha": alpha, **knobs}, (16, 16, 1), 3, pixels, make_budget(board, 780_000), "tflm",
                   board).fits   # the value named fits as measured


HUGE = ("--arch", "phinet", "--alpha", "8", "--beta", "4", "--t0", "6", "--depth", "20")   # ~4.7 GiB of flash


def test_a_pinned_model_far_past_the_limits_is_refused_from_its_estimate_before_it_is_built(
        tmp_path, digits_npz, no_data_loading, monkeypatch):  # noqa: F811
    import tinyml_kit.nets as nets

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built before the refusal")

    patch_everywhere(monkeypatch, nets, "build", refuse)
    out = tmp_path / "r"
    result = run("fit", "--data", digits_npz, "--board", BOARD, *HUGE, "--out", out)
    assert_one_line_error(result, "no PhiNet with alpha 8, beta 4, t0 6, depth 20 fits nucleo-f746zg",
                          "MiB > 768.0 KiB", "(estimated)")
    assert not out.exists()
    for style in ((), ("--attention", "cbam")):   # inspect, and a styled PhiNet (by its squeeze-excite twin)
        result = run("inspect", *HUGE, *style)
        assert_one_line_error(result, "phinet(alpha=8, beta=4, t0=6, depth=20", "MiB of flash, more than any board",
                              "stm32n6570-dk")
    result = run("fit", "--data", digits_npz, "--board", BOARD, *HUGE, "--attention", "cbam", "--out", out)
    assert_one_line_error(result, "more than any board holds")
    assert not out.exists()


@pytest.mark.slow
def test_fit_ranks_within_a_list_pin_and_records_what_it_chose(tmp_path, digits_npz):
    out = tmp_path / "run"
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--board", "nucleo-h743zi2",
                 "--arch", "tinynet", "--alpha", "0.25,0.5", "--depth", "2:3", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["choice"]["alpha"] in (0.25, 0.5) and record["choice"]["depth"] in (2, 3)
    search = record["search"]
    assert search["pinned"] == {"alpha": [0.25, 0.5], "depth": {"min": 2, "max": 3}}
    assert search["chosen"] == {"alpha": record["choice"]["alpha"], "depth": record["choice"]["depth"]}
    assert {e["knob"] for e in search["pin_effects"]} == {"alpha", "depth", "all"}
    assert any(line.startswith("with every pin free it would be") for line in search["pin_lines"])


@pytest.mark.slow
def test_nearest_value_of_a_family_without_a_law_is_converted_before_it_is_named(tmp_path, digits_npz,
                                                                                 no_data_loading):  # noqa: F811
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.pipeline.measure import measure

    result = run("fit", "--data", digits_npz, "--input", "32,32,1", "--board", BOARD, "--arch", "mobilenetv1",
                 "--alpha", "0.5", "--max-flash", "100KB", "--out", tmp_path / "r")
    assert_one_line_error(result, "mobilenetv1(alpha=0.5) does not fit", "it measures flash",
                          "nearest that fit, the other pins kept (by estimates, each checked by converting): --alpha ")
    alpha = float(re.search(r"converting\): --alpha ([\d.]+)", result.stderr).group(1))
    board = get_board(BOARD)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 1), dtype=np.uint8).astype(np.float32)
    assert measure("mobilenetv1", {"alpha": alpha}, (32, 32, 1), 3, pixels, make_budget(board, 100_000), "tflm",
                   board).fits
