"""The one exception type users see: a one-line message naming the problem and the fix."""


class UserError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits non-zero.

    The message speaks of values ("flash budget 2,048 B", "sparsity 1.5"), as a Python caller passed them.
    `options` names the parameters the problem is about (`"sparsity"`, `"input_shape"`), so the command line can
    point at the flags its user typed instead.
    """

    def __init__(self, message: str, *options: str):
        super().__init__(message)
        self.options = options
