"""The plug-in interface of :mod:`iqalign.stats.estimation.accuracy`: what a builder sees
and returns.

A *builder* is a function ``builder(data, model) -> list[Estimator]``. It reads the run
through :class:`EstimationData` and returns, per estimator, an :class:`Estimator`: a
per-target-pair ingredient (one column, or ``k``) whose group means, mapped by the fold's
fitted function, are the estimates. The protocol then scores every estimator the same way
(group means, two-way bootstrap, ranking within its track).

The honesty rules are enforced here rather than trusted:

- :meth:`EstimationData.labels` returns correctness on *source* rows only (NaN on every
  other row), so a fit that touches a target label turns into NaN, not into a leak;
- :meth:`EstimationData.fit_rows` is the only mask a fit should use: source IDs only, and
  for the ``shifts`` track never the fold's held-out corruption;
- the ``track`` of an estimator says what it saw (``clean``: labelled clean source images,
  or no labels at all; ``shifts``: also the labelled corrupted source images).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError
from iqalign.scores import MetricInfo, ModelInfo
from iqalign.stats.estimation._design import TRACKS, Design

__all__ = ["Builder", "EstimationData", "Estimator", "FoldMap", "SortedSource", "shift_map"]

#: Group means of an estimator's ingredient -> accuracy estimates, for one fold.
FoldMap = Callable[[np.ndarray], np.ndarray]


@dataclass
class Estimator:
    """One set-level estimator for one task model (the record every builder returns).

    ``values``: per target pair (``design.pair_row``), shape ``(n_pairs,)`` or
    ``(n_pairs, k)`` -- the ingredient whose group means are sufficient for the estimate.
    ``maps``: one function per fold (``design.n_folds``) from group means (``(..., G)``, or
    ``(..., G, k)`` for a ``k``-column ingredient) to estimates (``(..., G)``); ``None``
    means the group mean of a one-column ingredient is the estimate (AC).
    """

    model: str  # slug of the task model M
    name: str  # unique per model: "ATC-MC", "Q-mean q_tv", ...
    track: str  # one of TRACKS
    kind: str  # "confidence", "Q mean", "Q distribution", "agreement", ...
    values: np.ndarray
    maps: Sequence[FoldMap] | None = None
    q_column: str | None = None
    q_source: str = "same model"  # "image", "same model", "other model", "several models"

    def check(self, design: Design) -> None:
        """Raise if the record does not fit the design (a builder's bug, named)."""
        where = f"estimator {self.name!r} for {self.model}"
        if self.track not in TRACKS:
            raise ValueError(f"{where}: track must be one of {TRACKS}, got {self.track!r}")
        if self.values.shape[0] != design.pair_row.size or self.values.ndim not in (1, 2):
            raise ValueError(
                f"{where}: values must have shape (n_pairs,) or (n_pairs, k) with n_pairs = "
                f"{design.pair_row.size}; got {self.values.shape}"
            )
        if self.maps is None and self.values.ndim != 1:
            raise ValueError(f"{where}: a k-column ingredient needs maps")
        if self.maps is not None and len(self.maps) != design.n_folds:
            raise ValueError(f"{where}: {len(self.maps)} maps for {design.n_folds} folds")

    def finish(self, means: np.ndarray, group_fold: np.ndarray) -> np.ndarray:
        """Estimates from group means: ``(..., G)`` (or ``(..., G, k)``) -> ``(..., G)``."""
        if self.maps is None:
            return means
        out = np.empty(means.shape[:-1] if self.values.ndim == 2 else means.shape)
        for fold, fitted in enumerate(self.maps):
            chosen = group_fold == fold
            if chosen.any():
                out[..., chosen] = fitted(means[..., chosen, :] if self.values.ndim == 2
                                          else means[..., chosen])  # fmt: skip
        return out


def shift_map(offset: float) -> FoldMap:
    """The map ``mean -> mean - offset`` (DoC)."""
    return lambda means: means - offset


@dataclass
class EstimationData:
    """What a builder may read: the table, the design, the run's metric and model records."""

    frame: pd.DataFrame
    design: Design
    metrics: Mapping[str, MetricInfo]  # the usable quality columns, by column
    models: Mapping[str, ModelInfo]  # task models, by slug
    notes: list[str] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict)
    # --save-probs: per task model (slug), its per-row log-softmax, one array per shard
    log_probs: Mapping[str, Sequence[np.ndarray]] = field(default_factory=dict)

    def labels(self, model: str) -> np.ndarray:
        """Correctness (0/1) of ``model`` on source rows; NaN on every other row."""
        key = ("labels", model)
        if key not in self.cache:
            column = self.models[model].correct_column
            values = self.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isin(values[self.design.is_source], (0.0, 1.0)).all():
                raise ScoresTableError(
                    f"column {column!r} must be 0/1 on every row (correctness); "
                    "re-score the run or fix the column"
                )
            self.cache[key] = np.where(self.design.is_source, values, np.nan)
        return self.cache[key]

    def fit_rows(self, track: str, fold: int) -> np.ndarray:
        """Rows a fit of ``track`` may use for ``fold`` (:meth:`Design.fit_rows`)."""
        return self.design.fit_rows(track, fold)

    def find_role(self, role: str, model: str) -> MetricInfo | None:
        """The quality column of ``role`` (:data:`iqalign.scores.ROLES`: ``confidence``,
        ``entropy``, ...) computed from task model ``model`` (a slug)."""
        for info in self.metrics.values():
            if info.role == role and info.is_from_model(model):
                return info
        return None

    def values(self, column: str, use: str) -> np.ndarray | None:
        """A column as float64 per row, or ``None`` (with a note) if any value is not finite."""
        key = ("values", column)
        if key not in self.cache:
            values = self.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            bad = int((~np.isfinite(values)).sum())
            if bad:
                self.notes.append(f"{column}: {bad} non-finite values, so {use} was skipped")
                values = None
            self.cache[key] = values
        return self.cache[key]

    def at_pairs(self, key: Any, per_row: np.ndarray) -> np.ndarray:
        """``per_row`` at the target pairs, computed once per ``key``: estimators that share
        an ingredient share the array, and the bootstrap sums it once."""
        return self.memo(("pairs", key), lambda: per_row[self.design.pair_row])

    def q_source(self, info: MetricInfo, model: str) -> str:
        """Where a Q comes from, relative to task model ``model``."""
        if info.source_model is None:
            return "image"
        return "same model" if info.is_from_model(model) else "other model"

    def sorted_source(self, key: Any, per_row: np.ndarray) -> SortedSource:
        """:class:`SortedSource` of ``per_row`` (computed once per ``key``)."""
        return self.memo(("sorted", key), lambda: SortedSource.build(self.design, per_row))

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute once per estimation (e.g. per-column statistics shared by the models)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


@dataclass(frozen=True)
class SortedSource:
    """A per-row value on the source rows, sorted once, so that a fold's fits (which drop
    the rows of its held-out corruption) need no sort of their own.

    ``fold_positions[f]``: ascending positions, in ``values``, of the rows fold ``f``
    holds out. :meth:`kept_order_statistics` gives order statistics of the rows a fold
    keeps (``shifts`` track) by counting, not by sorting again.
    """

    values: np.ndarray  # source values, ascending
    rows: np.ndarray  # row index of each sorted value
    fold_positions: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, design: Design, per_row: np.ndarray) -> SortedSource:
        rows = np.flatnonzero(design.is_source)
        order = np.argsort(per_row[rows], kind="stable")
        rows = rows[order]
        fold = design.row_fold[rows]
        by_fold = np.argsort(fold, kind="stable")  # positions grouped by fold, ascending
        bounds = np.searchsorted(fold[by_fold], np.arange(design.n_folds + 1))
        positions = tuple(by_fold[bounds[f] : bounds[f + 1]] for f in range(design.n_folds))
        return cls(per_row[rows], rows, positions)

    def kept_size(self, fold: int) -> int:
        return self.values.size - self.fold_positions[fold].size

    def kept_positions(self, fold: int, ranks: np.ndarray) -> np.ndarray:
        """Positions in ``values`` of the kept rows' order statistics ``ranks`` (0-based):
        the j-th kept row sits after every held-out row with fewer than j+1 kept rows
        before it."""
        held = self.fold_positions[fold]
        before = held - np.arange(held.size)  # kept rows before each held-out row
        ranks = np.asarray(ranks, dtype=np.int64)
        return ranks + np.searchsorted(before, ranks, side="right")

    def kept_sum(self, fold: int, weights: np.ndarray) -> float:
        """Sum of ``weights`` (per sorted value) over the rows ``fold`` keeps."""
        return float(weights.sum() - weights[self.fold_positions[fold]].sum())

    def kept_counts(self, fold: int, bounds: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
        """Per bin ``[bounds[j], bounds[j+1])`` of positions: the sum of a weight over the
        rows ``fold`` keeps. ``cumulative``: ``concatenate(([0], cumsum(weights)))``."""
        held = self.fold_positions[fold]
        held_cumulative = cumulative[held + 1] - cumulative[held]  # the held rows' weights
        held_total = np.concatenate(([0.0], np.cumsum(held_cumulative)))
        kept = cumulative[bounds] - held_total[np.searchsorted(held, bounds, side="left")]
        return np.diff(kept)


#: ``builder(data, model) -> list[Estimator]`` (module docs).
Builder = Callable[[EstimationData, str], list[Estimator]]
