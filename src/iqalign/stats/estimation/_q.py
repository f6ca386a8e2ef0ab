"""The Q-based estimators of :mod:`iqalign.stats.estimation.accuracy` (``shifts`` track).

Both need several labelled groups, so both see the labelled corrupted source rows -- of
the corruptions a fold does not hold out, never of the held-out one:

- **Q-mean**: isotonic map from a source (corruption, severity) group's mean Q to its
  accuracy, one map per fold, applied to the target group's mean Q;
- **Q-dist**: isotonic map from an image's Q quantile bin to P(correct), one map per
  fold; the estimate is its mean over the target group. The bin edges (``Q_BINS``
  quantiles, as ``numpy.quantile``) are computed per fold from the fold's fitting rows,
  so the held-out corruption's Q values move no edge.

What a column contributes regardless of the task model (group means, the per-fold bin
edges and each target pair's bin) is computed once per column (:class:`QStats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from iqalign.scores import MetricInfo
from iqalign.stats.estimation._base import EstimationData, Estimator, SortedSource
from iqalign.stats.estimation.estimators import MonotoneMap, fit_monotone_map

__all__ = ["Q_BINS", "QStats", "is_legacy_estimator", "q_based", "sorted_quantiles"]

Q_BINS = 64  # quantile bins of Q for the per-image (Q-dist) map
MIN_MAP_GROUPS = 3  # labelled source groups a Q-mean map needs per fold


def is_legacy_estimator(info: MetricInfo) -> bool:
    """A column older runs hold (scoring-time MSP/ATC/DoC): an ingredient, never a Q
    (its role, which :mod:`iqalign.scores` derives for manifests that predate roles)."""
    return info.role == "legacy_estimator"


@dataclass
class QStats:
    """What a Q column contributes regardless of the model (computed once per column)."""

    target: np.ndarray  # Q of every target pair
    cs_count: np.ndarray  # source rows per (c, s) group
    cs_mean: np.ndarray  # mean Q per source (c, s) group
    ordered: SortedSource  # the source rows sorted by Q
    bounds: list[np.ndarray]  # per fold: positions in ``ordered`` where each bin starts/ends
    pair_bin: np.ndarray  # per target pair: its bin under its fold's edges


def sorted_quantiles(ordered: SortedSource, fold: int, q: np.ndarray) -> np.ndarray:
    """``numpy.quantile(kept, q)`` (method "linear") of the rows ``fold`` keeps, bit for bit,
    from the sorted source values: the virtual index ``(n - 1) q``, its two order
    statistics, and numpy's two-sided linear interpolation."""
    n = ordered.kept_size(fold)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    at_end = virtual >= n - 1
    prev_rank = np.where(at_end, n - 1, previous).astype(np.int64)
    next_rank = np.where(at_end, n - 1, previous + 1).astype(np.int64)
    a = ordered.values[ordered.kept_positions(fold, prev_rank)]
    b = ordered.values[ordered.kept_positions(fold, next_rank)]
    gamma = virtual - previous
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def _q_stats(data: EstimationData, info: MetricInfo) -> QStats | None:
    values = data.values(info.column, "its Q-based estimators")
    if values is None:
        return None
    design = data.design
    n_cs, source = len(design.cs_keys), design.is_source
    count = np.bincount(design.cs_code[source], minlength=n_cs).astype(np.float64)
    total = np.bincount(design.cs_code[source], weights=values[source], minlength=n_cs)
    ordered = data.sorted_source(info.column, values)
    target = data.at_pairs(info.column, values)
    pair_bin = np.zeros(target.size, dtype=np.int64)
    bounds = []
    levels = np.linspace(0, 1, Q_BINS + 1)
    for fold in range(design.n_folds):
        inner = np.unique(sorted_quantiles(ordered, fold, levels))[1:-1]
        bounds.append(np.concatenate(([0], np.searchsorted(ordered.values, inner, side="left"),
                                      [ordered.values.size])))  # fmt: skip
        chosen = design.fold_pairs[fold]
        pair_bin[chosen] = np.searchsorted(inner, target[chosen], side="right")
    return QStats(target, count, total / np.maximum(count, 1), ordered, bounds, pair_bin)


def q_based(data: EstimationData, model: str) -> list[Estimator]:
    """Q-mean and Q-dist of every usable quality column for one model (``shifts`` track)."""
    design = data.design
    labels = data.labels(model)
    source = design.is_source
    n_cs = len(design.cs_keys)
    hits_cs = np.bincount(design.cs_code[source], weights=labels[source], minlength=n_cs)
    out = []
    for info in data.metrics.values():
        st: QStats | None = data.memo(("q-stats", info.column), partial(_q_stats, data, info))
        if st is None:
            continue
        where = data.q_source(info, model)
        maps = _group_maps(data, st.cs_count, st.cs_mean, hits_cs / np.maximum(st.cs_count, 1))
        if maps is None:
            data.notes.append(f"Q-mean needs >= {MIN_MAP_GROUPS} labelled source groups per "
                              f"fold; {info.column} has fewer, so Q-mean was skipped")  # fmt: skip
        else:
            out.append(Estimator(model, f"Q-mean {info.column}", "shifts", "Q mean", st.target,
                                 maps, info.column, where))  # fmt: skip
        values = _per_image_values(data, st, labels)
        out.append(Estimator(model, f"Q-dist {info.column}", "shifts", "Q distribution",
                             values, None, info.column, where))  # fmt: skip
    return out


def _group_maps(
    data: EstimationData, count: np.ndarray, mean_q: np.ndarray, accuracy: np.ndarray
) -> list[MonotoneMap] | None:
    """Per fold: isotonic map from a source group's mean Q to its accuracy."""
    maps = []
    for fold in range(data.design.n_folds):
        keep = (count > 0) & (data.design.fold_of_cs != fold)
        if keep.sum() < MIN_MAP_GROUPS:
            return None
        maps.append(fit_monotone_map(mean_q[keep], accuracy[keep]))
    return maps


def _per_image_values(data: EstimationData, st: QStats, labels: np.ndarray) -> np.ndarray:
    """Per target pair: P(correct | Q's quantile bin) from its fold's isotonic map."""
    design = data.design
    ones = np.arange(st.ordered.values.size + 1, dtype=np.float64)  # cumsum of ones
    hits = np.concatenate(([0.0], np.cumsum(labels[st.ordered.rows])))
    value = np.empty(st.target.size)
    for fold, bounds in enumerate(st.bounds):
        n = st.ordered.kept_counts(fold, bounds, ones)
        k = st.ordered.kept_counts(fold, bounds, hits)
        every_bin = np.arange(n.size)
        seen = n > 0
        table = fit_monotone_map(every_bin[seen], k[seen] / n[seen], n[seen])(every_bin)
        chosen = design.fold_pairs[fold]
        value[chosen] = table[st.pair_bin[chosen]]
    return value
