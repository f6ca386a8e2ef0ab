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


def checked(check: Callable[..., Any], *args: Any) -> Callable[..., Any]:
    """A typer callback running a :mod:`iqalign.stats.core.arguments` check on an option's value.

    A bad value exits 2 with one line (``error: --alpha must ...``), before any work, as
    :func:`handle_errors` does for errors raised later. ``None`` (option not given) passes.
    """

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        try:
            check(value, *args)
        except IqalignError as err:
            flag = max(param.opts, key=len) if param.opts else param.name
            err_console.print(Text.assemble(("error: ", "bold red"), f"{flag}: {err}"))
            raise typer.Exit(EXIT_BAD_INPUT) from err
        return value

    return callback


def _check_margin(value: float) -> float:
    from iqalign.stats.core.arguments import check_positive

    return check_positive(value, "margin", "the equivalence margin on the effect")


def _check_alpha(value: float) -> float:
    from iqalign.stats.core.arguments import check_alpha

    return check_alpha(value)


def _check_at_least(value: int, minimum: int, name: str, why: str) -> int:
    from iqalign.stats.core.arguments import check_at_least

    return check_at_least(value, minimum, name, why)


def _check_c(value: float) -> float:
    from iqalign.stats.core.arguments import check_positive

    return check_positive(value, "C", "the inverse L2 strength; C -> 0 penalises the slope to 0")


# Callbacks of the statistics options shared by 'analyze' and 'report'.
ALPHA_CHECK = checked(_check_alpha)
MARGIN_CHECK = checked(_check_margin)
C_CHECK = checked(_check_c)
FOLDS_CHECK = checked(_check_at_least, 2, "folds", "one fold leaves nothing to train on")
N_BOOT_CHECK = checked(
    _check_at_least, 10, "n-boot", "fewer resamples leave an interval's tails undefined"
)
