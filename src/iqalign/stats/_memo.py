"""Work that the pairs of one run share, done once: a memo the analysis runner switches on.

A report analyses every (task model, quality column) pair of a run with the same seed,
so every pair recomputes the same structure of the table: the kept rows, the stratum
codes, the image-ID codes, the 80/20 split, the cross-validation folds, the bootstrap
resamples, the cluster cells of the CR2 variance. At 3.8M rows each of these costs
0.1-1 s, times 48 pairs. Inside :func:`sharing` (the runner turns it on) the functions
that compute them ask :func:`remember` first.

The numbers cannot change: a value is reused only for the same inputs (arrays by their
content's SHA-1, data frames by identity -- the runner's frame is not modified while it
runs) and the same random-generator state; a draw that advanced the generator restores
the state it left, so every later draw is the one the function would have made. Outside
:func:`sharing` nothing is remembered, and public functions behave exactly as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

__all__ = ["forget_transient", "remember", "share_in_this_process", "sharing"]

T = TypeVar("T")
_MEMO: ContextVar[dict | None] = ContextVar("iqalign_stats_memo", default=None)


@contextmanager
def sharing() -> Iterator[dict]:
    """Remember shared work inside the ``with`` block (nested blocks share the outer memo)."""
    if _MEMO.get() is not None:
        yield _MEMO.get()
        return
    memo: dict = {}
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def share_in_this_process() -> None:
    """Remember shared work from now on in this process (a runner's worker process)."""
    if _MEMO.get() is None:
        _MEMO.set({})


def forget_transient() -> None:
    """Drop the values remembered with ``transient=True`` (one quality column's ranks:
    the runner calls this when it moves on to the next column, to bound memory)."""
    memo = _MEMO.get()
    if memo is not None:
        for key in [key for key in memo if key[0].startswith(_TRANSIENT)]:
            del memo[key]


_TRANSIENT = "transient:"


def remember(
    kind: str,
    key: tuple,
    compute: Callable[[], T],
    rng: np.random.Generator | None = None,
    *,
    transient: bool = False,
) -> T:
    """``compute()``, or the value it gave for the same ``kind``, ``key`` and ``rng`` state.

    Returned arrays are made read-only, so a caller cannot change a value others share.
    ``transient`` values are dropped by :func:`forget_transient`.
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    kind = _TRANSIENT + kind if transient else kind
    full = (kind, tuple(_fingerprint(part) for part in key), _state(rng))
    if full in memo:
        value, after, _ = memo[full]
        if rng is not None:
            rng.bit_generator.state = after
        return value
    value = _frozen(compute())
    # the key's objects are kept alive with the value: an id() in the key stays unique
    memo[full] = (value, rng.bit_generator.state if rng is not None else None, key)
    return value


def _fingerprint(part: Any) -> Any:
    if isinstance(part, np.ndarray):
        data = np.ascontiguousarray(part)
        return ("array", data.shape, data.dtype.str, hashlib.sha1(memoryview(data)).digest())
    if hasattr(part, "columns") and hasattr(part, "iloc"):  # a DataFrame: by identity
        return ("frame", id(part))
    return part


def _state(rng: np.random.Generator | None) -> str | None:
    return None if rng is None else repr(rng.bit_generator.state)


def _frozen(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for item in value:
            _frozen(item)
    return value
