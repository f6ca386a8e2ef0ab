"""Confidence-based estimators of :mod:`iqalign.stats.estimation.accuracy`, on both tracks.

Every one reads the task model's own per-image max-softmax probability (MSP, the
``tg_maxprob`` quality column of that model) or its softmax entropy (``tg_entropy``):

- ``clean`` track (labelled clean source images only): AC (no fit at all), DoC, ATC-MC,
  ATC-NE;
- ``shifts`` track (also the labelled source corruptions other than the held-out one):
  ``DoC (all source)`` and ``ATC-MC / ATC-NE (all source)`` -- the same estimators fitted
  on every source row the fold may see -- and ``DoC-reg``, Guillory et al.'s (2021)
  regression of accuracy on average confidence across the labelled source shifts.

There is one ATC (:func:`~iqalign.stats.estimation.estimators.fit_atc_threshold`): the threshold
satisfying the paper's defining equation on the fitting rows, counted with ``>=``.
"""

from __future__ import annotations

import numpy as np

from iqalign.stats.estimation._base import EstimationData, Estimator, shift_map
from iqalign.stats.estimation._design import Design
from iqalign.stats.estimation.estimators import (
    atc_rank,
    fit_atc_threshold,
    fit_linear_map,
    negative_entropy,
)

__all__ = ["CONFIDENCE_METRIC", "ENTROPY_METRIC", "clean_confidence", "shifts_confidence"]

# What to score to get each ingredient (the notes say it); the columns are found by their
# role in the manifest (iqalign.scores.ROLES), never by these names.
CONFIDENCE_METRIC = "tg_maxprob"  # per-image MSP of a classifier
ENTROPY_METRIC = "tg_entropy"  # per-image softmax entropy of a classifier
MIN_REGRESSION_GROUPS = 3  # labelled source groups DoC-reg needs per fold


def _scores(data: EstimationData, model: str) -> dict[str, tuple[str, np.ndarray]]:
    """``{"MC": (column, MSP), "NE": (column, -entropy)}`` for what the run holds."""
    out = {}
    wanted = (("MC", "confidence", CONFIDENCE_METRIC, None),
              ("NE", "entropy", ENTROPY_METRIC, negative_entropy))  # fmt: skip
    for key, role, metric, transform in wanted:
        info = data.find_role(role, model)
        if info is None:
            data.notes.append(
                f"{model}: no per-image {metric} column of this model (score with {metric}), "
                f"so the {'AC, DoC, ' if key == 'MC' else ''}ATC-{key} estimators were skipped"
            )
            continue
        values = data.values(info.column, f"the confidence estimators of {model}")
        if values is not None:
            out[key] = (info.column, values if transform is None else transform(values))
    return out


def _cache_key(column: str, key: str) -> str | tuple[str, str]:
    """MSP is the column itself (shared with the Q-based estimators of that column);
    ATC-NE's score is the column negated."""
    return column if key == "MC" else (column, "negated")


def clean_confidence(data: EstimationData, model: str) -> list[Estimator]:
    """AC, DoC, ATC-MC, ATC-NE fitted on the source IDs' clean rows (``clean`` track)."""
    design = data.design
    fit = data.fit_rows("clean", 0)
    correct = data.labels(model)[fit]
    out: list[Estimator] = []
    for key, (column, score) in _scores(data, model).items():
        target = data.at_pairs(_cache_key(column, key), score)
        if key == "MC":
            offset = float(score[fit].mean() - correct.mean())
            out += [
                Estimator(model, "AC", "clean", "confidence", target, q_column=column),
                Estimator(model, "DoC", "clean", "confidence", target,
                          [shift_map(offset)] * design.n_folds, column),
            ]  # fmt: skip
        t = fit_atc_threshold(score[fit], correct)
        out.append(Estimator(model, f"ATC-{key}", "clean", "confidence",
                             (target >= t).astype(np.float64), q_column=column))  # fmt: skip
    return out


def shifts_confidence(data: EstimationData, model: str) -> list[Estimator]:
    """DoC and ATC fitted on all the fold's source rows, and DoC-reg (``shifts`` track)."""
    design = data.design
    labels = data.labels(model)
    out: list[Estimator] = []
    for key, (column, score) in _scores(data, model).items():
        target = data.at_pairs(_cache_key(column, key), score)
        thresholds = _fold_thresholds(data, _cache_key(column, key), score, labels)
        atc = (target >= thresholds[design.pair_fold]).astype(np.float64)
        out.append(Estimator(model, f"ATC-{key} (all source)", "shifts", "confidence", atc,
                             q_column=column))  # fmt: skip
        if key != "MC":
            continue
        count, mean_score, accuracy = _group_means(design, score, labels)
        offsets, lines = [], []
        for fold in range(design.n_folds):
            kept = (count > 0) & (design.fold_of_cs != fold)
            w = count[kept] / count[kept].sum()
            offsets.append(shift_map(float(w @ mean_score[kept] - w @ accuracy[kept])))
            if kept.sum() >= MIN_REGRESSION_GROUPS:
                lines.append(fit_linear_map(mean_score[kept], accuracy[kept]))
        out.append(Estimator(model, "DoC (all source)", "shifts", "confidence", target,
                             offsets, column))  # fmt: skip
        if len(lines) == design.n_folds:
            out.append(Estimator(model, "DoC-reg", "shifts", "confidence", target, lines, column))
        else:
            data.notes.append(f"{model}: DoC-reg needs >= {MIN_REGRESSION_GROUPS} labelled "
                              "source groups per fold, so it was skipped")  # fmt: skip
    return out


def _group_means(
    design: Design, score: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (corruption, severity) code: source rows, mean score and accuracy (the folds of
    the ``shifts`` track drop whole groups, so every fold's fit is a sum over these)."""
    source, n_cs = design.is_source, len(design.cs_keys)
    code = design.cs_code[source]
    count = np.bincount(code, minlength=n_cs).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(code, weights=score[source], minlength=n_cs) / count
        accuracy = np.bincount(code, weights=labels[source], minlength=n_cs) / count
    return count, mean_score, accuracy


def _fold_thresholds(
    data: EstimationData, key: str | tuple[str, str], score: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Per fold: :func:`~iqalign.stats.estimation.estimators.fit_atc_threshold` on the fold's source
    rows, computed from one sort of every source row (:class:`SortedSource`)."""
    ordered = data.sorted_source(key, score)
    hits = labels[ordered.rows]
    thresholds = np.empty(data.design.n_folds)
    for fold in range(data.design.n_folds):
        n = ordered.kept_size(fold)
        correct = ordered.kept_sum(fold, hits)
        k = atc_rank(correct / n, n)
        last = ordered.values[ordered.kept_positions(fold, np.array([min(k, n - 1)]))[0]]
        thresholds[fold] = float(np.nextafter(last, np.inf)) if k >= n else float(last)
    return thresholds
