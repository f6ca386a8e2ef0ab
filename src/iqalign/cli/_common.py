"""Shared pieces of the CLI: consoles, exit codes, turning our errors into clean exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from iqalign.errors import IqalignError

EXIT_OK = 0
EXIT_NO = 1
EXIT_BAD_INPUT = 2

NAME_HELP = "A built-in DAG name (see 'iqalign dag list') or a path to a .yaml / .dagitty file."

# Piped output (scripts, CI logs) gets wide tables instead of rich's 80-column default.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(function: F) -> F:
    """Print an :class:`IqalignError` as one clean line and exit 2 (bad input)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except IqalignError as err:
            err_console.print(Text.assemble(("error: ", "bold red"), str(err)))
            raise typer.Exit(EXIT_BAD_INPUT) from err

    return wrapper  # type: ignore[return-value]
