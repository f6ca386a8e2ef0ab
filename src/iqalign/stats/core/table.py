"""Scores tables: load them (DataFrame, Parquet file or folder of shards) and check them.

A scores table has one row per scored image: ``image_id`` (the clean source image X0),
``label`` (Y), ``corruption`` and ``severity`` (clean = ``CLEAN``, 0), and per quality
metric ``q_<metric>`` (float) and per task model ``correct_<model>`` (0/1) and
``pred_<model>``. Every analysis in :mod:`iqalign.stats` starts with
:func:`prepare_scores`, which resolves the Q and M columns (``--q clipiqa`` finds
``q_clipiqa``), checks that M is binary and Q finite, and hands back numpy arrays. Bad
input gets an :class:`~iqalign.errors.IqalignError` that names the column and value and
says how to fix it: never a traceback from inside pandas, never a silent NaN.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"image_id": ["a", "a", "b"], "q_tv": [0.1, 0.5, 0.3],
...                       "correct_r34": [0, 1, 1]})
>>> data = prepare_scores(frame, "tv", "r34")
>>> data.q_column, data.m_column, data.n_rows
('q_tv', 'correct_r34', 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from iqalign.errors import ColumnNotFoundError, ScoresTableError, did_you_mean
from iqalign.scores import PERFORMANCE_PREFIX, QUALITY_PREFIX, load_scores
from iqalign.stats.core.codes import unique_codes
from iqalign.stats.core.memo import remember

__all__ = [
    "ScoresData",
    "get_stratum_codes",
    "get_unit_codes",
    "load_scores",
    "prepare_scores",
    "resolve_column",
]

_PREFIX_OF_KIND = {"quality": QUALITY_PREFIX, "performance": PERFORMANCE_PREFIX, "column": ""}


@dataclass(frozen=True)
class ScoresData:
    """Validated Q, M and the extra columns an analysis asked for (rows aligned)."""

    q_column: str
    m_column: str
    q: np.ndarray  # float64, finite
    m: np.ndarray  # float64, exactly 0.0 or 1.0
    frame: pd.DataFrame  # the kept rows (index 0..n-1): the extra columns, or the whole
    # table (not copied) when every row is kept
    n_dropped_nonfinite: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.q.size)


def resolve_column(frame: pd.DataFrame, name: str, kind: str = "column") -> str:
    """The column ``name`` names: itself, or ``q_<name>`` / ``correct_<name>`` by ``kind``.

    ``kind`` is ``"quality"``, ``"performance"`` or ``"column"``.
    """
    prefix = _PREFIX_OF_KIND[kind]
    if name in frame.columns:
        return name
    if prefix and prefix + name in frame.columns:
        return prefix + name
    candidates = [str(c) for c in frame.columns if str(c).startswith(prefix)] if prefix else []
    choices = candidates or [str(c) for c in frame.columns]
    hint = did_you_mean([name, prefix + name], choices)
    listing = f"{kind} columns ({prefix}*) are {candidates}" if prefix else f"columns are {choices}"
    raise ColumnNotFoundError(f"the scores table has no {kind} column {name!r}; {listing}.{hint}")


def prepare_scores(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    extra: Sequence[str] = (),
    *,
    nonfinite: Literal["raise", "drop"] = "raise",
    rows: np.ndarray | None = None,
) -> ScoresData:
    """Resolve and check Q, M and the ``extra`` columns; return aligned numpy arrays.

    Non-finite Q raises (``nonfinite="raise"``) or drops the rows and counts them
    (``"drop"``). M must hold only 0/1 (or booleans). ``rows`` (a boolean mask) limits
    the analysis to those rows (e.g. the corrupted ones) without copying the table.

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    extra
        Other columns the analysis needs (stratifiers, units).
    nonfinite
        ``"raise"``: refuse non-finite Q; ``"drop"``: drop those rows and count them.
    rows
        A boolean mask of the rows to keep; ``None`` keeps all.

    Returns
    -------
    ScoresData
        The arrays, aligned, and how many rows were dropped.
    """
    frame = load_scores(table)
    if len(frame) == 0:
        raise ScoresTableError("the scores table is empty (0 rows); nothing to analyse")
    q_column = resolve_column(frame, q, "quality")
    m_column = resolve_column(frame, m, "performance")
    extra = [resolve_column(frame, name) for name in dict.fromkeys(extra)]
    m_values = _binary(frame[m_column], m_column)
    q_values = _numeric(frame[q_column], q_column)
    finite = np.isfinite(q_values)
    keep = finite if rows is None else finite & rows
    dropped = int(keep.size - keep.sum()) if rows is None else int((rows & ~finite).sum())
    if dropped and nonfinite == "raise":
        _refuse_nonfinite(frame, q_column, finite, rows, dropped)
    if keep.sum() == 0:
        raise ScoresTableError(f"column {q_column!r} has no finite values")
    kept = _kept_frame(frame, keep, extra, every_row=rows is None and not dropped)
    return ScoresData(
        q_column=q_column,
        m_column=m_column,
        q=q_values[keep],
        m=m_values[keep],
        frame=kept,
        n_dropped_nonfinite=dropped,
    )


def _kept_frame(
    frame: pd.DataFrame, keep: np.ndarray, extra: list[str], *, every_row: bool
) -> pd.DataFrame:
    """The kept rows' ``extra`` columns (the table itself when every row is kept), complete."""
    if every_row and _plain_index(frame):
        kept = frame  # every row: the table itself, no copy (its columns are read, never written)
    else:
        kept = remember(  # the same rows of the same table: one frame for every pair of a run
            "kept-rows",
            (frame, keep, tuple(extra)),
            lambda: frame.loc[keep, extra].reset_index(drop=True),
        )
    for name in extra:
        if kept[name].isna().any():
            raise ScoresTableError(
                f"column {name!r} has {int(kept[name].isna().sum())} missing values; "
                "a stratifier or grouping column must be complete"
            )
    return kept


def _refuse_nonfinite(
    frame: pd.DataFrame, q_column: str, finite: np.ndarray, rows: np.ndarray | None, dropped: int
) -> None:
    """Raise for non-finite Q (among ``rows``), naming the first such row's image."""
    first = int(np.flatnonzero(~finite if rows is None else ~finite & rows)[0])
    where = f" (first at image_id={frame['image_id'].iloc[first]!r})" if "image_id" in frame else ""
    raise ScoresTableError(
        f"column {q_column!r} has {dropped} non-finite values (NaN or inf) of "
        f"{finite.size if rows is None else int(rows.sum())}{where}; fix the scores or pass "
        "nonfinite='drop' "
        "(CLI: --drop-nonfinite) to drop and count them"
    )


def _plain_index(frame: pd.DataFrame) -> bool:
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _binary(column: pd.Series, name: str) -> np.ndarray:
    if column.isna().any():
        raise ScoresTableError(
            f"column {name!r} (performance M) has {int(column.isna().sum())} missing values; "
            "M must be 0/1 for every row"
        )
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(column):
        raise ScoresTableError(
            f"column {name!r} (performance M) must be 0/1 or boolean; it has dtype {column.dtype}"
        )
    values = column.to_numpy(dtype=np.float64)
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        found = sorted(set(np.unique(values[bad]).tolist()))[:5]
        raise ScoresTableError(
            f"column {name!r} (performance M) must be 0/1 (correct or not); found {bad.sum()} "
            f"other values, e.g. {found}; per-image correctness, not accuracy, is expected"
        )
    return values


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        raise ScoresTableError(
            f"column {name!r} (quality Q) must be numeric; it has dtype {column.dtype}"
        )
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def get_stratum_codes(
    frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer stratum codes ``0..S-1`` (sorted by key) and the key of each stratum.

    With no columns every row is in stratum 0.

    Examples
    --------
    >>> frame = pd.DataFrame({"c": ["b", "a", "b"], "s": [1, 1, 2]})
    >>> codes, keys = get_stratum_codes(frame, ["c", "s"])
    >>> codes.tolist(), keys.to_dict("list")
    ([1, 0, 2], {'c': ['a', 'b', 'b'], 's': [1, 1, 2]})
    """
    columns = list(columns)
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1))
    return remember("strata", (frame, tuple(columns)), lambda: _stratum_codes(frame, columns))


def _stratum_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    combined = np.zeros(len(frame), dtype=np.int64)
    for name in columns:
        codes, uniques = pd.factorize(frame[name], sort=True)
        if (codes < 0).any():
            raise ScoresTableError(
                f"column {name!r} has missing values; a stratifier must be complete"
            )
        if combined.size and int(combined.max()) + 1 > 2**62 // max(len(uniques), 1):
            # re-compress so that the product of many columns' sizes never overflows int64
            combined = unique_codes(combined)[1]
        combined = combined * len(uniques) + codes
    uniques, first, codes = unique_codes(combined, return_index=True)
    keys = frame[columns].iloc[first].reset_index(drop=True)
    return codes.astype(np.int64), keys


def get_unit_codes(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Integer codes ``0..U-1`` of ``column``'s values in order of first appearance (image
    IDs: the clusters of rows and the units of splits and resamples).

    Examples
    --------
    >>> get_unit_codes(pd.DataFrame({"image_id": ["b", "a", "b"]}), "image_id").tolist()
    [0, 1, 0]
    """
    return remember("unit-codes", (frame, column), lambda: pd.factorize(frame[column])[0])
