"""Estimators from several models' predictions: GDE and ALine-S / ALine-D, as builders.

Both need only the ``pred_*`` columns every run has (:mod:`iqalign.stats.estimation.label_free`
holds the estimators themselves, checked against their authors' code):

- **GDE** (Jiang et al. 2022) needs no label at all: model M's accuracy on a target set is
  its mean agreement with the run's other task models. Its ingredient is that agreement
  per target row, so its group mean *is* the estimate; it sits in the ``clean`` track
  (it saw less than any labelled estimator).
- **ALine-S / ALine-D** (Baek et al. 2022), with at least three task models: the probit
  line through the model pairs' (source, target) agreements, applied to each model's
  source accuracy (S) or solved over all pairs (D). The ingredient is every pair's
  agreement indicator per target row (``k`` columns); each fold's map holds the source
  side -- accuracies and agreements on the fold's labelled clean source rows (``clean``
  track) -- and turns a target group's mean agreements into the estimate, vectorised over
  groups and bootstrap resamples. A group whose usable pairs (agreement within the
  authors' ``(0.05, 0.98)``) are too few has no estimate (NaN), as in the authors' code.
"""

from __future__ import annotations

import numpy as np

from iqalign.stats.estimation._base import EstimationData, Estimator, FoldMap

__all__ = ["AGREEMENT_RANGE", "agreement_builder", "aline_from_agreements"]

#: The authors' default band of agreement rates a pair needs (finite probits).
AGREEMENT_RANGE = (0.05, 0.98)


def agreement_builder(data: EstimationData, model: str) -> list[Estimator]:
    """GDE (>= 2 task models) and ALine-S/D (>= 3) for task model ``model``."""
    slugs = list(data.models)
    if len(slugs) < 2:
        data.notes.append("GDE and ALine need several task models; this run has one")
        return []
    missing = [data.models[s].pred_column for s in slugs
               if data.models[s].pred_column not in data.frame.columns]  # fmt: skip
    if missing:
        data.notes.append(f"GDE and ALine need every task model's predictions; the table has "
                          f"no {', '.join(missing)}")  # fmt: skip
        return []
    preds = data.memo("predictions", lambda: _predictions(data, slugs))
    m = slugs.index(model)
    gde = np.mean([preds[m] == preds[j] for j in range(len(slugs)) if j != m], axis=0)
    found = [Estimator(model, "GDE", "clean", "agreement", data.at_pairs(("gde", model), gde),
                       q_source="several models")]  # fmt: skip
    if len(slugs) >= 3:
        found += _aline(data, slugs, preds, m, model)
    elif model == slugs[0]:
        data.notes.append("ALine needs at least three task models; this run has two")
    return found


def _predictions(data: EstimationData, slugs: list[str]) -> np.ndarray:
    return np.stack([data.frame[data.models[s].pred_column].to_numpy() for s in slugs])


def _aline(
    data: EstimationData, slugs: list[str], preds: np.ndarray, m: int, model: str
) -> list[Estimator]:
    i, j = np.triu_indices(len(slugs), 1)
    values = data.memo(("aline pairs",), lambda: (preds[i] == preds[j]).T[data.design.pair_row]
                       .astype(np.float64))  # fmt: skip
    maps_s: list[FoldMap] = []
    maps_d: list[FoldMap] = []
    for fold in range(data.design.n_folds):
        rows = data.fit_rows("clean", fold)
        accuracy = np.array([np.nanmean(data.labels(s)[rows]) for s in slugs])
        agreement = (preds[i][:, rows] == preds[j][:, rows]).mean(axis=1)
        maps_s.append(_map(accuracy, agreement, i, j, m, "S"))
        maps_d.append(_map(accuracy, agreement, i, j, m, "D"))
    return [
        Estimator(model, name, "clean", "agreement", values, maps, q_source="several models")
        for name, maps in (("ALine-S", maps_s), ("ALine-D", maps_d))
    ]


def _map(
    accuracy: np.ndarray, agreement: np.ndarray, i: np.ndarray, j: np.ndarray, m: int, which: str
) -> FoldMap:
    def fitted(means: np.ndarray) -> np.ndarray:
        return aline_from_agreements(accuracy, agreement, means, i, j)[which][..., m]

    return fitted


def aline_from_agreements(
    source_accuracy: np.ndarray, source_agreement: np.ndarray, target_agreement: np.ndarray,
    i: np.ndarray, j: np.ndarray, agreement_range: tuple[float, float] = AGREEMENT_RANGE,
) -> dict[str, np.ndarray]:  # fmt: skip
    """ALine-S and ALine-D from agreement rates, vectorised over target sets.

    ``source_accuracy``: ``(models,)``; ``source_agreement``: ``(pairs,)`` for the pairs
    ``(i[p], j[p])``; ``target_agreement``: ``(..., pairs)``, one row per target set.
    Returns ``{"S": (..., models), "D": (..., models)}`` -- the same numbers as
    :func:`iqalign.stats.estimation.label_free.aline_estimate` on each set's predictions (tested),
    NaN where a set has fewer than two usable pairs (or a model in none, for D).
    """
    from scipy.special import ndtr, ndtri

    low, high = agreement_range
    lead = target_agreement.shape[:-1]
    t = target_agreement.reshape(-1, target_agreement.shape[-1])
    keep = (source_agreement >= low) & (source_agreement <= high) & (t >= low) & (t <= high)
    x = np.where(keep, ndtri(source_agreement), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(keep, ndtri(np.clip(t, low, high)), 0.0)
        slope, bias = _masked_line(x, y, keep)
    probit_acc = ndtri(source_accuracy)
    aline_s = ndtr(slope[:, None] * probit_acc + bias[:, None])
    rhs = y + slope[:, None] * (0.5 * (probit_acc[i] + probit_acc[j]) - x)
    aline_d = ndtr(_pairwise_solve(rhs, keep, i, j, probit_acc.size))
    aline_d[~np.isfinite(slope)] = np.nan
    return {"S": aline_s.reshape(*lead, -1), "D": aline_d.reshape(*lead, -1)}


def _masked_line(x: np.ndarray, y: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row, least squares ``y = bias + slope x`` over the kept pairs (NaN if < 2 or flat)."""
    n = keep.sum(axis=1)
    mean_x = (x * keep).sum(axis=1) / n
    mean_y = (y * keep).sum(axis=1) / n
    dx = np.where(keep, x - mean_x[:, None], 0.0)
    sxx = (dx * dx).sum(axis=1)
    slope = (dx * (y - mean_y[:, None])).sum(axis=1) / sxx
    slope[(n < 2) | ~(sxx > 0)] = np.nan
    return slope, mean_y - slope * mean_x


def _pairwise_solve(
    rhs: np.ndarray, keep: np.ndarray, i: np.ndarray, j: np.ndarray, models: int
) -> np.ndarray:
    """Per row, the minimum-norm solution of ``(w_i + w_j) / 2 = rhs`` over kept pairs."""
    design = np.zeros((i.size, models))
    design[np.arange(i.size), i] = 0.5
    design[np.arange(i.size), j] = 0.5
    out = np.full((rhs.shape[0], models), np.nan)
    full = keep.all(axis=1)
    if full.any():  # the usual case at scale: one pseudo-inverse for every such row
        out[full] = rhs[full] @ np.linalg.pinv(design).T
    for row in np.flatnonzero(~full & keep.any(axis=1)):
        kept = keep[row]
        w = np.linalg.lstsq(design[kept], rhs[row, kept], rcond=None)[0]
        paired = np.bincount(np.concatenate([i[kept], j[kept]]), minlength=models) > 0
        out[row] = np.where(paired, w, np.nan)
    return out
