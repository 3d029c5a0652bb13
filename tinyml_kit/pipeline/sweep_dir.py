"""The sweep directory: what may be swept into, and which process is sweeping it.

A sweep resumes into its own directory, so `--out` must be a new or empty directory or a sweep's; anything else (a
`fit` run, a file) is refused before anything is written. While configurations train, SWEEP_DIR/sweep.lock names
the process (PID and host): a second sweep into the same directory is refused instead of training the same
configurations twice, and a lock left by a process that no longer runs (a killed sweep, a lost machine) is taken
over rather than blocking forever.
"""

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from tinyml_kit.core.errors import UserError, first_few

logger = logging.getLogger(__name__)

LOCK, META = "sweep.lock", "sweep.json"
FRESH_SECONDS = 10.0   # a lock this young and still empty is being written by the process that took it


def require_sweepable(sweep_dir: Path) -> None:
    """A new or empty directory, or a sweep's (to resume it); else one error, before anything is written."""
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir} is a file: sweep into a directory (a new one, or a sweep's to resume it)",
                        "out")
    if sweep_dir.is_dir() and not (sweep_dir / META).is_file():
        others = sorted(p.name for p in sweep_dir.iterdir() if p.name != LOCK)
        if others:
            raise UserError(f"{sweep_dir} holds {first_few(others)} but no sweep (no {META}; a fit run?): sweep into "
                            f"a new or empty directory", "out")


@contextmanager
def held(sweep_dir: Path):
    """The directory (made if new) locked for this process while the block runs; on the way out the lock goes, and
    so does every directory made for it that is still empty (a refused or failed start leaves nothing)."""
    made = [d for d in (sweep_dir, *sweep_dir.parents) if not d.exists()]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    lock = sweep_dir / LOCK
    try:
        _take(lock)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        for d in made:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


def _take(lock: Path) -> None:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            _require_stale(lock)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, f)
        return
    raise UserError(f"another sweep took {lock.parent} just now: wait for it to finish, or sweep into another "
                    f"directory", "out")


def _require_stale(lock: Path) -> None:
    """Refuse while the process that wrote `lock` may still run; say so when taking over a dead one's."""
    try:
        holder = json.loads(lock.read_text())
        pid, host = int(holder["pid"]), str(holder["host"])
        if pid <= 0:
            raise ValueError(pid)
    except FileNotFoundError:
        return   # released meanwhile: taken on the next try
    except (OSError, ValueError, KeyError, TypeError):
        if time.time() - _age_origin(lock) < FRESH_SECONDS:
            raise UserError(f"another sweep is starting in {lock.parent}: wait for it to finish, or sweep into "
                            f"another directory", "out") from None
        logger.warning(f"{lock} is unreadable and old: a sweep that died as it started left it; taking it over")
        return
    if host != socket.gethostname():
        raise UserError(f"{lock.parent} is being swept by process {pid} on {host}: wait for it to finish, or if no "
                        f"sweep runs there any more, delete {lock}", "out")
    if _running(pid):
        raise UserError(f"{lock.parent} is being swept by process {pid}: wait for it to finish (or stop it), or "
                        f"sweep into another directory", "out")
    logger.warning(f"{lock.parent}: the sweep of process {pid} is gone (killed?); taking over its lock")


def _age_origin(lock: Path) -> float:
    """When `lock` was last written (now, if it has just gone)."""
    try:
        return lock.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True
