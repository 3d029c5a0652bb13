"""Progress bars for the long steps (training epochs, candidate conversions, QEMU runs), on the console the
command line hands over, and only when that console is a terminal: logs and pipes get the log lines alone.

A library caller gets no bars unless it calls `show_on`; the steps' messages always go through `logging`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_console = None          # rich.console.Console, set by the command line


def show_on(console) -> None:
    """Draw bars on `console` (a rich Console) from now on; None stops them."""
    global _console
    _console = console


def console():
    return _console


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n=1)`; draws a bar (a spinner without `total`) while the block runs, if bars are on."""
    if _console is None or not _console.is_terminal:
        yield _ignore
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()] if total else [SpinnerColumn(), TextColumn("{task.description}"),
                                                   TimeElapsedColumn()]
    with Progress(*columns, console=_console, transient=True) as bar:
        handle = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(handle, n)

        yield advance


def _ignore(n: int = 1) -> None:
    """`advance` when no bar is drawn."""


class Counter:
    """A running count whose bar also says what is in flight (`describe`)."""

    def __init__(self, bar=None, handle=None):
        self._bar, self._handle = bar, handle

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._handle, n)

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._handle, description=text)


@contextmanager
def counter(description: str, total: int) -> Iterator[Counter]:
    """A bar with elapsed and remaining time for work that finishes piece by piece (a sweep's configurations), if
    bars are on."""
    if _console is None or not _console.is_terminal:
        yield Counter()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, console=_console, transient=True) as bar:
        yield Counter(bar, bar.add_task(description, total=total))
