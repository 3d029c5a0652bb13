"""Byte and count sizes as users write them: 256KB, 96KiB, 1.5MB, 5M."""

import re

from tinyml_kit.core.errors import UserError

_BYTES = {"": 1, "B": 1, "KB": 1000, "KIB": 1024, "K": 1024, "MB": 1000**2, "MIB": 1024**2, "M": 1024**2}
_COUNTS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")


def _parse(text: str, table: dict[str, int], what: str) -> int:
    match = _PATTERN.match(str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in table:
        units = ", ".join(u for u in table if u)
        raise UserError(f"cannot read {what} '{text}': write a number with an optional unit ({units})")
    value = float(match.group(1)) * table[unit]
    if abs(value - round(value)) > 1e-6 * max(1.0, value):
        raise UserError(f"cannot read {what} '{text}': it is not a whole number ({value:g})")
    return int(round(value))


def parse_bytes(text: str | int) -> int:
    """Parse a memory size. KB and MB are decimal, KiB and MiB binary; bare K and M mean KiB and MiB."""
    return _parse(str(text), _BYTES, "size")


def parse_count(text: str | int) -> int:
    """Parse a count such as a MAC budget: 5M = 5,000,000."""
    return _parse(str(text), _COUNTS, "count")


def format_bytes(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.2f} MiB"
