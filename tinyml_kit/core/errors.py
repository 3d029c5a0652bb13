"""The one exception type users see: a one-line message naming the problem and the fix."""


class UserError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero.

    The message speaks of values ("flash budget 2,048 B", "sparsity 1.5"), as a Python caller passed them.
    `options` names the parameters the problem is about (`"sparsity"`, `"input_shape"`), so the command line can
    point at the flags that set them.
    """

    def __init__(self, message: str, *options: str):
        super().__init__(message)
        self.options = options


def first_few(items, limit: int = 3) -> str:
    """Name a few of `items` and count the rest ("a, b, c and 9,997 more"), so that a message about thousands of
    bad entries still fits on one line."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit:,} more" if len(items) > limit else shown
