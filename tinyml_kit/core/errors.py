"""The one exception type users see: a one-line message naming the problem and the fix."""


class UserError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero."""
