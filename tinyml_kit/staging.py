"""All-or-nothing output: work in a temporary sibling directory, rename into place only on success."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError


def prepare_output(final: Path, allow_existing: bool = False) -> Path:
    """Check up front (before any slow work) that `final` can be written; returns its absolute path."""
    final = Path(final).absolute()
    if final.exists() and not (allow_existing and final.is_dir()):
        raise UserError(f"output {final} already exists: choose another --out or remove it")
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output directory {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"output directory {parent} is not writable: choose another --out")
    return final


@contextmanager
def staged_output(final: Path, allow_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success its files land in `final`, on any error nothing does."""
    final = prepare_output(final, allow_existing)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as e:
        raise UserError(f"cannot write to {final.parent}: {e.strerror}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the run directory should not be
    try:
        yield tmp
        if final.exists():
            for item in tmp.iterdir():
                os.replace(item, final / item.name)
            tmp.rmdir()
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
