"""The one exception type users see: a one-line message naming the problem and the fix."""


class UserError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero."""


def first_few(items, limit: int = 3) -> str:
    """Name a few of `items` and count the rest ("a, b, c and 9,997 more"), so that a message about thousands of
    bad entries still fits on one line."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit:,} more" if len(items) > limit else shown
