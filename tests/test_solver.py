"""Scaling-law fitting and the budget solver (a synthetic law keeps these independent of the shipped fit)."""

import json
import random

import pytest

from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.boards import get_board, load_boards
from tinyml_kit.core.errors import UserError
from tinyml_kit.solve.estimate import estimate_phinet
from tinyml_kit.solve.scaling_law import FORMS, ScalingLaw, _merge, fit_sweep
from tinyml_kit.solve.solver import frontier, solve
from tinyml_kit.solve.summary import solution_summary

TRUE = {4: (3.0, 50.0, 0.3), 7: (4.0, 55.0, 0.3), 9: (5.0, 56.0, 0.28)}


@pytest.fixture(scope="module")
def law():
    return ScalingLaw("generalized_hyperbolic", {n: list(v) for n, v in TRUE.items()},
                      {4: (1_000, 300_000), 7: (5_000, 2_000_000), 9: (20_000, 5_000_000)})


def test_fit_recovers_a_known_law():
    rng = random.Random(0)
    rows = []
    for n, (a, c, phi) in TRUE.items():
        for i in range(10):
            p = int(10 ** rng.uniform(3, 6.7))
            rows.append({"alpha": 0, "beta": 0, "t0": 0, "depth": n, "params": p, "held_out": i >= 8,
                         "accuracy": c - a / (p / 1e6) ** phi + rng.gauss(0, 0.3)})
    fitted = fit_sweep(rows, splits=5)
    assert set(fitted.cv_rmse) == set(FORMS) and all(len(v) == 3 for v in fitted.cv_rmse.values())
    for p in (3_000, 100_000, 3_000_000):
        for n, (a, c, phi) in TRUE.items():
            assert abs(fitted.predict(p, n) - (c - a / (p / 1e6) ** phi)) < 2.0
    assert fitted.held_out["rmse"] < 2.0 and len(fitted.held_out["rows"]) == 6
    segs = fitted.segments
    assert segs[0]["params_from"] <= 1_100
    assert all(a["params_to"] < b["params_from"] for a, b in zip(segs, segs[1:], strict=False))
    again = ScalingLaw.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again.predict(50_000, 7) == pytest.approx(fitted.predict(50_000, 7))


def test_segment_smoothing_absorbs_narrow_segments():
    grid = [10 ** (3 + 4 * i / 999) for i in range(1000)]
    winners = [4] * 400 + [7] * 10 + [4] * 90 + [7] * 500      # the 10-point blip is 0.04 decades wide
    segs = _merge(grid, winners)
    assert [s["depth"] for s in segs] == [4, 7]


def test_solver_fits_every_board_and_ranks_by_predicted_accuracy(law):
    for board in load_boards().values():
        if not board.tflm_supported:
            continue
        try:
            sol = solve(board, law=law)
        except UserError as e:
            assert "the smallest" in str(e) and "needs" in str(e)
            continue
        for c in [sol.best, *sol.runner_ups]:
            assert all(u <= 1.0 for u in c.utilization.values()), (board.id, c.to_dict())
        accs = [c.predicted_accuracy for c in [sol.best, *sol.runner_ups]]
        assert accs == sorted(accs, reverse=True)
        d = sol.to_dict()
        for key in ("alpha", "beta", "t0", "depth", "params", "macs", "flash_bytes_est", "arena_bytes_est",
                    "predicted_accuracy", "binding_constraint", "runner_ups"):
            assert key in d


def test_user_limits_tighten_the_choice(law):
    board = get_board("nucleo-h743zi2")
    free = solve(board, law=law)
    tight = solve(board, max_flash=200_000, max_ram=64_000, max_latency_ms=5, law=law)
    assert tight.best.estimate.flash_bytes_est <= 200_000 and tight.best.arena_alloc_bytes_est <= 64_000
    assert tight.budget.cycles < free.budget.cycles and free.budget.macs is tight.budget.macs is None
    assert tight.best.predicted_accuracy < free.best.predicted_accuracy
    assert tight.best.estimate.latency.cycles <= tight.budget.cycles == 480_000 * 5   # the M7's cycle model
    assert tight.best.latency_ms_est <= 5 < free.best.latency_ms_est


def test_impossible_budget_names_the_closest_configuration(law):
    with pytest.raises(UserError, match=r"no PhiNet fits .* the smallest, phinet\(alpha=0\.1.*needs flash"):
        solve(get_board("nano33-ble-sense"), max_flash=2_000, law=law)


def test_frontier_rises_with_flash(law):
    points = frontier(get_board("nano33-ble-sense"), law=law)
    accs = [p["predicted_accuracy"] for p in points]
    assert accs == sorted(accs) and len(points) > 5
    assert any(p["fits_board"] for p in points) and not all(p["fits_board"] for p in points)


def test_the_c_engine_plans_a_smaller_arena_at_resnet8s_footprint():
    """Same budget, costed as the C engine compiles the model: no interpreter records, so the same PhiNet needs far
    less arena than on TFLM; its generated kernels cost code, so where flash binds its pick is not larger (a
    per-layer choice of kernel by the flash left is the way back)."""
    board = get_board("nucleo-l4r5zi")
    limits = dict(max_flash=95552, max_ram=56080, max_macs=12_500_000)
    phinets = ScalingLaw.load()
    tflm, c = solve(board, engine="tflm", law=phinets, **limits), solve(board, engine="c", law=phinets, **limits)
    assert c.engine.name == "c" and c.best.estimate.engine is c.engine
    assert c.best.estimate.flash_bytes_est <= 95552 and c.best.arena_alloc_bytes_est == c.best.estimate.arena_bytes_est
    same = estimate_phinet(*tflm.best.estimate.config, (32, 32, 3), 10, engine="c", board=board)
    assert same.arena_bytes_est < 0.5 * tflm.best.estimate.arena_bytes_est


def _resnet_law(shift: float, family: str = "resnet", depths: tuple[int, int] = (1, 2)) -> ScalingLaw:
    """A synthetic law of a width-and-depth family: PhiNet N=4's curve shifted by `shift` points."""
    a, c, phi = TRUE[4]
    return ScalingLaw("generalized_hyperbolic", {depths[0]: [a, c + shift, phi], depths[1]: [a, c + shift + 1, phi]},
                      {depths[0]: (2_000, 400_000), depths[1]: (4_000, 800_000)}, source={"arch": family})


@pytest.mark.parametrize("shift,winner", [(5.0, "resnet"), (-20.0, "phinet")])
def test_families_are_ranked_together_and_the_losers_say_by_how_much(law, shift, winner):
    sol = solve(get_board("nucleo-l4r5zi"), max_flash=95552, max_ram=56080, max_macs=12_500_000,
                law=[law, _resnet_law(shift), _resnet_law(-25.0, "tinynet", (3, 4))])
    assert sol.best.family == winner and set(sol.families) == {"phinet", "resnet", "tinynet"}
    assert sol.families["tinynet"].predicted_accuracy < sol.best.predicted_accuracy
    loser = sol.families["resnet" if winner == "phinet" else "phinet"]
    assert loser is not None and loser.predicted_accuracy < sol.best.predicted_accuracy
    assert all(u <= 1.0 for u in loser.utilization.values())
    lines = "\n".join(solution_summary(sol))
    assert f"{loser.predicted_accuracy - sol.best.predicted_accuracy:+.1f} points" in lines
    assert sol.to_dict()["families"][loser.family]["predicted_accuracy"] == round(loser.predicted_accuracy, 2)


def test_screening_floors_never_exceed_the_full_estimates(law):
    """The solver drops configurations on its floors alone: they must be lower bounds, for every family."""
    from tinyml_kit.solve.solver import _screen

    rng = random.Random(0)
    for shape in ((32, 32, 3), (96, 96, 1)):
        rows = _screen([law, _resnet_law(0.0), _resnet_law(0.0, "tinynet", (3, 4))], shape, 10)
        for s in rng.sample(rows, 60) + [r for r in rows if r.family != "phinet"]:
            choice = s.estimate(shape, 10, "tflm")
            assert s.flash_floor <= choice.flash_bytes_est, s
            assert s.arena_floor <= arena_with_headroom(choice.arena_bytes_est), s


def test_a_law_of_another_family_is_refused_in_one_line(law):
    from tinyml_kit.solve.scaling_law import family_laws

    with pytest.raises(UserError, match="the law given is PhiNet's, not ResNet's: give a sweep of arch=resnet"):
        family_laws("resnet", law)
    mobilenets = ScalingLaw(law.form, law.curves, law.ranges, source={"arch": "mobilenetv1"})
    with pytest.raises(UserError, match="a law of MobileNetV1 cannot be ranked"):
        solve(get_board("nano33-ble-sense"), law=mobilenets)
    assert family_laws("auto", law) == [law]
    assert [x.family for x in family_laws("auto")] == ["phinet", "resnet", "tinynet"]


def test_the_prediction_interval_is_the_laws_own_error(law):
    """±1.96 × the held-out RMSE, else the used form's CV RMSE at the depth; none without either."""
    board = get_board("nano33-ble-sense")
    assert solve(board, law=law).best.interval is None and law.interval(4) is None
    cv = {law.form: {4: 1.5, 7: 0.5, 9: 0.8}}
    assert ScalingLaw(law.form, law.curves, law.ranges, cv).interval(4) == pytest.approx(1.96 * 1.5)
    scored = ScalingLaw(law.form, law.curves, law.ranges, cv, held_out={"rmse": 1.0})
    assert scored.interval(4) == pytest.approx(1.96) == scored.interval(7)
    best = solve(board, law=scored).best
    lo, hi = best.to_dict()["predicted_accuracy_interval"]
    assert lo < best.predicted_accuracy < hi and hi - lo == pytest.approx(2 * scored.interval(best.estimate.depth),
                                                                        abs=0.02)
    assert f"(± {best.interval:.1f})" in solution_summary(solve(board, law=scored))[0]


def test_a_form_too_large_to_cross_validate_is_left_out_of_the_table_not_nan(tmp_path):
    """Four widths per depth cannot score the 7-coefficient mixed form: law.json leaves it out (strict JSON), an
    old law.json's NaN reads as absent, and `scaling-law` shows '-' with why; `--arch` must match `--law`'s."""
    from test_cli import assert_one_line_error, run

    rows = [{"depth": n, "params": p, "accuracy": c - a / (p / 1e6) ** phi}
            for n, (a, c, phi) in list(TRUE.items())[:2] for p in (2_000, 9_000, 40_000, 200_000)]
    law = fit_sweep(rows, splits=5)
    assert law.cv_rmse["mixed"] == {} and set(law.cv_rmse["generalized_hyperbolic"]) == {4, 7}
    (tmp_path / "law.json").write_text(json.dumps(law.to_dict(), allow_nan=False))
    old = law.to_dict() | {"cv_rmse": {**law.to_dict()["cv_rmse"], "mixed": {"4": float("nan")}}}
    assert ScalingLaw.from_dict(json.loads(json.dumps(old))).cv_rmse["mixed"] == {}
    shown = run("scaling-law", "--law", tmp_path)
    assert shown.exit_code == 0 and "nan" not in shown.stdout
    assert [ln.split()[1:] for ln in shown.stdout.splitlines() if ln.strip().startswith("mixed")] == [["-", "-"]]
    assert "too few configurations at that depth" in shown.stdout
    assert run("scaling-law", "--law", tmp_path, "--arch", "phinet").exit_code == 0
    assert_one_line_error(run("scaling-law", "--law", tmp_path, "--arch", "resnet"),
                          "the law given is PhiNet's, not ResNet's", "--law")
