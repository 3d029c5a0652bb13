"""User text that ends up in generated files: the `--name` (file names and C symbols), the class labels and the
model's file name. A name is checked, since it becomes paths and identifiers that nothing could escape; a label
may be any text, so every place a template puts one escapes it for that place (C string literal, C comment,
Markdown), and the board prints exactly the label given."""

import re
import string

from tinyml_kit.core.errors import UserError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)


def require_identifier(name: str) -> None:
    """Refuse a `--name` that is not a C identifier. It names C symbols and the files and folders written
    (`<name>.onnx`, `tinyml_<name>/`), so `../x` or `/tmp/x` would also write outside `--out`."""
    if not _IDENTIFIER.fullmatch(name):
        raise UserError(f"name {name!r} is not a C identifier: use only letters, digits and _, not starting "
                        f"with a digit (e.g. my_model)", "name")


def c_string(text: str) -> str:
    """`text` as a C/C++ string literal of printable ASCII that compiles to its exact UTF-8 bytes: quotes and
    backslashes escaped, every '?' as '\\?' so no trigraph (`??!` is `|`) can form, anything else as octal."""
    out = []
    for ch in str(text):
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """`text` quoted for a `//` or `/* */` comment: the C literal (one line, ends with a quote, so no newline or
    trailing backslash continues the comment onto code), with `*/` broken so it cannot close a block comment."""
    return c_string(text).replace("*/", "*\\/")


def markdown(text: str) -> str:
    """`text` as one line of Markdown that displays as itself: ASCII punctuation backslash-escaped (no emphasis,
    code span, link or HTML), control and other unprintable characters shown as Python escapes (`\\n`)."""
    out = []
    for ch in str(text):
        if ch in _MARKDOWN_PUNCTUATION:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii").replace("\\", "\\\\"))
    return "".join(out)
