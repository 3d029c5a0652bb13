"""Capture what native code writes to file descriptor 2 (TFLM's allocation report, TensorFlow's chatter)."""

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect fd 2 to a file for the block; the captured text is appended to the yielded list."""
    sys.stderr.flush()
    saved = os.dup(2)
    sink: list[str] = []
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            sink.append(f.read().decode(errors="replace"))
