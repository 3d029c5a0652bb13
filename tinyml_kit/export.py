"""C sources for a .tflite: an aligned const array, its length, I/O quantization, labels and arena size."""

import re
from pathlib import Path

from . import __version__
from .resources import TEMPLATES_DIR
from .errors import UserError
from .tflite_info import ModelInfo, require_int8

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _cstring(text: str) -> str:
    out = []
    for ch in str(text):
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def _cfloat(value: float) -> str:
    return f"{float(value)!r}f"  # repr round-trips the float32 scale exactly


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "c_array")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["cstring"] = _cstring
    env.filters["cfloat"] = _cfloat
    return env


def write_c_sources(model: bytes, info: ModelInfo, out_dir: Path, labels: list[str], arena_measured: int,
                    arena_alloc: int, name: str = "model", source: str = "model.tflite") -> list[Path]:
    """Write `<name>_data.h` and `<name>_data.cc` into `out_dir`; returns their paths."""
    if not _IDENTIFIER.match(name):
        raise UserError(f"--name '{name}' is not a C identifier: use letters, digits and _")
    require_int8(info, source)
    output_size = 1
    for d in info.outputs[0].shape[1:]:
        output_size *= d
    if len(labels) != output_size:
        raise UserError(f"{len(labels)} labels given but the model has {output_size} outputs: pass one label per class")
    header = f"{name}_data.h"
    hexes = [f"0x{b:02x}," for b in model]
    context = dict(
        version=__version__, source=Path(source).name, model_bytes=len(model), ops=info.ops,
        guard=f"TINYML_{name.upper()}_DATA_H_", prefix="" if name == "model" else f"{name}_",
        symbol=f"g_{name}_data", header=header, arena_measured=arena_measured, arena_alloc=arena_alloc,
        input=info.inputs[0], output=info.outputs[0], output_size=output_size, labels=labels,
        rows=[" ".join(hexes[i:i + 16]) for i in range(0, len(hexes), 16)],
    )
    env = _environment()
    paths = []
    for template, filename in (("model_data.h.j2", header), ("model_data.cc.j2", f"{name}_data.cc")):
        path = Path(out_dir) / filename
        path.write_text(env.get_template(template).render(**context))
        paths.append(path)
    return paths
