"""`sweep`: the scaling law of the user's own data. A grid of one family's networks (PhiNet by default, or any
family with a width knob: `arch`) is trained with `fit`'s recipe, each quantized to int8 and measured; every result is
appended to SWEEP_DIR/results.jsonl the moment it is known, so a sweep that is stopped (Ctrl-C, a killed process, a lost
machine) resumes where it was, and a re-run never trains a finished configuration twice. The recipe and the data's
checksum are pinned in SWEEP_DIR/sweep.json; resuming with others is refused.

Configurations run on local worker processes, the machine's cores split between them (TensorFlow in one process
does not use two cores fully on these small models), or as Ray tasks on a cluster (`sweep_pool`); `fit_law` then
fits the accuracy law on the results as `solve` uses it.
"""

import hashlib
import itertools
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.compress.options import CompressOptions
from tinyml_kit.compress.quantize import quantize_int8
from tinyml_kit.core.artifacts import write_json_atomic
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import FAMILIES, PHINET, lookup
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.pins import parse_pin
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.pipeline.plots import plot_scaling_law
from tinyml_kit.pipeline.sweep_dir import META, held, require_sweepable
from tinyml_kit.pipeline.sweep_pool import (
    Work,
    describe,
    load_split,
    open_pool,
    require_local_cores,
    run_jobs,
)
from tinyml_kit.pipeline.training import train_model
from tinyml_kit.solve.scaling_law import fit_sweep
from tinyml_kit.solve.sweep_rows import RESULTS, load_sweep, read_rows
from tinyml_kit.train.data import VAL_FRACTION, planned_input
from tinyml_kit.train.trainer import BATCH_SIZE, EPOCHS

logger = logging.getLogger(__name__)

LAW, PLOT = "law.json", "law.png"
# The thesis' grid, scaled to 32 px (the sweep the shipped CIFAR-10 law was fitted on), and six held-out points.
THESIS = [{"alpha": a, "beta": b, "t0": t, "depth": n}
          for n, a, (b, t) in itertools.product((4, 7, 9), (0.15, 0.3, 0.5, 0.9), ((0.75, 4), (1.05, 5), (1.35, 6)))]
THESIS += [{"alpha": 1.5, "beta": 1.05, "t0": 5, "depth": n} for n in (4, 7, 9)]
THESIS_HELD_OUT = [{"alpha": 0.2, "beta": 1.05, "t0": 6, "depth": 4}, {"alpha": 0.7, "beta": 0.75, "t0": 5, "depth": 7},
                   {"alpha": 1.2, "beta": 1.35, "t0": 4, "depth": 9}, {"alpha": 0.4, "beta": 1.35, "t0": 4, "depth": 7},
                   {"alpha": 0.25, "beta": 0.75, "t0": 6, "depth": 9},
                   {"alpha": 1.1, "beta": 1.05, "t0": 4, "depth": 4}]


@dataclass(frozen=True)
class Recipe:
    """How every configuration of a sweep is trained: fixed, so their accuracies are comparable. The defaults and
    the rest are `fit`'s (`pipeline.training.train_model`: its optimizer, schedule and early stopping), so a law
    predicts what `fit` measures."""
    input_shape: tuple[int, int, int]
    classes: int
    epochs: int = EPOCHS
    batch_size: int = BATCH_SIZE
    val_fraction: float = VAL_FRACTION
    seed: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "input_shape": list(self.input_shape), "training": "fit's (train_model)",
                "quantization": "int8 PTQ, 200 calibration images"}


# Grids a family's shipped sweep was trained on, by name (`--grid thesis`), and the keys its results.jsonl rows
# carry: keyed by the family's name (`core.family`), beside the `small` grid every family has
NAMED_GRIDS = {PHINET.name: {"thesis": (THESIS, THESIS_HELD_OUT)}}
SHIPPED_KEYS = {PHINET.name: lambda job: f"a{job['alpha']:g}_b{job['beta']:g}_t{job['t0']:g}_n{int(job['depth'])}"}
SWEPT = tuple(f.name for f in FAMILIES if f.has("alpha"))   # the families with a width knob


def sweep_knobs(arch: str) -> tuple[str, ...]:
    return lookup(arch).searched


def load_grid(grid: str | Path, arch: str = PHINET.name) -> list[dict]:
    """`thesis` (PhiNet), `small` (the family's own grid, `core.family.Family.grid`), or a YAML file
    mapping each knob to a list of values (their product is the grid) and optionally `held_out:` a list of
    configurations the law is scored on but not fitted on. Every job names its family (`arch`)."""
    lookup(arch)
    if arch not in SWEPT:
        raise UserError(f"{arch} has no knob to sweep: choose one of {', '.join(SWEPT)}", "arch")
    if grid in NAMED_GRIDS.get(arch, {}):   # fixed shuffled order: a partial sweep already spans the range
        fitted, held_out = NAMED_GRIDS[arch][grid]
        jobs = [dict(k, held_out=False) for k in fitted] + [dict(k, held_out=True) for k in held_out]
        jobs = [jobs[i] for i in np.random.default_rng(0).permutation(len(jobs))]
    elif grid == "small":
        jobs = [dict(k, held_out=False) for k in lookup(arch).grid]
    else:
        jobs = _grid_file(Path(grid), arch)
    return [dict(j, arch=arch) for j in jobs]


def _grid_file(path: Path, arch: str) -> list[dict]:
    import yaml

    if not path.is_file():
        names = ", ".join([*NAMED_GRIDS.get(arch, {}), "small"])
        raise UserError(f"grid '{path}' is neither {names} nor a file: name one of them", "grid")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML ({str(e).splitlines()[0]}): write knob: [values, ...]",
                        "grid") from None
    knobs = sweep_knobs(arch)
    if not isinstance(spec, dict) or not set(spec) - {"held_out"}:
        raise UserError(f"{path} must map {arch}'s knobs ({', '.join(knobs)}) to lists of values, and may list "
                        f"held_out configurations", "grid")
    held = spec.pop("held_out", None) or []
    if not isinstance(held, list) or any(not isinstance(h, dict) or not h for h in held):
        raise UserError(f"{path}: held_out must be a list of configurations, each mapping some of {arch}'s knobs "
                        f"({', '.join(knobs)}) to a value", "grid")
    values = {k: _grid_values(path, arch, k, v) for k, v in spec.items()}
    held = [{k: _grid_values(path, arch, k, v, one=True)[0] for k, v in h.items()} for h in held]
    defaults = lookup(arch).sweep_defaults
    merged = {k: values.get(k, [defaults[k]]) for k in knobs}
    jobs = [dict(zip(knobs, combo, strict=False), held_out=False) for combo in itertools.product(*merged.values())]
    return jobs + [{**{k: merged[k][0] for k in knobs}, **h, "held_out": True} for h in held]


def _grid_values(path: Path, arch: str, knob, given, one: bool = False) -> list:
    """A grid file's values of one knob, checked as the command line's `--alpha` & co. are (`core.pins`: numbers,
    whole depths, finite, within the ceilings); a held-out configuration gives `one` value per knob."""
    knobs = sweep_knobs(arch)
    if knob not in knobs:
        raise UserError(f"{path}: unknown knob '{knob}' for {arch}: its grid knobs are {', '.join(knobs)} (and "
                        f"held_out)", "grid")
    given = given if isinstance(given, list) and not one else [given]
    if not given or any(isinstance(v, list) for v in given):
        raise UserError(f"{path}: {knob}: {given} is {'empty' if not given else 'nested'}: write {knob}: [v1, v2, "
                        f"...]" + (" (one value per held-out configuration)" if one else ""), "grid")
    for v in given:
        if isinstance(v, str) and _number_text(v):
            raise UserError(f"{path}: {knob}: YAML reads {v} as text, not a number (an exponent needs a decimal "
                            f"point and a sign): write {float(v):.1e}", "grid")
        if isinstance(v, (str, bool)) or v is None:
            raise UserError(f"{path}: {knob}: {v} is not a number: write e.g. {knob}: [0.5]", "grid")
    try:
        return list(parse_pin(knob, given, flag=f"{knob}:").values)
    except UserError as e:
        raise UserError(f"{path}: {e.message}", "grid") from None


def _number_text(text: str) -> bool:
    """Whether YAML's text is a finite number as Python reads it (`1e9`, which YAML 1.1 leaves a string)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def job_key(job: dict) -> str:
    arch = job.get("arch", PHINET.name)
    if arch in SHIPPED_KEYS:
        return SHIPPED_KEYS[arch](job)
    return arch + "".join(f"_{k}{job[k]:g}" for k in sweep_knobs(arch))


def read_results(sweep_dir: Path, warn: bool = False) -> list[dict]:
    """Every row of results.jsonl, checked (`solve.sweep_rows`: a line cut short by a killed process or a repeated
    configuration is dropped, with a warning if `warn`; an impossible one refused)."""
    path = sweep_dir / RESULTS
    return read_rows(path, warn) if path.is_file() else []


def _append(sweep_dir: Path, row: dict) -> None:
    path = sweep_dir / RESULTS
    cut = False   # the last line, if a killed sweep cut it short: the row starts a line of its own
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
    with path.open("a") as f:
        f.write(("\n" if cut else "") + json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _pin(sweep_dir: Path, meta: dict, write: bool = True) -> None:
    """Check a resumed sweep was started with the same recipe and data, or (`write`) start one: sweep.json."""
    path = sweep_dir / META
    if path.is_file():
        old = json.loads(path.read_text())
        old.setdefault("arch", PHINET.name)   # sweeps made before other families could be swept
        for key in ("arch", "recipe", "dataset_sha256"):
            if old.get(key) != meta[key]:
                raise UserError(f"{sweep_dir} holds a sweep with another {key.replace('_sha256', '')}: resume it "
                                f"with the same data and options, or sweep into a new directory", "out")
    elif write:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(meta, indent=2) + "\n")


def data_checksum(data: str) -> str:
    """sha256 of an .npz, of a folder's file list and sizes, or of the name of a built-in dataset."""
    path = Path(data)
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
    elif path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{f.relative_to(path)}:{f.stat().st_size}\n".encode())
    else:
        digest.update(data.encode())
    return digest.hexdigest()


def train_one(job: dict, data: str, recipe: Recipe) -> dict:
    """One configuration, trained and quantized as `fit` does it (the same functions), and measured."""
    parts, calibration = load_split(data, recipe)
    arch = job.get("arch", PHINET.name)
    knobs = {k: int(job[k]) if k == "depth" else job[k] for k in sweep_knobs(arch)}
    start = time.perf_counter()
    t = train_model(arch, knobs, parts, recipe.epochs, recipe.batch_size, recipe.seed, CompressOptions())
    model, trained = t.model, t.result
    costs = model_costs(model)
    flatbuffer = quantize_int8(model, calibration)
    predicted = LiteRtModel(flatbuffer).predict(parts.val.x.astype(np.int16) - 128).argmax(1)
    return {"arch": arch, "depth": 1, **knobs, "key": job_key(job), "held_out": bool(job.get("held_out")),
            "params": costs.params,
            "macs": costs.macs, "float_accuracy": round(trained.val_accuracy, 5),
            "int8_accuracy": round(float(np.mean(predicted == parts.val.y)), 5),
            "flash_bytes": tflm_flash_bytes(flatbuffer), "tflite_bytes": len(flatbuffer),
            "arena_bytes": measure_arena(flatbuffer).total_bytes, "epochs_run": trained.epochs_run,
            "seconds": round(time.perf_counter() - start, 1)}


def run_sweep(data: str, out: str | Path, grid: str | Path = "small", epochs: int = EPOCHS,
              input_shape: tuple[int, int, int] | None = None, workers: int | None = None,
              limit: int | None = None, executor: str = "local", ray_address: str | None = None,
              cpus_per_task: int | None = None, work: Work | None = None, arch: str = PHINET.name,
              batch_size: int = BATCH_SIZE) -> dict:
    """Train every configuration of `arch`'s `grid` not yet in `out`, `workers` at a time on `executor` (`sweep_pool`);
    returns a summary. A failing configuration is tried twice and then recorded with its error; Ctrl-C stops with
    every finished result kept. `work` stands in for `train_one` (tests)."""
    for name, value in (("workers", workers), ("cpus_per_task", cpus_per_task)):
        if value is not None and value < 1:
            raise UserError(f"{value} {name.replace('_', ' ')}: give at least 1", name)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise UserError(f"{value} {name.replace('_', ' ')}: give at least 1", name)
    jobs = load_grid(grid, arch)
    sweep_dir = Path(out)
    require_sweepable(sweep_dir)
    if executor == "local":
        require_local_cores(workers, cpus_per_task)
    shape, classes = planned_input(data, input_shape)
    recipe = Recipe(tuple(shape), classes, epochs=epochs, batch_size=batch_size)
    meta = {**portable_data(data), "arch": arch, "recipe": recipe.to_dict(), **_grid_record(grid)}
    _pin(sweep_dir, meta, write=False)   # a mismatched resume is refused before the directory is touched
    with held(sweep_dir):   # one sweep at a time in a directory
        done = {r["key"] for r in read_results(sweep_dir, warn=True) if "error" not in r}
        pending = [j for j in jobs if job_key(j) not in done]
        todo = pending[:limit]
        failed: list[str] = []
        where = {"executor": executor, "workers": 0, "startup_seconds": 0.0}
        if todo:
            pool = open_pool(executor, work or train_one, str(data), recipe, workers, cpus_per_task, ray_address)
            where = describe(pool)
            _pin(sweep_dir, meta)
            later = f" ({len(pending) - len(todo)} more on the next run)" if len(todo) < len(pending) else ""
            logger.info(f"sweep {sweep_dir}: {len(jobs)} configurations, {len(jobs) - len(pending)} done, "
                        f"{len(todo)} to train now{later} on {pool.name}, {pool.workers} at once")
            failed = run_jobs(todo, pool, job_key, lambda row: _append(sweep_dir, row),
                              lambda job, error: {**{k: job[k] for k in sweep_knobs(arch)}, "key": job_key(job),
                                                  "error": error})
    rows = [r for r in read_results(sweep_dir) if "error" not in r]
    return {"sweep_dir": str(sweep_dir.absolute()), "configurations": len(jobs), "finished": len(rows),
            "trained_now": len(todo) - len(failed), "failed": failed, **where}


def portable_data(data: str) -> dict:
    """The dataset as a shipped sweep names it: its file (or folder, or built-in) name and checksum, not the path
    on the machine that swept it."""
    return {"dataset": Path(data).name or str(data), "dataset_sha256": data_checksum(data)}


def _grid_record(grid: str | Path) -> dict:
    """A built-in grid by name; a grid file by its name and checksum."""
    if Path(grid).is_file():
        return {"grid": Path(grid).name, "grid_sha256": hashlib.sha256(Path(grid).read_bytes()).hexdigest()}
    return {"grid": str(grid)}


def fit_law(sweep_dir: str | Path, splits: int = 200) -> Path:
    """Fit the accuracy law on a sweep's finished results into SWEEP_DIR/law.json, as `solve --law` reads it, and
    draw it into SWEEP_DIR/law.png. `splits` random 70/30 splits per depth score the forms (the thesis used 500)."""
    if splits < 2:
        raise UserError(f"{splits} cross-validation splits: give at least 2", "splits")
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / META).is_file():
        what = "is not a sweep directory (it has no sweep.json)" if sweep_dir.is_dir() else "does not exist"
        raise UserError(f"{sweep_dir} {what}: give the {param('out')} of a `tinyml-kit sweep`", "sweep_dir")
    rows = load_sweep(sweep_dir) if (sweep_dir / RESULTS).is_file() else []
    depths: dict[int, int] = {}
    for r in rows:
        depths[r["depth"]] = depths.get(r["depth"], 0) + (not r.get("held_out"))
    if not any(n >= 4 for n in depths.values()):
        raise UserError(f"{sweep_dir} has {len(rows)} finished configurations: a law needs at least 4 at one depth; "
                        f"let the sweep finish", "sweep_dir")
    rows = [r for r in rows if depths[r["depth"]] >= 4]
    meta = json.loads((sweep_dir / META).read_text())
    recipe, arch = meta["recipe"], meta.get("arch", PHINET.name)
    source = {"sweep": str(sweep_dir), "arch": arch, "dataset": Path(meta["dataset"]).name,
              "dataset_sha256": meta["dataset_sha256"], "recipe": recipe, "metric": "int8_accuracy",
              "cv": f"{splits} random 70/30 splits per depth",
              "title": f"{lookup(arch).title} on {Path(meta['dataset']).name} ({recipe['input_shape'][0]} px, "
                       f"{recipe['epochs']} epochs): int8 accuracy vs parameters"}
    law = fit_sweep(rows, splits, source)
    plot_scaling_law(law, rows, sweep_dir / PLOT)
    return write_json_atomic(sweep_dir / LAW, law.to_dict())
