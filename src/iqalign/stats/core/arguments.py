"""Range checks of the statistics settings, shared by the functions and the CLI options.

Each returns the value unchanged or raises :class:`~iqalign.errors.ParameterError` with
one line saying what came, what is allowed and why, so the CLI can print it as it is.
"""

from __future__ import annotations

import math

from iqalign.errors import ParameterError

__all__ = ["MIN_BOOT", "check_alpha", "check_at_least", "check_positive"]

MIN_BOOT = 10  # bootstrap resamples: fewer leave a percentile interval's tails undefined


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``0 < alpha < 1`` (a level; intervals are at ``1 - alpha``).

    Examples
    --------
    >>> check_alpha(0.05)
    0.05
    """
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ParameterError(
            f"{name} must lie strictly between 0 and 1 (a test level; intervals are at "
            f"1 - {name}), got {alpha!r}; the usual value is 0.05"
        )
    return float(alpha)


def check_at_least(value: int, minimum: int, name: str, why: str) -> int:
    """An integer setting of at least ``minimum`` (``why`` says what smaller values break)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum} ({why}), got {value!r}")
    return value


def check_positive(value: float, name: str, why: str, *, zero_ok: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``zero_ok``)."""
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value >= 0 if zero_ok else value > 0)
    if not ok:
        bound = ">= 0" if zero_ok else "> 0"
        raise ParameterError(f"{name} must be a finite number {bound} ({why}), got {value!r}")
    return float(value)
