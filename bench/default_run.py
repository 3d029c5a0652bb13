"""The run directory a bench script measures: the one given with --run, or the quick-start fit made into a
temporary directory (~2 min)."""

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's progress, on stderr


@contextmanager
def default_run(run: Path | None) -> Iterator[Path]:
    from tinyml_kit.pipeline.fit import fit

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run or Path(tmp) / "run"
        if run is None:
            fit(out=run_dir)
        yield run_dir
