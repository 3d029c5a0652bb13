"""All-or-nothing output: a directory is staged in a temporary sibling and renamed into place only on success; a
single file is written beside its final name and renamed. Either way a failure or an interrupt leaves nothing
half-written, and the old file, if any, in place."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinyml_kit.core.errors import UserError


def prepare_output(final: Path, allow_existing: bool = False) -> Path:
    """Check up front (before any slow work) that `final` can be written; returns its absolute path.
    Writability is tried, not inferred from permissions. Nothing is left behind, so a run that fails later
    leaves no directories."""
    final = Path(final).absolute()
    if final.exists() and not (allow_existing and final.is_dir()):
        raise UserError(f"output {final} already exists: choose another output directory or remove it", "out")
    existing = final if final.is_dir() else final.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create output directory {final}: {existing} is a file", "out")
    require_writable(existing)
    return final


def require_writable(folder: Path, option: str = "out") -> None:
    """Try writing in `folder` (root passes `os.access` on /proc, so permissions alone do not tell)."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tinyml-kit-probe.", dir=folder))
    except OSError as e:
        raise UserError(f"output directory {folder} is not writable ({e.strerror}): choose another one",
                        option) from None


@contextmanager
def staged_output(final: Path, allow_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success its files land in `final`, on any error nothing does."""
    final = prepare_output(final, allow_existing)
    into_existing = final.is_dir()
    try:
        parent = final if into_existing else final.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise UserError(f"cannot write to {final}: {e.strerror}", "out") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the run directory should not be
    try:
        yield tmp
        if into_existing:
            for item in tmp.iterdir():
                os.replace(item, final / item.name)
            tmp.rmdir()
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write `content` to `path` by way of a hidden sibling file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(content) if isinstance(content, bytes) else tmp.write_text(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json_atomic(path: Path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, default=str))
