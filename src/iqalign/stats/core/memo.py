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

Memory is bounded: past ``MEMO_BYTES`` (2 GiB) per process the least recently used
values are dropped (and computed again if asked for), so a larger table costs time,
not memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

__all__ = ["forget_transient", "remember", "sharing"]

T = TypeVar("T")
_MEMO: ContextVar[OrderedDict | None] = ContextVar("iqalign_stats_memo", default=None)
MEMO_BYTES = 2 << 30


@contextmanager
def sharing() -> Iterator[dict]:
    """Remember shared work inside the ``with`` block (nested blocks share the outer memo)."""
    outer = _MEMO.get()
    if outer is not None:
        yield outer
        return
    memo: OrderedDict = OrderedDict()
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


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
        memo.move_to_end(full)
        value, after, _, _ = memo[full]
        if rng is not None:
            rng.bit_generator.state = after
        return value
    value = _frozen(compute())
    # the key's objects are kept alive with the value: an id() in the key stays unique
    size = _nbytes(value)
    memo[full] = (value, rng.bit_generator.state if rng is not None else None, key, size)
    _evict(memo)
    return value


def _evict(memo: OrderedDict) -> None:
    """Drop the least recently used values until the memo holds at most ``MEMO_BYTES``."""
    total = sum(entry[3] for entry in memo.values())
    while total > MEMO_BYTES and len(memo) > 1:
        _, entry = memo.popitem(last=False)
        total -= entry[3]


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple | list):
        return sum(map(_nbytes, value))
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a DataFrame
        return int(value.memory_usage(index=False, deep=False).sum())
    if dataclasses.is_dataclass(value):
        return sum(_nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def _fingerprint(part: Any) -> Any:
    if isinstance(part, np.ndarray):
        data = np.ascontiguousarray(part)
        return ("array", data.shape, data.dtype.str, hashlib.sha1(data.data).digest())
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
