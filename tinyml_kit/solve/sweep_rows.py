"""A sweep's results.jsonl, read as the law is fitted on it: every row checked, each bad one named by file and line.

The file is appended to as configurations finish and may be edited by hand, so it is read defensively: a line cut
short by a killed sweep is dropped with a warning (the configuration trains again on resume), a configuration
recorded twice keeps its first row (with a warning), and a row whose numbers cannot be a measurement (no
parameters, an accuracy outside [0, 1], text where a number belongs) is refused, naming the line to mend.
"""

import json
import logging
import math
from pathlib import Path

from tinyml_kit.core.errors import UserError

logger = logging.getLogger(__name__)

RESULTS = "results.jsonl"
METRICS = ("int8_accuracy", "float_accuracy")
KNOB_FIELDS = ("alpha", "beta", "t0")


def results_file(path: str | Path) -> Path:
    """The results.jsonl of a sweep directory, or the file itself."""
    path = Path(path)
    return path / RESULTS if path.is_dir() else path


def read_rows(path: str | Path, warn: bool = True) -> list[dict]:
    """Every row of a sweep's results (failed configurations' rows included), checked; `warn`: say what was
    dropped."""
    path = results_file(path)
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if warn:
                logger.warning(f"{where} is not a complete JSON line (cut short when a sweep was killed?): dropped; "
                               f"its configuration trains again when the sweep resumes")
            continue
        _check(row, where)
        if "error" in row:
            rows.append(row)
            continue
        key = str(row.get("key", [row.get(k) for k in ("arch", *KNOB_FIELDS, "depth")]))
        if key in seen:
            if warn:
                logger.warning(f"{where} repeats the configuration of line {seen[key]} ({key}): dropped, the first "
                               f"result kept")
            continue
        seen[key] = number
        rows.append(row)
    return rows


def _check(row, where: str) -> None:
    """A row a law can be fitted on, or a failed configuration's record; else one error naming the line."""
    if not isinstance(row, dict):
        raise UserError(f"{where} is not a result (a JSON object per line): delete that line")
    if "error" in row:
        if not isinstance(row.get("key"), str):
            raise UserError(f"{where} records a failure without its configuration's key: delete that line")
        return
    for field in ("params", "depth", *(k for k in KNOB_FIELDS if k in row)):
        if _number(row, field, where) <= 0:
            raise UserError(f"{where}: {field} {row[field]:g} is impossible (above 0 in any model): correct or "
                            f"delete that line")
    for field in ("params", "depth"):
        if row[field] != int(row[field]):
            raise UserError(f"{where}: {field} {row[field]:g} is not a whole number: correct or delete that line")
    for metric in (m for m in METRICS if m in row or m == METRICS[0]):
        if not 0 <= _number(row, metric, where) <= 1:
            raise UserError(f"{where}: {metric} {row[metric]:g} is impossible (an accuracy is a fraction in "
                            f"[0, 1]): correct or delete that line")
    if not isinstance(row.get("held_out", False), bool):
        raise UserError(f"{where}: held_out {row['held_out']!r} is not true or false: correct or delete that line")


def _number(row: dict, field: str, where: str) -> float:
    value = row.get(field)
    if value is None:
        raise UserError(f"{where} has no {field}: correct or delete that line")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: {field} {json.dumps(value)} is not a number: correct or delete that line")
    return value


def load_sweep(path: str | Path, metric: str = "int8_accuracy") -> list[dict]:
    """A sweep's finished rows (a sweep directory or its results.jsonl) with `accuracy` in percent."""
    return [dict(row, accuracy=100.0 * row[metric]) for row in read_rows(path) if "error" not in row]
