"""Accuracy as a function of parameters, one curve per PhiNet depth N (BRIEF §3).

Five forms are fitted to a sweep and compared by cross-validated RMSE (repeated random 70/30 splits); the
segmentation tells, for each parameter budget, which N predicts the best accuracy. Fitting needs scipy; using
a shipped fit (`ScalingLaw.load`, `predict`) needs nothing but the standard library, so `solve` stays fast.
"""

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import title
from tinyml_kit.core.resources import SCALING_LAW_FILE, SCALING_LAW_FILES
from tinyml_kit.core.spec import AUTO

P_SCALE = 1e6   # parameters are fitted in millions, which keeps every form's coefficients near 1


def exponential(p, a, b, c):
    """c - a^(P - b); with 0 < a < 1 it saturates at c (a single length scale: bends too early or too late)."""
    return c - np.power(a, p - b)


def logarithmic(p, a, b, c):
    return a * np.log(np.maximum(p - b, 1e-12)) + c


def mixed(p, a1, b1, c1, a2, b2, c2, k):
    """Convex mix k·exponential + (1 - k)·logarithmic."""
    return k * exponential(p, a1, b1, c1) + (1 - k) * logarithmic(p, a2, b2, c2)


def hyperbolic(p, a, b, c):
    return c - a / np.maximum(p - b, 1e-12)


def generalized_hyperbolic(p, a, c, phi):
    """c - a / P^φ: the best form in the thesis (a, c, φ > 0); c is the accuracy an unbounded model approaches."""
    return c - a / np.power(p, phi)


# form -> (curve(P, *coefficients), default start, (lower bounds, upper bounds))
FORMS: dict[str, tuple[Callable[..., Any], list[float], tuple[list[float], list[float]]]] = {
    "exponential": (exponential, [0.5, 0.0, 60.0], ([1e-6, -10.0, 0.0], [0.999999, 10.0, 100.0])),
    "logarithmic": (logarithmic, [3.0, 0.0, 50.0], ([0.0, -1e-3, -100.0], [50.0, 1e-3, 200.0])),
    "mixed": (mixed, [0.5, 0.0, 60.0, 3.0, 0.0, 50.0, 0.5],
              ([1e-6, -10.0, 0.0, 0.0, -1e-3, -100.0, 0.0], [0.999999, 10.0, 100.0, 50.0, 1e-3, 200.0, 1.0])),
    "hyperbolic": (hyperbolic, [0.01, 0.0, 60.0], ([0.0, -1e-2, 0.0], [100.0, 1e-3, 100.0])),
    "generalized_hyperbolic": (generalized_hyperbolic, [5.0, 60.0, 0.3], ([1e-6, 0.0, 1e-3], [1e3, 100.0, 3.0])),
}
BEST_FORM = "generalized_hyperbolic"
SMOOTHING_DECADES = 0.13
DOMAIN_MARGIN = 1.35   # a depth's curve is used up to this factor beyond its smallest and largest swept model


def fit_form(form: str, params: list[int], accuracy: list[float], start: list[float] | None = None) -> list[float]:
    """Least-squares coefficients of `form` (accuracy in %, parameters as counts): the best of three scaled
    default starts, or a single fit from `start` (cross-validation warm-starts from the fit on all points)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    func, p0, bounds = FORMS[form]
    x = np.asarray(params, float) / P_SCALE
    y = np.asarray(accuracy, float)
    best, best_sse = None, math.inf
    starts = [start] if start is not None else [np.array(p0) * scale for scale in (1.0, 0.3, 3.0)]
    for guess in starts:
        guess = np.clip(np.array(guess, float), np.array(bounds[0]) + 1e-9, np.array(bounds[1]) - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)   # exact fits on 3 points have no covariance
                coef, _ = curve_fit(func, x, y, p0=guess, bounds=bounds, maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((func(x, *coef) - y) ** 2))
        if sse < best_sse:
            best, best_sse = coef, sse
    if best is None:
        raise RuntimeError(f"{form} did not converge on {len(x)} points")
    return [float(c) for c in best]


def evaluate(form: str, coef: list[float], params) -> list[float]:
    return [float(v) for v in np.atleast_1d(FORMS[form][0](np.asarray(params, float) / P_SCALE, *coef))]


def cv_rmse(form: str, params: list[int], accuracy: list[float], splits: int = 500, seed: int = 0) -> float:
    """Mean test RMSE over `splits` random 70/30 splits (the thesis' protocol)."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(params), np.asarray(accuracy, float)
    n_train = max(len(FORMS[form][1]), int(round(0.7 * len(x))))
    try:
        warm = fit_form(form, params, accuracy)
    except RuntimeError:
        warm = None
    errors = []
    for _ in range(splits):
        idx = rng.permutation(len(x))
        train, test = idx[:n_train], idx[n_train:]
        if len(test) == 0:
            continue
        try:
            coef = fit_form(form, x[train].tolist(), y[train].tolist(), warm)
        except RuntimeError:
            continue
        errors.append(float(np.sqrt(np.mean((np.array(evaluate(form, coef, x[test])) - y[test]) ** 2))))
    return float(np.mean(errors)) if errors else math.nan


def segments(curves: dict[int, list[float]], ranges: dict[int, tuple[int, int]], form: str = BEST_FORM,
             budgets: int = 1000) -> list[dict]:
    """For log-spaced parameter budgets, the depth whose curve predicts the highest accuracy among the depths
    swept near that budget (a curve is not extrapolated beyond DOMAIN_MARGIN); consecutive equal depths merge
    into segments, and segments narrower than 0.13 decades are absorbed by their neighbours."""
    p_min, p_max = min(lo for lo, _ in ranges.values()), max(hi for _, hi in ranges.values())
    grid = _log_grid(p_min, p_max, budgets)
    points, winners = [], []
    for p in grid:
        near = [n for n in curves if ranges[n][0] / DOMAIN_MARGIN <= p <= ranges[n][1] * DOMAIN_MARGIN]
        if near:
            points.append(p)
            winners.append(max(near, key=lambda n: evaluate(form, curves[n], [p])[0]))
    return _merge(points, winners)


def raw_segments(rows: list[dict], budgets: int = 1000, window: float = 1.35) -> list[dict]:
    """The same on the data: for each budget the depth of the most accurate net with params in
    [budget, budget·1.35]."""
    p_min, p_max = min(r["params"] for r in rows), max(r["params"] for r in rows)
    grid = _log_grid(p_min, p_max, budgets)
    points, winners = [], []
    for p in grid:
        inside = [r for r in rows if p <= r["params"] <= p * window]
        if inside:
            points.append(p)
            winners.append(max(inside, key=lambda r: r["accuracy"])["depth"])
    return _merge(points, winners) if points else []


def _log_grid(lo: float, hi: float, count: int) -> list[float]:
    return [lo * (hi / lo) ** (i / (count - 1)) for i in range(count)]


def _merge(grid: list[float], winners: list[int]) -> list[dict]:
    segs: list[dict] = []
    for p, n in zip(grid, winners, strict=False):
        if segs and segs[-1]["depth"] == n:
            segs[-1]["hi"] = p
        else:
            segs.append({"depth": n, "lo": p, "hi": p})
    changed = True
    while changed and len(segs) > 1:
        changed = False
        widths = [math.log10(s["hi"] / s["lo"]) if s["hi"] > s["lo"] else 0.0 for s in segs]
        i = min(range(len(segs)), key=widths.__getitem__)
        if widths[i] < SMOOTHING_DECADES:
            if i == 0:
                segs[1]["lo"] = segs[0]["lo"]
            elif i == len(segs) - 1:
                segs[-2]["hi"] = segs[-1]["hi"]
            else:
                segs[i - 1]["hi"] = segs[i]["hi"]
            del segs[i]
            merged = [segs[0]]
            for s in segs[1:]:
                if s["depth"] == merged[-1]["depth"]:
                    merged[-1]["hi"] = s["hi"]
                else:
                    merged.append(s)
            segs = merged
            changed = True
    return [{"depth": s["depth"], "params_from": int(s["lo"]), "params_to": int(s["hi"])} for s in segs]


PREDICTION_Z = 1.96   # a two-sided 95 % interval, if the law's residuals are roughly normal


@dataclass
class ScalingLaw:
    """A shipped fit: per-depth coefficients of one form, with the evidence that chose it."""
    form: str
    curves: dict[int, list[float]]
    ranges: dict[int, tuple[int, int]]     # smallest and largest swept model per depth
    cv_rmse: dict[str, dict[int, float]] = field(default_factory=dict)
    segments: list[dict] = field(default_factory=list)
    raw_segments: list[dict] = field(default_factory=list)
    held_out: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The family the sweep trained (laws made before other families could be swept are PhiNet's)."""
        return self.source.get("arch", "phinet")

    @property
    def depths(self) -> list[int]:
        return sorted(self.curves)

    @property
    def params_range(self) -> tuple[int, int]:
        return min(lo for lo, _ in self.ranges.values()), max(hi for _, hi in self.ranges.values())

    def in_domain(self, params: int, depth: int) -> bool:
        """Whether the depth's curve may be used at this size (swept range widened by DOMAIN_MARGIN)."""
        lo, hi = self.ranges[depth]
        return lo / DOMAIN_MARGIN <= params <= hi * DOMAIN_MARGIN

    def extrapolated(self, params: int, depth: int) -> bool:
        lo, hi = self.ranges[depth]
        return not lo <= params <= hi

    def predict(self, params: int, depth: int) -> float:
        """Predicted validation accuracy (%) of a depth-`depth` PhiNet with `params` parameters."""
        if depth not in self.curves:
            raise UserError(f"the scaling law has no curve for depth {depth}: use one of "
                            f"{', '.join(map(str, self.depths))}")
        if self.form == BEST_FORM:   # inline: no numpy on the solver's path
            a, c, phi = self.curves[depth]
            return c - a / (params / P_SCALE) ** phi
        return evaluate(self.form, self.curves[depth], [params])[0]

    def interval(self, depth: int) -> float | None:
        """Half-width (points) of an approximate 95 % prediction interval: 1.96 × the RMSE on the held-out
        configurations (predictions of models the fit never saw), or without them the used form's cross-validated
        RMSE at this depth (None for a law fitted without either). Cross-validation on the 4–6 points a depth
        often has refits three coefficients on two or three points, so held-out error is preferred."""
        error = self.held_out.get("rmse", self.cv_rmse.get(self.form, {}).get(depth))
        return PREDICTION_Z * error if error is not None else None

    def to_dict(self) -> dict:
        return {"form": self.form, "accuracy_unit": "percent (int8 validation)",
                "params_scale": P_SCALE, "curves": {str(n): c for n, c in sorted(self.curves.items())},
                "params_ranges": {str(n): list(r) for n, r in sorted(self.ranges.items())},
                "cv_rmse": {f: {str(n): v for n, v in sorted(d.items())} for f, d in self.cv_rmse.items()},
                "segments": self.segments, "raw_segments": self.raw_segments, "held_out": self.held_out,
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "ScalingLaw":
        return cls(d["form"], {int(n): c for n, c in d["curves"].items()},
                   {int(n): tuple(r) for n, r in d["params_ranges"].items()},
                   {f: {int(n): v for n, v in v_.items() if v is not None and math.isfinite(v)}
                    for f, v_ in d.get("cv_rmse", {}).items()},
                   d.get("segments", []), d.get("raw_segments", []), d.get("held_out", {}), d.get("source", {}))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ScalingLaw":
        """The shipped PhiNet law, or `path`: a law.json or a sweep directory holding one (`tinyml-kit sweep`)."""
        path = law_file(path)
        if not path.is_file():
            raise UserError(f"no scaling-law fit at {path}: make one with `tinyml-kit sweep {param('data', '...')} "
                            f"{param('out', 'DIR')}`",
                            "law")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UserError(f"{path} is not a scaling-law fit written by tinyml-kit: re-run `tinyml-kit sweep "
                            f"{param('fit', 'SWEEP_DIR')}`", "law") from None


def family_laws(arch: str, law: "ScalingLaw | None" = None) -> list["ScalingLaw"]:
    """The laws `arch` is ranked by: the user's `law` (which must be of that family, unless `arch` is auto), else
    the shipped law of `arch`, or of every ranked family for auto."""
    if law is not None:
        if arch not in (AUTO, law.family):
            raise UserError(f"the law given is {title(law.family)}'s, not {title(arch)}'s: give a "
                            f"sweep of {param('arch', arch)}, or {param('arch', law.family)}", "law")
        return [law]
    return load_laws() if arch == AUTO else [ScalingLaw.load(SCALING_LAW_FILES[arch])]


def load_laws() -> list[ScalingLaw]:
    """Every family's shipped law, as the solver ranks them together."""
    return [ScalingLaw.load(path) for path in SCALING_LAW_FILES.values()]


def law_file(path: str | Path | None = None) -> Path:
    """Where a law is: the shipped one, a law.json, or the law.json of a sweep directory (`tinyml-kit sweep`)."""
    path = Path(path) if path else SCALING_LAW_FILE
    return path / "law.json" if path.is_dir() else path


def fit_sweep(rows: list[dict], splits: int = 500, source: dict | None = None) -> ScalingLaw:
    """Fit every form per depth on the non-held-out rows, keep the generalized hyperbolic one for prediction,
    and score it on the held-out rows."""
    fit_rows = [r for r in rows if not r.get("held_out")]
    held = [r for r in rows if r.get("held_out")]
    depths = sorted({r["depth"] for r in fit_rows})
    table: dict[str, dict[int, float]] = {f: {} for f in FORMS}
    curves: dict[int, list[float]] = {}
    ranges: dict[int, tuple[int, int]] = {}
    for n in depths:
        p = [r["params"] for r in fit_rows if r["depth"] == n]
        acc = [r["accuracy"] for r in fit_rows if r["depth"] == n]
        for form in FORMS:
            error = cv_rmse(form, p, acc, splits)
            if math.isfinite(error):   # a form with as many coefficients as points cannot be cross-validated
                table[form][n] = error
        curves[n] = _fit_depth(p, acc, n)
        ranges[n] = (min(p), max(p))
    law = ScalingLaw(BEST_FORM, curves, ranges, table, segments(curves, ranges), raw_segments(fit_rows),
                     source=source or {})
    if held:
        rows_out = []
        for r in held:
            if r["depth"] in curves:
                pred = law.predict(r["params"], r["depth"])
                rows_out.append({k: r[k] for k in ("alpha", "beta", "t0", "depth", "params") if k in r} |
                                {"measured": round(r["accuracy"], 2), "predicted": round(pred, 2)})
        err = np.array([o["predicted"] - o["measured"] for o in rows_out])
        law.held_out = {"rmse": float(np.sqrt(np.mean(err ** 2))), "max_abs_error": float(np.abs(err).max()),
                        "rows": rows_out}
    return law


def _fit_depth(params: list[int], accuracy: list[float], depth: int) -> list[float]:
    try:
        return fit_form(BEST_FORM, params, accuracy)
    except RuntimeError:
        raise UserError(f"the law's curve does not fit depth {depth}'s {len(params)} results (accuracy "
                        f"{min(accuracy):.1f}-{max(accuracy):.1f} % over {min(params):,}-{max(params):,} parameters): "
                        f"sweep more widths at that depth") from None
