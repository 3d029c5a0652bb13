"""Where `export` may write: never over another model's files. A C-sources export lands in a folder that is new or
empty, the model's own folder (its run directory, or the folder of a bare .tflite), or a folder an earlier export
of the same model wrote; that export's manifest (`tinyml_export.json`: the model's SHA-256 and the files written)
tells which, and its files the new export does not write again are removed, so switching engines leaves no
stale sources behind (in the model's own folder nothing is removed: a run's files stay the run's). A library or project
folder is always new; none goes into another run's directory."""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyml_kit.core.artifacts import staged_output
from tinyml_kit.core.errors import UserError, first_few

MANIFEST = "tinyml_export.json"


@dataclass
class ExportManifest:
    """What an export wrote and from which model."""
    model: str            # the model file exported
    model_sha256: str     # its bytes: the same model, wherever it is read from
    files: list[str]      # written into the folder, this manifest aside

    @classmethod
    def read(cls, folder: Path) -> "ExportManifest | None":
        try:
            return cls(**json.loads((folder / MANIFEST).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def require_not_another_run(out: Path, source: str) -> None:
    """Refuse to write into a run directory other than the model's own: its sources would pass for that run's."""
    out = Path(out).absolute()
    if (out / "report.json").is_file() and not _own_folder(out, source):
        raise UserError(f"{out} is the directory of another run (it holds report.json): exporting {source} there "
                        f"would mix its files into that run; export into a new or empty folder", "out")


@contextmanager
def export_folder(out: Path, source: str, model: bytes) -> Iterator[Path]:
    """Stage an export of `model` (read from `source`) into `out`, checked first (see the module); the manifest is
    written beside the files and an earlier export's files not written again are removed."""
    digest = hashlib.sha256(model).hexdigest()
    previous = _require_destination(Path(out).absolute(), source, digest)
    with staged_output(out, allow_existing=True) as tmp:
        yield tmp
        files = sorted(p.name for p in tmp.iterdir())
        (tmp / MANIFEST).write_text(json.dumps(asdict(ExportManifest(source, digest, files)), indent=2) + "\n")
    for stale in sorted(set(previous) - set(files) - {MANIFEST}):
        (Path(out) / Path(stale).name).unlink(missing_ok=True)


def _require_destination(out: Path, source: str, digest: str) -> list[str]:
    """The files an earlier export of this model wrote into `out` (none for a new or empty folder, or the model's
    own), or one line on whose files `out` holds."""
    require_not_another_run(out, source)
    if not out.is_dir() or _own_folder(out, source):   # the model's own files there are the run's: none removed
        return []
    manifest = ExportManifest.read(out)
    if manifest is not None and manifest.model_sha256 == digest:
        return manifest.files
    if manifest is not None:
        raise UserError(f"{out} holds the export of another model ({manifest.model}), which exporting {source} "
                        f"would overwrite: export into a new or empty folder, or remove {out} first", "out")
    present = sorted(p.name for p in out.iterdir())
    if present:
        raise UserError(f"{out} is not empty ({first_few(present)}) and holds no export of {source}: export into a "
                        f"new or empty folder", "out")
    return []


def _own_folder(out: Path, source: str) -> bool:
    """`out` is where the model itself is: its run directory, or the folder of a bare .tflite."""
    return Path(out).resolve() == Path(source).parent.resolve()
