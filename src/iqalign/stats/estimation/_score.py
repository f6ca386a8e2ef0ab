"""Scoring the estimators of :mod:`iqalign.stats.estimation.accuracy`: errors, intervals, ranks.

Per (model, estimator): the mean absolute error over the target groups (MAE), its
bias-corrected value and a 95 % interval, and the max absolute error (a point only: a
bootstrap of a maximum is not reliable, so it gets no interval).

**What the interval is for.** The MAE a user should expect on a *new* corruption of this
data set, for a large target set. Each resample draws the target image IDs (an ID's rows
move together) *and* the folds -- under leave-one-corruption-out a fold is a corruption
with all its severities -- with replacement, jointly; the fitted estimators are held
fixed (each corruption keeps the fit that never saw it). The MAE of a resample weighs
each target group by its fold's count.

**Bias.** ``|estimate - truth|`` turns the sampling noise of a group mean into upward
bias, so with few images per group the observed MAE overstates the large-set MAE. The
bias-corrected MAE is ``2 MAE - mean(MAE*)`` (clipped at 0).

**Interval** (:func:`mae_interval`). With at least :data:`MIN_FOLDS_FOR_T` folds, a
bootstrap-t over the folds: ``t* = (MAE* - MAE) / SE*`` with SE the standard error of the
mean over folds, and ``[MAE - t*_97.5 SE, MAE - t*_2.5 SE]`` (clipped at 0); with fewer
folds, the basic interval widened for few clusters. Either way it is extended, where
needed, to contain both the MAE and the bias-corrected MAE, so every printed interval
contains both points. Measured coverage: docs/estimation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from iqalign.stats.estimation._base import Estimator
from iqalign.stats.estimation._design import Design, bootstrap_group_means, draw_resamples

__all__ = ["INTERVAL_LEVEL", "mae_interval", "score_estimators"]

INTERVAL_LEVEL = 0.95
MIN_FOLDS_FOR_T = 5  # folds (corruptions) a bootstrap-t over folds needs


def mae_interval(
    fold_mae: np.ndarray, fold_size: np.ndarray, resampled: np.ndarray, fold_counts: np.ndarray,
    n_ids: int, level: float = INTERVAL_LEVEL,
) -> tuple[float, float, float, float]:  # fmt: skip
    """``(MAE, bias-corrected MAE, low, high)`` (module docs).

    ``fold_mae``: the observed MAE of each fold (``K``), over ``fold_size`` groups each;
    ``resampled``: per resample and fold, the MAE on the resampled image IDs (``(B, K)``),
    the fold drawn ``fold_counts`` times (``(B, K)``). With at least
    :data:`MIN_FOLDS_FOR_T` folds the interval is a bootstrap-t over the folds; with
    fewer a basic interval widened for the few clusters (:func:`_few_cluster_interval`).
    Either way it is extended, where needed, to contain both point values.
    """
    weight = fold_size.astype(np.float64)
    mae = float(weight @ fold_mae / weight.sum())
    boot = _pooled(resampled, fold_counts * weight)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return mae, float("nan"), float("nan"), float("nan")
    corrected = max(2.0 * mae - float(boot.mean()), 0.0)
    k = fold_mae.size
    if k >= MIN_FOLDS_FOR_T:
        low, high = _bootstrap_t(mae, fold_mae, weight, resampled, fold_counts, level)
    else:
        low, high = _few_cluster_interval(mae, boot, k if k >= 2 else n_ids, level)
    return mae, corrected, min(low, corrected, mae), max(high, corrected, mae)


def _standard_error(values: np.ndarray, weight: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Linearised SE of the weighted mean of cluster values (each draw of a fold is one
    cluster of weight ``weight``): ``(..., K)`` values and counts -> ``(...)``."""
    k = values.shape[-1]
    total = (counts * weight).sum(-1)
    mean = (counts * weight * values).sum(-1) / total
    spread = (counts * weight**2 * (values - mean[..., None]) ** 2).sum(-1)
    return np.sqrt(spread * k / (k - 1)) / total


def _bootstrap_t(
    mae: float, fold_mae: np.ndarray, weight: np.ndarray, resampled: np.ndarray,
    fold_counts: np.ndarray, level: float,
) -> tuple[float, float]:  # fmt: skip
    """Bootstrap-t over the folds: ``t* = (MAE* - MAE) / SE*`` and
    ``[MAE - t*_hi SE, MAE - t*_lo SE]`` (clipped at 0). Studentising takes the skew of
    per-corruption errors into account, which a percentile or basic interval of 15
    corruptions does not (measured: docs/estimation.md)."""
    se = float(_standard_error(fold_mae, weight, np.ones_like(fold_mae)))
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = np.where(np.isfinite(resampled), resampled, 0.0)
        counts = np.where(np.isfinite(resampled), fold_counts, 0.0)
        mean = (counts * weight * filled).sum(1) / (counts * weight).sum(1)
        t = (mean - mae) / _standard_error(filled, weight, counts)
    t = t[np.isfinite(t)]
    if t.size == 0 or not np.isfinite(se):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    t_low, t_high = np.quantile(t, [tail, 1.0 - tail])
    return max(mae - t_high * se, 0.0), max(mae - t_low * se, 0.0)


def _few_cluster_interval(
    mae: float, boot: np.ndarray, clusters: int, level: float
) -> tuple[float, float]:
    """The basic interval ``[2 MAE - q_hi, 2 MAE - q_lo]`` (clipped at 0), the resamples'
    spread about their mean widened by ``sqrt(k/(k-1)) t_(k-1) / z`` for ``k`` clusters
    (Hesterberg's expanded bootstrap: a bootstrap of k clusters is too narrow by
    ``sqrt((k-1)/k)`` and uses normal, not t, quantiles)."""
    from scipy import stats as sps

    tail = (1.0 - level) / 2.0
    centre = float(boot.mean())
    low_q, high_q = np.quantile(boot, [tail, 1.0 - tail])
    if clusters >= 2:
        widen = np.sqrt(clusters / (clusters - 1)) * sps.t.isf(tail, clusters - 1)
        widen /= sps.norm.isf(tail)
        low_q, high_q = centre + widen * (low_q - centre), centre + widen * (high_q - centre)
    return max(2.0 * mae - high_q, 0.0), max(2.0 * mae - low_q, 0.0)


def _columns(
    estimators: Sequence[Estimator], truths: Mapping[str, np.ndarray]
) -> tuple[list[np.ndarray], dict[str, int], list[int | list[int]]]:
    """Every distinct per-pair array once (shared ingredients are summed once), and per
    estimator and truth the columns it reads."""
    arrays: list[np.ndarray] = []
    seen: dict[int, int] = {}

    def add(array: np.ndarray) -> int:
        if id(array) not in seen:
            seen[id(array)] = len(arrays)
            arrays.append(array)
        return seen[id(array)]

    truth_col = {model: add(values) for model, values in truths.items()}
    est_cols: list[int | list[int]] = []
    for e in estimators:
        if e.values.ndim == 1:
            est_cols.append(add(e.values))
        else:
            est_cols.append([add(e.values[:, j]) for j in range(e.values.shape[1])])
    return arrays, truth_col, est_cols


def score_estimators(
    design: Design, estimators: Sequence[Estimator], truths: Mapping[str, np.ndarray],
    n_boot: int, rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, str], np.ndarray]]:  # fmt: skip
    """``(summary, groups, resampled MAEs)``: the point values and two-way bootstrap of
    every estimator over the target groups (module docs)."""
    arrays, truth_col, est_cols = _columns(estimators, truths)
    id_counts, fold_counts = draw_resamples(design, n_boot, rng)
    point, boot = bootstrap_group_means(design, arrays, id_counts)
    member = np.zeros((len(design.group_fold), design.n_folds))
    member[np.arange(len(design.group_fold)), design.group_fold] = 1.0
    group_rows, summary_rows, resampled = [], [], {}
    for e, cols in zip(estimators, est_cols, strict=True):
        t = truth_col[e.model]
        estimate = e.finish(point[:, cols].copy(), design.group_fold)
        group_rows.append(_group_frame(design, e, estimate, point[:, t]))
        abs_error = np.abs(estimate - point[:, t])
        errors = np.abs(e.finish(boot[:, :, cols].copy(), design.group_fold) - boot[:, :, t])
        fold_boot = _fold_means(errors, member)
        row = _summary_row(e, abs_error, _fold_means(abs_error, member), member.sum(0),
                           fold_boot, fold_counts, design.n_target_ids)  # fmt: skip
        resampled[(e.model, e.name)] = _pooled(fold_boot, fold_counts * member.sum(0))
        summary_rows.append(row)
    summary = _ranked(pd.DataFrame(summary_rows))
    groups = pd.concat(group_rows, ignore_index=True) if group_rows else pd.DataFrame()
    return summary, groups, resampled


def _fold_means(errors: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Mean over each fold's groups of ``(..., G)`` errors -> ``(..., K)`` (NaN-aware)."""
    valid = np.isfinite(errors)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(valid, errors, 0.0) @ member) / (valid @ member)


def _pooled(fold_values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per resample: the MAE over its drawn folds, each weighted by its drawn groups."""
    valid = np.isfinite(fold_values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(valid, fold_values, 0.0) * weight).sum(-1) / (valid * weight).sum(-1)


def _ranked(summary: pd.DataFrame) -> pd.DataFrame:
    """Sorted by model, track, MAE; ``rank`` counts within (model, track)."""
    if summary.empty:
        return summary
    from iqalign.stats.estimation._design import TRACKS

    order = summary["track"].map({t: k for k, t in enumerate(TRACKS)})
    summary = (summary.assign(_track=order)
               .sort_values(["model", "_track", "MAE"], kind="stable")
               .drop(columns="_track").reset_index(drop=True))  # fmt: skip
    summary.insert(3, "rank", summary.groupby(["model", "track"]).cumcount() + 1)
    return summary


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def _group_frame(
    design: Design, e: Estimator, estimate: np.ndarray, truth: np.ndarray
) -> pd.DataFrame:
    frame = design.group_keys.copy()
    frame.insert(0, "track", e.track)
    frame.insert(0, "estimator", e.name)
    frame.insert(0, "model", e.model)
    frame["n_images"] = design.group_size
    frame["true_accuracy"] = truth
    frame["estimate"] = estimate
    frame["error"] = estimate - truth
    return frame


def _summary_row(
    e: Estimator, abs_error: np.ndarray, fold_mae: np.ndarray, fold_size: np.ndarray,
    fold_boot: np.ndarray, fold_counts: np.ndarray, n_ids: int,
) -> dict[str, Any]:  # fmt: skip
    _, corrected, low, high = mae_interval(fold_mae, fold_size, fold_boot, fold_counts, n_ids)
    return {
        "model": e.model, "track": e.track, "estimator": e.name, "kind": e.kind,
        "Q column": e.q_column, "Q from": e.q_source,
        # an estimator may have no estimate for some groups (ALine with too few usable
        # pairs): its errors are over the groups it estimates, and their count says so
        "n_groups": int(np.isfinite(abs_error).sum()),
        "MAE": _finite_mean(abs_error), "MAE_bias_corrected": corrected,
        "MAE_ci_low": low, "MAE_ci_high": high, "max_error": _finite_max(abs_error),
    }  # fmt: skip
