"""The one exception type users see: a one-line message naming the problem and the fix."""

import re
from collections.abc import Callable

# A parameter named in a message, `⟨alpha⟩` or `⟨alpha 0.35⟩`: spelled when the message is shown
_PARAMETER = re.compile(r"⟨(\w+)(?: ([^⟩]*))?⟩")


def param(name: str, value: object = None) -> str:
    """The parameter `name` (set to `value`) as a message names it: `alpha=0.35` to a Python caller, `--alpha 0.35`
    on the command line. The library knows only the Python names; who shows the message spells them
    (`UserError.spelled`)."""
    return f"⟨{name}⟩" if value is None else f"⟨{name} {value}⟩"


def as_argument(name: str, value: str | None) -> str:
    """A parameter as a Python caller passes it: `alpha=0.35`, `init_from=`."""
    return f"{name}={'' if value is None else value}"


class UserError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero.

    The message speaks of values ("flash budget 2,048 B", "sparsity 1.5"), as a Python caller passed them, and of
    parameters by their Python names (`param`). `options` names the parameters the problem is about (`"sparsity"`,
    `"input_shape"`), so the command line can point at the flags that set them.
    """

    def __init__(self, message: str, *options: str):
        super().__init__(message)
        self.options = options

    @property
    def message(self) -> str:
        """The message as written, its parameters still marked: for a message that quotes this one."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.spelled(as_argument)

    def spelled(self, spelling: Callable[[str, str | None], str]) -> str:
        """The message with each parameter `param` marked spelled by `spelling(name, value)` (the command line's:
        as flags)."""
        return _PARAMETER.sub(lambda m: spelling(m[1], m[2]), self.message)


def first_line(error: Exception, limit: int | None = 200) -> str:
    """The first line of a third-party exception's message (its class name when it has none), cut at `limit`
    characters: what a one-line refusal quotes of a loader's or converter's failure."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


def first_few(items, limit: int = 3) -> str:
    """Name a few of `items` and count the rest ("a, b, c and 9,997 more"), so that a message about thousands of
    bad entries still fits on one line."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit:,} more" if len(items) > limit else shown
