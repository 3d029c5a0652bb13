"""Jinja over the shipped firmware templates, with one quoting filter for each place user text goes, so every
generated source (the TFLM model API, the C engine, firmware projects, the report) quotes the same way."""

from pathlib import Path

from tinyml_kit.core.resources import TEMPLATES_DIR
from tinyml_kit.core.text import c_comment, c_string, markdown


def c_float(value: float) -> str:
    return f"{float(value)!r}f"  # repr round-trips the float32 scale exactly


def environment():
    """Strict about undefined names; filters `cstring` (C literal), `ccomment` (C comment), `markdown` (README),
    `cfloat` (a float32 literal that round-trips)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["cstring"] = c_string
    env.filters["ccomment"] = c_comment
    env.filters["markdown"] = markdown
    env.filters["cfloat"] = c_float
    return env


def hex_rows(data: bytes, per_row: int = 16) -> list[str]:
    """`data` as C initializer rows of `0x..,` bytes."""
    hexes = [f"0x{b:02x}," for b in data]
    return [" ".join(hexes[i:i + per_row]) for i in range(0, len(hexes), per_row)]


def render(context: dict, files: list[tuple[str, Path]]) -> list[Path]:
    """Render each template to its path (parent folders created); returns the paths."""
    env = environment()
    for template, path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(**context))
    return [path for _, path in files]
