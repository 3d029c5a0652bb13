"""`tinyml-kit` command line: click ParamTypes parse the values, one pipeline or stage call does the work, the
result is printed (stdout) while logs and progress go to stderr. No library module imports this package."""

from tinyml_kit.cli import (  # noqa: F401  (registers the commands)
    baseline_command,
    deploy_command,
    model_commands,
    run_commands,
    sweep_commands,
)
from tinyml_kit.cli.group import main

__all__ = ["main"]
