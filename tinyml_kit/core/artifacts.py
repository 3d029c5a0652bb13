"""All-or-nothing output: work in a temporary sibling directory, rename into place only on success."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinyml_kit.core.errors import UserError


def prepare_output(final: Path, allow_existing: bool = False) -> Path:
    """Check up front (before any slow work) that `final` can be written; returns its absolute path.
    Nothing is created here, so a run that fails later leaves no directories behind."""
    final = Path(final).absolute()
    if final.exists() and not (allow_existing and final.is_dir()):
        raise UserError(f"output {final} already exists: choose another --out or remove it")
    existing = final if final.is_dir() else final.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create output directory {final}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"output directory {existing} is not writable: choose another --out")
    return final


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
        raise UserError(f"cannot write to {final}: {e.strerror}") from None
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
