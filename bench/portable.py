"""Paths as the shipped results name them: a run made in a temporary directory as RUN_DIR/..., a path inside the
repository relative to its top, a dataset by its file name and sha256, never the machine's absolute path."""

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def portable(value, run_dir: Path | None = None, label: str = "RUN_DIR"):
    """`value` (JSON data) with every absolute path rewritten: inside `run_dir` as `label`/..., inside the
    repository relative to its top, anywhere else by its name."""
    if isinstance(value, dict):
        return {k: portable(v, run_dir, label) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, run_dir, label) for v in value]
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    path = Path(value)
    for base, name in ((run_dir, label), (ROOT, "")):
        if base is not None and path.is_relative_to(Path(base).absolute()):
            return str(Path(name, path.relative_to(Path(base).absolute()))) or "."
    return path.name


def data_record(path: Path) -> dict:
    """A dataset as a result names it: file name and checksum."""
    return {"data": path.name, "data_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
