"""The estimator record of :mod:`iqalign.stats.estimation` and its Q-based estimators.

An :class:`Estimator` holds, per target pair, the ingredient whose group mean -- shifted
by an offset (DoC) or mapped by the fold's monotone map (Q-mean) -- is the accuracy
estimate. Q-mean and Q-dist are built here from per-column statistics computed once per
quality column (:class:`QStats`), whatever the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from iqalign.stats._estimation_design import Design
from iqalign.stats.estimators import MonotoneMap, fit_monotone_map

__all__ = ["Q_BINS", "Estimator", "QStats", "finite_values", "q_estimators", "q_stats"]

Q_BINS = 64  # quantile bins of Q for the per-image (Q-dist) map


@dataclass
class Estimator:
    """One estimator for one model: a per-pair ingredient whose group mean, shifted by
    ``offset`` or mapped by the fold's monotone map, is the accuracy estimate."""

    model: str
    name: str
    kind: str
    q_column: str | None
    q_source: str
    values: np.ndarray
    offset: float = 0.0
    maps: list[MonotoneMap] | None = None

    def finish(self, means: np.ndarray, group_fold: np.ndarray) -> np.ndarray:
        out = means - self.offset
        for fold, monotone in enumerate(self.maps or ()):
            chosen = group_fold == fold
            out[..., chosen] = monotone(means[..., chosen])
        return out


def finite_values(
    frame: pd.DataFrame, column: str, notes: list[str], use: str
) -> np.ndarray | None:
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        notes.append(f"{column}: {bad} non-finite values, so {use} was skipped")
        return None
    return values


def _q_source(q: Any, model: str) -> str:
    if q.source_model is None:
        return "image"
    return "same model" if q.source_model == model else "other model"


@dataclass
class QStats:
    """What a Q column contributes regardless of the model (computed once per column)."""

    q: Any
    target: np.ndarray  # Q of every target pair
    cs_count: np.ndarray  # source rows per (c, s) group
    cs_mean: np.ndarray  # mean Q per source (c, s) group
    cell: np.ndarray  # per row: quantile bin x (c, s) code
    bin_count: np.ndarray  # (n_bins, n_cs) source rows
    pair_bin: np.ndarray


def q_stats(frame: pd.DataFrame, design: Design, q: Any, notes: list[str]) -> QStats | None:
    values = finite_values(frame, q.column, notes, "its Q-based estimators")
    if values is None:
        return None
    n_cs, source = len(design.cs_keys), design.is_source
    count = np.bincount(design.cs_code[source], minlength=n_cs).astype(np.float64)
    total = np.bincount(design.cs_code[source], weights=values[source], minlength=n_cs)
    edges = np.unique(np.quantile(values[source], np.linspace(0, 1, Q_BINS + 1)))
    bins = np.searchsorted(edges[1:-1], values, side="right")
    n_bins = max(len(edges) - 1, 1)
    cell = bins * n_cs + design.cs_code
    bin_count = np.bincount(cell[source], minlength=n_bins * n_cs).reshape(n_bins, n_cs)
    return QStats(q, values[design.pair_row], count, total / np.maximum(count, 1), cell,
                   bin_count.astype(np.float64), bins[design.pair_row])  # fmt: skip


def q_estimators(
    design: Design, model: str, correct: np.ndarray, stats: Sequence[QStats], notes: list[str]
) -> list[Estimator]:
    """Q-mean and Q-dist of every usable quality column for one model."""
    source = design.is_source
    n_cs = len(design.cs_keys)
    hits_cs = np.bincount(design.cs_code[source], weights=correct[source], minlength=n_cs)
    out = []
    for st in stats:
        where = _q_source(st.q, model)
        accuracy = hits_cs / np.maximum(st.cs_count, 1)
        maps = _fit_group_maps(design, st.cs_count, st.cs_mean, accuracy)
        if maps is None:
            notes.append(f"Q-mean needs >= 3 labelled source groups per fold; {st.q.column} "
                         "has fewer, so Q-mean was skipped")  # fmt: skip
        else:
            out.append(Estimator(model, f"Q-mean {st.q.column}", "Q mean", st.q.column, where,
                                  st.target, maps=maps))  # fmt: skip
        hits = np.bincount(st.cell[source], weights=correct[source],
                           minlength=st.bin_count.size).reshape(st.bin_count.shape)  # fmt: skip
        out.append(Estimator(model, f"Q-dist {st.q.column}", "Q distribution", st.q.column,
                              where, _per_image_values(design, st, hits)))  # fmt: skip
    return out


def _fit_group_maps(
    design: Design, count: np.ndarray, mean_q: np.ndarray, accuracy: np.ndarray
) -> list[MonotoneMap] | None:
    """Per fold: isotonic map from a source group's mean Q to its accuracy."""
    maps = []
    for excluded in design.fold_excluded:
        keep = (count > 0) & ~excluded
        if keep.sum() < 3:
            return None
        maps.append(fit_monotone_map(mean_q[keep], accuracy[keep]))
    return maps


def _per_image_values(design: Design, st: QStats, hits: np.ndarray) -> np.ndarray:
    """Per target pair: P(correct | Q's quantile bin) from its fold's isotonic map."""
    table = np.empty((len(design.fold_excluded), st.bin_count.shape[0]))
    every_bin = np.arange(table.shape[1])
    for fold, excluded in enumerate(design.fold_excluded):
        n, k = st.bin_count[:, ~excluded].sum(axis=1), hits[:, ~excluded].sum(axis=1)
        seen = n > 0
        table[fold] = fit_monotone_map(every_bin[seen], k[seen] / n[seen], n[seen])(every_bin)
    return table[design.group_fold[design.pair_group], st.pair_bin]
