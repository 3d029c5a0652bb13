"""The `tinyml-kit` group: how the library's errors, logs and progress reach the terminal.

A `UserError` becomes one `error:` line (with the flags that set what the problem is about) and exit 2;
anything unexpected one `internal error:` line and exit 1; Ctrl-C and SIGTERM one `interrupted` line and exit
130, after the library's all-or-nothing writers have removed what they staged. Log messages go to stderr
(`-v`/`-q` move the threshold, `--json` keeps only warnings); results go to stdout.
"""

import logging
import os
import signal
import sys

import click

from tinyml_kit import __version__
from tinyml_kit.core import progress
from tinyml_kit.core.errors import UserError

# library parameter -> the flag that sets it, where the names differ
FLAGS = {"input_shape": "--input", "board_id": "--board", "learning_rate": "--lr"}
_state = {"level": logging.INFO}


class _StderrHandler(logging.Handler):
    """Log records as plain lines on stderr, above any progress bar that is drawing."""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"WARNING: {text}"
        console = progress.console()
        if console is not None and console.is_terminal:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(text, err=True)


_HANDLER = _StderrHandler()


def _configure(level: int) -> None:
    from rich.console import Console

    root = logging.getLogger("tinyml_kit")
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    root.propagate = False   # TensorFlow's converter configures the root logger: each line would print twice
    root.setLevel(level)
    _state["level"] = level
    progress.show_on(Console(stderr=True) if level <= logging.INFO else None)


def _release() -> None:
    """Leave logging as the command found it (the CLI may be invoked in-process, by tests or notebooks)."""
    root = logging.getLogger("tinyml_kit")
    root.removeHandler(_HANDLER)
    root.propagate = True
    root.setLevel(logging.NOTSET)
    progress.show_on(None)


def quiet_for_json(ctx: click.Context, param, as_json: bool) -> bool:
    """`--json`: stdout is one JSON object, stderr only warnings and errors (unless -v asked for more)."""
    if as_json and _state["level"] >= logging.INFO:
        _configure(logging.WARNING)
    return as_json


def flag(name: str) -> str:
    """The flag that sets the library parameter `name`."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def as_flag(name: str, value: str | None) -> str:
    """A parameter a library message names, as the command line sets it: `--alpha 0.35`, `--init-from`."""
    return flag(name) if value is None else f"{flag(name)} {value}"


def said(e: UserError) -> str:
    """A library error's message in the command line's words: its parameters as flags."""
    return e.spelled(as_flag)


def _flags(e: UserError, ctx: click.Context | None) -> list[str]:
    """The flags of this command that set the parameters `e.options` names: the ones to change."""
    if ctx is None:
        return []
    flags = [flag(option) for option in e.options]
    offered = {opt for p in ctx.command.params for opt in getattr(p, "opts", ())}
    return [f for f in flags if f in offered]


class Command(click.Command):
    """Remembers which of its flags a UserError is about, for the one-line message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            e.flags = _flags(e, ctx)
            raise


def _help_command(ctx: click.Context | None) -> str:
    """`tinyml-kit [COMMAND] --help` for the command a usage error is about. The group's own name is however the
    program was started (`tinyml-kit`, `python -m tinyml_kit.cli`, a test runner's), so it is not repeated."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return " ".join(["tinyml-kit", *names, "--help"])


def _interrupted(signum, frame):
    raise KeyboardInterrupt


class Group(click.Group):
    command_class = Command

    def invoke(self, ctx):
        previous = signal.signal(signal.SIGTERM, _interrupted)   # `kill` cleans up like Ctrl-C
        try:
            return super().invoke(ctx)
        except UserError as e:
            flags = getattr(e, "flags", [])
            click.echo(f"error: {said(e)}" + (f" ({', '.join(flags)})" if flags else ""), err=True)
            sys.exit(2)
        except click.UsageError as e:
            click.echo(f"error: {e.format_message()} (see {_help_command(e.ctx)})", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:   # output piped into head & co.
            sys.stderr.close()
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing was written", err=True)
            sys.exit(130)
        except Exception as e:
            if os.environ.get("TINYML_KIT_DEBUG"):
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            click.echo(f"internal error: {type(e).__name__}: {first} (set TINYML_KIT_DEBUG=1 for a traceback)",
                       err=True)
            sys.exit(1)
        finally:
            _release()
            signal.signal(signal.SIGTERM, previous)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="tinyml-kit")
@click.option("-v", "--verbose", count=True, help="More progress detail on stderr.")
@click.option("-q", "--quiet", count=True, help="Less on stderr: -q warnings only, -qq errors only.")
def main(verbose: int, quiet: int):
    """Fit a trained, int8-quantized, host-verified image classifier into a microcontroller board."""
    _configure(min(logging.CRITICAL, max(logging.DEBUG, logging.INFO + 10 * (quiet - verbose))))
