"""`baseline`: a classic, non-deep classifier on exactly the train / validation split `fit` makes, so that its
accuracy can be read beside the deep model's. With a run directory the baseline is written into it as
`baseline_<method>.json` and the run's report.html is re-rendered with a "Classic baseline" section.

Everything that can be refused is refused before anything slow starts and before anything is written: the method,
the vocabulary, the run directory and whether the data, input size and seed are the run's own."""

import logging
import numbers
from dataclasses import dataclass
from pathlib import Path

from tinyml_kit.baseline import (
    METHODS,
    BaselineResult,
    BovwParams,
    descriptors_per_image,
    run_bovw,
)
from tinyml_kit.core.artifacts import require_writable, write_atomic, write_json_atomic
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.spec import require_input_shape
from tinyml_kit.train.data import DIGITS, VAL_FRACTION, Split, load_dataset, split

logger = logging.getLogger(__name__)

DEFAULT_VOCAB = 200


def baseline_file(method: str) -> str:
    return f"baseline_{method}.json"


@dataclass
class BaselineRun:
    """A baseline's result, where its data came from, and, with a run, the model's scores and the files written."""
    result: BaselineResult
    data: str
    seed: int
    val_fraction: float
    fingerprint: str
    run_dir: str | None = None
    model: dict | None = None      # the run's own validation scores, from its report.json
    written: list[str] | None = None

    def to_dict(self) -> dict:
        return {**self.result.to_dict(), "data": self.data, "seed": self.seed, "val_fraction": self.val_fraction,
                "fingerprint": self.fingerprint, "run_dir": self.run_dir, "model": self.model,
                "written": self.written or []}


def run_baseline(method: str, data: str | None = None, vocab: int = DEFAULT_VOCAB,
                 input_shape: tuple[int, int, int] | None = None, seed: int | None = None,
                 run_dir: str | Path | None = None) -> BaselineRun:
    """Fit `method` on the training split of `data` and score it on the validation split. With `run_dir`, the
    data, input size and seed default to the run's and must match it (another split would compare the baseline
    with the model on other images); the result is saved in the run and its report re-rendered.
    `data` defaults to 'digits' without a run, as for `fit`; `seed` to 0."""
    _require_method(method)
    _require_vocab_value(vocab)
    record = _read_run(run_dir) if run_dir is not None else None
    data, input_shape, seed, val_fraction = _settings(record, data, input_shape, seed)
    parts, fingerprint = _load_split(data, input_shape, seed, val_fraction, record)
    params = BovwParams(vocab=int(vocab), seed=seed)
    _require_vocab_fits(params, parts)
    logger.info(f"baseline {method}: {len(parts.train.x):,} train / {len(parts.val.x):,} validation images, "
                f"input {'x'.join(map(str, parts.train.input_shape))}, {vocab} words ...")
    result = run_bovw(parts, params)
    run = BaselineRun(result, data, seed, val_fraction, fingerprint)
    if record is not None:
        run.run_dir, run.model = str(run_dir), model_scores(record)
        run.written = _write_into_run(Path(run_dir), run)
    return run


def model_scores(record: RunRecord) -> dict:
    """The run's validation accuracy and macro F1 (int8 as deployed, and float when it was measured)."""
    scores = {}
    for kind, m in (("int8", record.check.int8_metrics), ("float", record.check.float_metrics)):
        if m is not None:
            scores[f"{kind}_accuracy"] = m.accuracy
            scores[f"{kind}_macro_f1"] = m.macro_f1
    return scores


def _require_method(method: str) -> None:
    if method not in METHODS:
        raise UserError(f"unknown baseline method '{method}': choose {', '.join(METHODS)}", "method")


def _require_vocab_value(vocab) -> None:
    if isinstance(vocab, bool) or not isinstance(vocab, numbers.Integral) or vocab < 2:
        raise UserError(f"vocabulary size {vocab!r}: a vocabulary needs at least 2 words; choose e.g. "
                        f"{DEFAULT_VOCAB}", "vocab")


def _require_vocab_fits(params: BovwParams, parts: Split) -> None:
    """k-means cannot make more words than there are training descriptors; known from the grid before any
    descriptor is computed."""
    total = len(parts.train.x) * descriptors_per_image(parts.train.input_shape, params)
    if params.vocab > total:
        raise UserError(f"vocabulary of {params.vocab:,} words but the training split has only {total:,} "
                        f"descriptors: choose at most {total:,} words", "vocab")


def _read_run(run_dir: str | Path) -> RunRecord:
    """The run's record; the float model must be there too (the report is re-rendered from it), and the directory
    writable, or nothing would be written after minutes of work."""
    from tinyml_kit.pipeline.runs import require_float_model

    try:
        record = RunRecord.read(run_dir)
        require_float_model(Path(run_dir), "the report is re-rendered from it")
        require_writable(Path(run_dir), "run")
    except UserError as e:
        raise UserError(e.message, "run") from None
    return record


def _settings(record: RunRecord | None, data: str | None, input_shape, seed: int | None):
    """(data, input shape, seed, validation fraction): given, or the run's; refused when they differ from it."""
    if input_shape is not None:
        input_shape = require_input_shape(tuple(input_shape))
    if record is None:
        return data or DIGITS, input_shape, 0 if seed is None else seed, VAL_FRACTION
    d = record.data
    if data is not None and not _same_source(data, d.source):
        raise UserError(f"data '{data}' is not the run's data ({d.source}): omit {param('data')} to use the run's, or "
                        f"leave {param('run')} out", "data", "run")
    run_shape = tuple(d.input_shape)
    if input_shape is not None and input_shape != run_shape:
        raise UserError(f"input {'x'.join(map(str, input_shape))} but the run's model takes "
                        f"{'x'.join(map(str, run_shape))}: omit {param('input_shape')} to use the run's",
                        "input_shape", "run")
    if seed is not None and seed != d.seed:
        raise UserError(f"seed {seed} but the run was split with seed {d.seed}: omit {param('seed')} to use the run's "
                        f"split", "seed", "run")
    return d.source, run_shape, d.seed, d.val_fraction


def _same_source(data: str, source: str) -> bool:
    if DIGITS in (data, source):
        return data == source
    return Path(data).resolve() == Path(source).resolve()


def _load_split(data: str, input_shape, seed: int, val_fraction: float, record: RunRecord | None):
    """The split `fit` makes (`load_dataset`, then `split` with the same fraction and seed) and the data's
    fingerprint; for a run, data that changed since it was fitted is refused (its split would differ)."""
    dataset = load_dataset(data, input_shape)
    fingerprint = dataset.fingerprint()
    if record is not None and fingerprint != record.data.fingerprint:
        raise UserError(f"{data} changed since the run was fitted (fingerprint {fingerprint}, the run's "
                        f"{record.data.fingerprint}): its validation split differs; re-run fit on it", "run")
    return split(dataset, val_fraction=val_fraction, seed=seed), fingerprint


def _write_into_run(run_dir: Path, run: BaselineRun) -> list[str]:
    """baseline_<method>.json, then report.html re-rendered with it; if the report fails, the previous JSON (or
    none) is put back, so the run never holds a baseline its report does not show."""
    from tinyml_kit.pipeline.runs import report_run

    path = run_dir / baseline_file(run.result.method)
    previous = path.read_bytes() if path.is_file() else None
    saved = run.to_dict()
    saved.pop("written")
    write_json_atomic(path, saved)
    try:
        report = report_run(run_dir)
    except BaseException:
        write_atomic(path, previous) if previous is not None else path.unlink(missing_ok=True)
        raise
    return [str(path), str(report)]
