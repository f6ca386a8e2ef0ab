"""Set-level accuracy estimators: fitted on labelled source rows, applied to unlabelled sets.

A user with a classifier and a new batch of images (no labels) wants the accuracy to
expect. Each estimator here answers that for a *set* of images; per-image values are only
its ingredients:

- **AC**, average confidence: the mean max-softmax probability (MSP) of the target set.
- **DoC**, difference of confidences (Guillory et al. 2021): source accuracy minus the
  drop in average confidence, ``acc_S - (AC_S - AC_T)``.
- **ATC** (Garg et al. 2022): a threshold ``t`` on a confidence score, fitted on the source
  so that the fraction of source images scoring below ``t`` equals the source error; the
  estimate is the fraction of target images scoring at least ``t``. ATC-MC uses MSP,
  ATC-NE the negative entropy of the softmax.
- **DoC-reg** (Guillory et al. 2021, their regression variant): a least-squares line from a
  set's average confidence to its accuracy, fitted across several labelled shifted sets
  (equivalently: the accuracy drop regressed on the difference of confidences).
- **Q-mean**: a monotone (isotonic) map from a quality metric's *group mean* to group
  accuracy, fitted on several labelled source groups.
- **Q-dist**: a monotone (isotonic) map from a single image's Q to P(correct), fitted on
  labelled source images; the estimate is its mean over the target set, so it uses the
  whole distribution of Q in the set, not only its mean.

Every function here is pure numpy (scikit-learn's isotonic regression is imported where
it is fitted); :mod:`iqalign.stats.estimation.accuracy` runs them under an honest protocol.

Examples
--------
>>> source = np.array([0.2, 0.5, 0.7, 0.9]); correct = np.array([0, 1, 0, 1])
>>> t = fit_atc_threshold(source, correct)
>>> float(atc_estimate(source, t)), float(atc_estimate(np.array([0.1, 0.8]), t))
(0.5, 0.5)
>>> round(doc_estimate(source, correct, np.array([0.3, 0.4])), 3)
0.275
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LinearMap",
    "MonotoneMap",
    "atc_estimate",
    "atc_rank",
    "average_confidence",
    "doc_estimate",
    "fit_atc_threshold",
    "fit_linear_map",
    "fit_monotone_map",
    "negative_entropy",
]


def average_confidence(confidence: np.ndarray) -> float:
    """AC: the mean confidence (MSP) of the target set."""
    return float(np.mean(np.asarray(confidence, dtype=np.float64)))


def doc_estimate(
    source_confidence: np.ndarray, source_correct: np.ndarray, target_confidence: np.ndarray
) -> float:
    """DoC: ``source accuracy - (AC on source - AC on target)``."""
    offset = average_confidence(source_confidence) - float(np.mean(source_correct))
    return average_confidence(target_confidence) - offset


def fit_atc_threshold(source_score: np.ndarray, source_correct: np.ndarray) -> float:
    """ATC's threshold: ``mean(source_score < t) == source error`` (as nearly as ties allow).

    With ``k = round(error * n)`` (:func:`atc_rank`) the k lowest source scores fall below
    ``t``: ``t`` is the (k+1)-th smallest score, or just above the largest when every image
    is an error. This is the one ATC convention of iqalign: it satisfies Garg et al.'s
    defining equation on the source, so :func:`atc_estimate` on the source returns the
    source accuracy. (The authors' ``find_ATC_threshold`` returns the k-th smallest score
    instead, which ``>=`` then counts as one more source image above the threshold.)
    """
    ordered = np.sort(np.asarray(source_score, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("ATC needs at least one source image")
    k = atc_rank(float(np.mean(source_correct)), ordered.size)
    if k >= ordered.size:
        return float(np.nextafter(ordered[-1], np.inf))
    return float(ordered[k])


def atc_rank(accuracy: float, n: int) -> int:
    """How many of ``n`` source scores fall below ATC's threshold: ``round(error * n)``."""
    return round((1.0 - accuracy) * n)


def atc_estimate(target_score: np.ndarray, threshold: float) -> float:
    """ATC's estimate: the fraction of target images whose score is at least ``threshold``."""
    return float(np.mean(np.asarray(target_score, dtype=np.float64) >= threshold))


def negative_entropy(entropy: np.ndarray) -> np.ndarray:
    """ATC-NE's score from a stored softmax entropy (higher = more confident)."""
    return -np.asarray(entropy, dtype=np.float64)


@dataclass(frozen=True)
class MonotoneMap:
    """A fitted isotonic map, applied by linear interpolation, clipped at its ends
    (what scikit-learn's ``IsotonicRegression(out_of_bounds="clip").predict`` does)."""

    x: np.ndarray
    y: np.ndarray
    increasing: bool

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(values, dtype=np.float64), self.x, self.y)


def fit_monotone_map(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> MonotoneMap:
    """Isotonic regression of ``y`` on ``x``; its direction from the sign of Spearman's rho
    on the fitting data (as scikit-learn's ``increasing="auto"``), never from the metric
    name. Equal ``x`` are pooled first (weighted mean), as scikit-learn does.

    This is scikit-learn's ``IsotonicRegression(increasing="auto", out_of_bounds="clip")``
    (the tests check it against that) on scipy's PAVA: the protocol fits ~1,400 small maps,
    and scikit-learn's per-call validation cost 20 ms each.
    """
    from scipy.optimize import isotonic_regression

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    knots, where, ties = np.unique(x, return_inverse=True, return_counts=True)
    total = np.bincount(where, weights=w, minlength=knots.size)
    mean_y = np.bincount(where, weights=w * y, minlength=knots.size) / total
    increasing = _spearman_sign(_average_ranks(where, ties), y) >= 0
    fitted = isotonic_regression(mean_y, weights=total, increasing=increasing).x
    return MonotoneMap(knots, np.clip(fitted, 0.0, 1.0), increasing)


def _average_ranks(where: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Average ranks (as ``scipy.stats.rankdata``) from ``np.unique``'s inverse and counts."""
    return (np.cumsum(ties) - (ties - 1) / 2.0)[where]


def _spearman_sign(rank_x: np.ndarray, y: np.ndarray) -> float:
    """Sign of Spearman's rho (0 when undefined): Pearson's r of the ranks, numerator only."""
    if y.size < 2:
        return 0.0
    _, where_y, ties_y = np.unique(y, return_inverse=True, return_counts=True)
    rank_y = _average_ranks(where_y, ties_y)
    return float(np.sign(np.dot(rank_x - rank_x.mean(), rank_y - rank_y.mean())))


@dataclass(frozen=True)
class LinearMap:
    """``clip(intercept + slope * x, 0, 1)``: a fitted line, kept inside [0, 1]."""

    intercept: float
    slope: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.clip(self.intercept + self.slope * np.asarray(values, dtype=np.float64), 0, 1)


def fit_linear_map(x: np.ndarray, y: np.ndarray) -> LinearMap:
    """Ordinary least squares of ``y`` on ``x`` (one point per labelled set; DoC-reg).
    With a single distinct ``x`` the line is flat at the mean of ``y``.

    Examples
    --------
    >>> line = fit_linear_map(np.array([0.9, 0.7, 0.5]), np.array([0.8, 0.6, 0.4]))
    >>> round(line.intercept, 6), round(line.slope, 6), round(float(line(np.array([0.6]))[0]), 6)
    (-0.1, 1.0, 0.5)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx = x - x.mean()
    spread = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / spread if spread > 0 else 0.0
    return LinearMap(float(y.mean() - slope * x.mean()), slope)
