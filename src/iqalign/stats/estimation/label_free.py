"""Label-free accuracy estimators from the literature, as pure numpy functions on arrays.

Each estimator predicts a classifier's accuracy on an unlabelled *target* set; whatever
it fits (a temperature, a regression, ALine's line) is fitted only on the *source*
arrays passed to it, which are always separate arguments:

==========================  ========================================  ====================
estimator                   function(s)                               needs
==========================  ========================================  ====================
GDE (Jiang et al. 2022)     :func:`gde_estimate`                      >= 2 models' classes
ALine-S / ALine-D           :func:`aline_estimate`                    >= 3 models, labelled
(Baek et al. 2022)                                                    source + target
TS-AC (Guo et al. 2017)     :func:`fit_temperature`,                  source log-probs +
                            :func:`temperature_scaled_ac`             labels; target
Nuclear norm (Deng et al.   :func:`nuclear_norm_score` +              target log-probs;
2023)                       :func:`fit_linear_map`                    source groups' acc.
COT (Lu et al. 2023)        :func:`cot_estimate`, :func:`cot_error`   target log-probs,
                                                                      source labels
MaNo (Xie et al. 2024)      :func:`mano_normalisation`,               logits (see there);
                            :func:`mano_score` +                      source groups' acc.
                            :func:`fit_linear_map`
==========================  ========================================  ====================

Inputs: per-image log-softmax arrays ``(N, K)`` (float16/32/64; rows are renormalised by
a softmax, so logits work too, except for MaNo's Taylor branch), predicted classes as
``(models, N)`` integer arrays, labels as ``(N,)`` integers. Bad input raises
:class:`~iqalign.errors.ScoresTableError` (shapes, dtypes, non-finite values),
:class:`~iqalign.errors.DegenerateDataError` (too few models, no usable pair) or
:class:`~iqalign.errors.ParameterError` (settings). Every function reads large arrays in
row blocks; the cost of one call at 50,000 x 1,000 is given in its docstring (measured on
2 shared CPU cores). The tests check each function against a transcription of its
authors' released code (``tests/stats/test_label_free.py``).

Examples
--------
>>> preds = np.array([[0, 1, 1, 2], [0, 1, 2, 2], [0, 0, 1, 2]])
>>> gde_estimate(preds).round(3).tolist()
[0.75, 0.625, 0.625]
>>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1]]))
>>> round(nuclear_norm_score(logp), 4)
0.6137
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iqalign.errors import DegenerateDataError, ParameterError
from iqalign.stats.estimation._label_free_inputs import (
    check_labels,
    check_log_probs,
    check_predictions,
    check_range,
    need_models,
    row_blocks,
    softmax_rows,
)

__all__ = [
    "ALineResult",
    "LinearMap",
    "aline_estimate",
    "cot_error",
    "cot_estimate",
    "cot_label_counts",
    "fit_linear_map",
    "fit_temperature",
    "gde_estimate",
    "mano_criterion",
    "mano_normalisation",
    "mano_score",
    "nuclear_norm_score",
    "pairwise_agreement",
    "temperature_nll",
    "temperature_scaled_ac",
]

# ------------------------------------------------------------------ agreement: GDE, ALine

_NO_CLASS_LIMIT = np.iinfo(np.int64).max  # ALine compares labels, never indexes by them


def pairwise_agreement(predictions: np.ndarray) -> np.ndarray:
    """Fraction of images on which each pair of models predicts the same class.

    Parameters
    ----------
    predictions : ndarray of int, shape (models, N)
        Predicted classes, one row per model, the same images in the same order.

    Returns
    -------
    ndarray of float, shape (models, models)
        Symmetric, ones on the diagonal. Cost: ``models**2 / 2`` comparisons of N values
        (10 models x 50,000 images: about 10 ms).

    Examples
    --------
    >>> pairwise_agreement(np.array([[0, 1, 2, 2], [0, 1, 1, 2]])).tolist()
    [[1.0, 0.75], [0.75, 1.0]]
    """
    pred = check_predictions(predictions, "predictions")
    m, n = pred.shape
    out = np.eye(m)
    for i in range(m - 1):
        same = np.count_nonzero(pred[i + 1 :] == pred[i], axis=1) / n
        out[i, i + 1 :] = same
        out[i + 1 :, i] = same
    return out


def gde_estimate(target_predictions: np.ndarray) -> np.ndarray:
    """GDE: a model's accuracy on the target = 1 - its disagreement rate with another model.

    Jiang, Nagarajan, Baek & Kolter (2022), "Assessing Generalization of SGD via
    Disagreement", ICLR: for an ensemble that is well calibrated on the target, the test
    error of model A equals the expected rate at which A and an independently trained B
    disagree (the generalization disagreement equality). Only predicted classes are
    needed, no labels and no source data. With two models this is the authors' estimate
    for each; with more, each model's estimate is the **mean over all its partners** of
    ``1 - disagreement``, i.e. its mean pairwise agreement.

    Parameters
    ----------
    target_predictions : ndarray of int, shape (models, N)
        Predicted classes of at least 2 models on the same target images.

    Returns
    -------
    ndarray of float, shape (models,)
        The accuracy estimate of each model. Cost: as :func:`pairwise_agreement`.

    Examples
    --------
    >>> gde_estimate(np.array([[0, 1, 2, 2], [0, 1, 1, 2]])).tolist()
    [0.75, 0.75]
    """
    agree = pairwise_agreement(target_predictions)
    need_models(agree.shape[0], 2, "GDE")
    return (agree.sum(axis=1) - 1.0) / (agree.shape[0] - 1)


@dataclass(frozen=True)
class ALineResult:
    """ALine's estimates for each model and the fitted line.

    ``aline_s`` and ``aline_d`` hold one accuracy estimate per model (NaN in ``aline_d``
    for a model in no usable pair); ``slope`` and ``bias`` are the probit-scale line
    ``probit(agreement_target) = slope * probit(agreement_source) + bias``; ``pairs`` are
    the ``(i, j)`` model pairs whose agreements passed ``agreement_range``.
    """

    aline_s: np.ndarray
    aline_d: np.ndarray
    slope: float
    bias: float
    pairs: np.ndarray


def aline_estimate(
    source_predictions: np.ndarray,
    source_labels: np.ndarray,
    target_predictions: np.ndarray,
    *,
    agreement_range: tuple[float, float] = (0.05, 0.98),
) -> ALineResult:
    """ALine-S and ALine-D: accuracy on the target from agreement-on-the-line.

    Baek, Jiang, Raghunathan & Kolter (2022), "Agreement-on-the-line: Predicting the
    Performance of Neural Networks under Distribution Shift", NeurIPS. When ID vs OOD
    accuracy of a family of models lies on a line in probit scale, so does their pairwise
    agreement, with the same slope and bias. The line is fitted by least squares on the
    model pairs' probit agreements (source vs target; no target label is used).

    - **ALine-S**: ``Phi(slope * probit(acc_source) + bias)``.
    - **ALine-D**: for every pair ``(i, j)``, ``(probit acc_T(i) + probit acc_T(j)) / 2 =
      probit agr_T(i, j) + slope * ((probit acc_S(i) + probit acc_S(j)) / 2 - probit
      agr_S(i, j))``; the system over all pairs is solved by minimum-norm least squares.

    As the authors' code (``aline`` in ``agreement_trajectory.ipynb`` of
    ``kebaek/Agreement-on-the-line``), only pairs whose source *and* target agreement lie
    in ``agreement_range`` (inclusive) enter, keeping the probit finite (a model is never
    paired with itself; the notebook's self-pairs, agreement 1, fall to its 0.98 bound),
    and an under-determined ALine-D system gets the minimum-norm solution. Two deliberate
    differences: ALine-S is returned on the accuracy scale (the notebook returns the
    probit value without ``Phi``), and a model in no usable pair gets NaN in ALine-D (the
    least-squares solution there is 0, i.e. a meaningless 0.5).

    Parameters
    ----------
    source_predictions : ndarray of int, shape (models, N_source)
        Predicted classes of >= 3 models on the labelled source images.
    source_labels : ndarray of int, shape (N_source,)
        The source images' labels.
    target_predictions : ndarray of int, shape (models, N_target)
        The same models' predicted classes on the target images, in the same order.
    agreement_range : (float, float)
        The closed interval of agreement rates a pair needs on both sets.

    Returns
    -------
    ALineResult
        Cost: two :func:`pairwise_agreement` calls (10 models x 50,000 images: ~20 ms).

    Examples
    --------
    >>> labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    >>> src = np.array([[0, 1, 2, 0, 1, 2, 1, 1], [0, 1, 2, 0, 2, 2, 1, 0],
    ...                 [0, 1, 0, 1, 1, 2, 0, 0], [1, 1, 2, 0, 1, 0, 0, 1]])
    >>> tgt = np.array([[0, 1, 2, 2], [0, 2, 2, 1], [0, 0, 2, 2], [1, 1, 0, 2]])
    >>> result = aline_estimate(src, labels, tgt, agreement_range=(0.01, 0.99))
    >>> result.aline_s.round(3).tolist()
    [0.65, 0.528, 0.528, 0.581]
    """
    bounds = _agreement_range(agreement_range)
    return _aline(*_aline_inputs(source_predictions, source_labels, target_predictions), bounds)


def _aline_inputs(
    source_predictions: np.ndarray, source_labels: np.ndarray, target_predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = check_predictions(source_predictions, "source_predictions")
    tgt = check_predictions(target_predictions, "target_predictions", n_models=src.shape[0])
    need_models(src.shape[0], 3, "ALine")
    labels = check_labels(
        source_labels, src.shape[1], _NO_CLASS_LIMIT, "source_labels", "source_predictions"
    )
    return src, labels, tgt


def _aline(src: np.ndarray, labels: np.ndarray, tgt: np.ndarray, bounds: tuple) -> ALineResult:
    """ALine on checked inputs: pairs in ``bounds``, the probit line, ALine-S and ALine-D."""
    from scipy.special import ndtr, ndtri

    probit_acc = ndtri(_source_accuracy(src, labels))
    agree_s, agree_t = pairwise_agreement(src), pairwise_agreement(tgt)
    i, j = np.triu_indices(src.shape[0], 1)
    a_s, a_t = agree_s[i, j], agree_t[i, j]
    low, high = bounds
    keep = (a_s >= low) & (a_s <= high) & (a_t >= low) & (a_t <= high)
    i, j, x, y = i[keep], j[keep], ndtri(a_s[keep]), ndtri(a_t[keep])
    bias, slope = _probit_line(x, y, bounds)
    rhs = y + slope * (0.5 * (probit_acc[i] + probit_acc[j]) - x)
    return ALineResult(
        aline_s=ndtr(slope * probit_acc + bias),
        aline_d=ndtr(_pairwise_least_squares(i, j, rhs, src.shape[0])),
        slope=slope,
        bias=bias,
        pairs=np.column_stack([i, j]),
    )


def _agreement_range(agreement_range: tuple[float, float]) -> tuple[float, float]:
    if not (isinstance(agreement_range, tuple | list) and len(agreement_range) == 2):
        raise ParameterError(f"agreement_range must be (low, high), got {agreement_range!r}")
    low = check_range(agreement_range[0], "agreement_range[0]", 0.0, 1.0, "an agreement rate")
    high = check_range(agreement_range[1], "agreement_range[1]", low, 1.0, "above its low end")
    return low, high


def _source_accuracy(src: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each model's source accuracy; strictly between 0 and 1 (ALine takes its probit)."""
    acc = np.count_nonzero(src == labels, axis=1) / src.shape[1]
    extreme = np.flatnonzero((acc <= 0.0) | (acc >= 1.0))
    if extreme.size:
        raise DegenerateDataError(
            f"ALine takes the probit of each model's source accuracy, but model(s) "
            f"{extreme.tolist()} have accuracy {acc[extreme].tolist()} on the "
            f"{src.shape[1]} source images; use more source images (or drop those models)"
        )
    return acc


def _probit_line(x: np.ndarray, y: np.ndarray, agreement_range: object) -> tuple[float, float]:
    """Ordinary least squares ``y = bias + slope * x`` (statsmodels' OLS with a constant)."""
    if x.size < 2 or np.ptp(x) == 0.0:
        raise DegenerateDataError(
            f"ALine fits its line on model pairs whose source and target agreement lie in "
            f"agreement_range={agreement_range!r}; {x.size} pair(s) did, with "
            f"{np.unique(x).size} distinct source agreement(s): at least 2 are needed. Use "
            "more (or more diverse) models, or larger target sets"
        )
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return float(y.mean() - slope * x.mean()), slope


def _pairwise_least_squares(i: np.ndarray, j: np.ndarray, rhs: np.ndarray, m: int) -> np.ndarray:
    """Minimum-norm solution of ``(w_i + w_j) / 2 = rhs`` over pairs; NaN for unpaired models."""
    design = np.zeros((i.size, m))
    rows = np.arange(i.size)
    design[rows, i] = 0.5
    design[rows, j] = 0.5
    w = np.linalg.lstsq(design, rhs, rcond=None)[0]
    w[np.bincount(np.concatenate([i, j]), minlength=m) == 0] = np.nan
    return w


# ------------------------------------------------------------------ temperature scaling


def temperature_nll(log_probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the labels under ``softmax(log_probs / temperature)``.

    The objective of :func:`fit_temperature` (PyTorch's ``CrossEntropyLoss`` of
    ``logits / T``; log-softmax values give the same value as logits, since a row shift
    cancels).

    Parameters
    ----------
    log_probs : ndarray of float, shape (N, K)
        Per-image log-softmax values (or logits).
    labels : ndarray of int, shape (N,)
        The images' labels.
    temperature : float
        ``T > 0``.

    Returns
    -------
    float

    Examples
    --------
    >>> logp = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(temperature_nll(logp, np.array([0, 0]), 1.0), 4)
    0.3993
    """
    z = check_log_probs(log_probs, "log_probs")
    y = check_labels(labels, z.shape[0], z.shape[1], "labels", "log_probs")
    t = _temperature(temperature)
    return _nll_terms(z, y, 1.0 / t)[0]


def fit_temperature(
    source_log_probs: np.ndarray,
    source_labels: np.ndarray,
    *,
    temperature_range: tuple[float, float] = (0.01, 100.0),
) -> float:
    """The temperature that minimises the source NLL (temperature scaling).

    Guo, Pleiss, Sun & Weinberger (2017), "On Calibration of Modern Neural Networks",
    ICML: ``T = argmin_T mean_i -log softmax(z_i / T)[y_i]`` on held-out labelled data.
    The authors' code (``gpleiss/temperature_scaling``, ``temperature_scaling.py``,
    ``ModelWithTemperature.set_temperature``) runs L-BFGS from ``T = 1.5`` with
    ``lr=0.01, max_iter=200``, which stops short of the minimum (the tests show it);
    here the NLL, convex in ``1/T``, is minimised exactly by safeguarded Newton steps
    in ``1/T``. When the minimum lies outside ``temperature_range`` (e.g. every source
    image right with a margin: the NLL keeps falling as ``T -> 0``) the nearer end is
    returned.

    Parameters
    ----------
    source_log_probs : ndarray of float, shape (N_source, K)
        Log-softmax values (or logits) of labelled source images (e.g. clean ones).
    source_labels : ndarray of int, shape (N_source,)
        Their labels.
    temperature_range : (float, float)
        Bounds of the search, ``0 < low < high``.

    Returns
    -------
    float
        ``T``. Cost: about ten passes over the source array (50,000 x 1,000: ~10 s).

    Examples
    --------
    >>> logp = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))
    >>> round(fit_temperature(logp, np.array([0, 0, 0, 1])), 4)
    1.4406
    """
    z = check_log_probs(source_log_probs, "source_log_probs")
    y = check_labels(source_labels, z.shape[0], z.shape[1], "source_labels", "source_log_probs")
    t_low, t_high = _temperature_range(temperature_range)
    lo, hi = 1.0 / t_high, 1.0 / t_low  # the search runs over beta = 1 / T
    if _nll_terms(z, y, lo)[1] >= 0.0:
        return t_high
    if _nll_terms(z, y, hi)[1] <= 0.0:
        return t_low
    return 1.0 / _newton_beta(z, y, lo, hi)


def _newton_beta(z: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Root of d NLL / d beta in ``(lo, hi)`` (increasing there): Newton, else bisection."""
    beta = min(max(1.0, lo), hi)
    for _ in range(200):
        _, grad, hess = _nll_terms(z, y, beta)
        if grad == 0.0:
            return beta
        lo, hi = (lo, beta) if grad > 0.0 else (beta, hi)
        step = grad / hess if hess > 0.0 else math.inf
        new = beta - step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - beta) <= 1e-14 * beta or hi - lo <= 1e-15 * hi:
            return new
        beta = new
    return beta


def _nll_terms(z: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float, float]:
    """NLL of ``softmax(beta * z)`` and its first two derivatives in beta (row means)."""
    nll = grad = hess = 0.0
    for rows in row_blocks(*z.shape):
        zb = np.array(z[rows], dtype=np.float64)
        a = beta * zb
        top = a.max(axis=1, keepdims=True)
        e = np.exp(a - top)
        total = e.sum(axis=1)
        first = np.einsum("ij,ij->i", e, zb) / total
        second = np.einsum("ij,ij,ij->i", e, zb, zb) / total
        picked = zb[np.arange(zb.shape[0]), y[rows]]
        nll += float(np.sum(np.log(total) + top[:, 0] - beta * picked))
        grad += float(np.sum(first - picked))
        hess += float(np.sum(np.maximum(second - first * first, 0.0)))
    n = z.shape[0]
    return nll / n, grad / n, hess / n


def _temperature(temperature: object) -> float:
    ok = isinstance(temperature, int | float | np.floating) and not isinstance(temperature, bool)
    if not ok or not (0.0 < float(temperature) < math.inf):  # type: ignore[arg-type]
        raise ParameterError(
            f"temperature must be a finite number > 0 (it divides the logits), got "
            f"{temperature!r}; fit one with fit_temperature(source_log_probs, source_labels)"
        )
    return float(temperature)  # type: ignore[arg-type]


def _temperature_range(bounds: object) -> tuple[float, float]:
    if not (isinstance(bounds, tuple | list) and len(bounds) == 2):
        raise ParameterError(f"temperature_range must be (low, high), got {bounds!r}")
    low, high = _temperature(bounds[0]), _temperature(bounds[1])
    if not low < high:
        raise ParameterError(f"temperature_range must have low < high, got {bounds!r}")
    return low, high


def temperature_scaled_ac(target_log_probs: np.ndarray, temperature: float) -> float:
    """TS-AC: the target's mean max-softmax after temperature scaling.

    Average confidence (Hendrycks & Gimpel 2017) of the temperature-scaled softmax
    ``softmax(z / T)`` (Guo et al. 2017), with ``T`` from :func:`fit_temperature` on the
    source: ``mean_i max_k softmax(z_i / T)_k``.

    Parameters
    ----------
    target_log_probs : ndarray of float, shape (N, K)
        Target log-softmax values (or logits).
    temperature : float
        ``T > 0``, fitted on the source.

    Returns
    -------
    float
        The accuracy estimate. Cost: one pass (50,000 x 1,000: ~1 s).

    Examples
    --------
    >>> logp = np.log(np.array([[0.9, 0.1], [0.6, 0.4]]))
    >>> round(temperature_scaled_ac(logp, 1.0), 4), round(temperature_scaled_ac(logp, 2.0), 4)
    (0.75, 0.6503)
    """
    z = check_log_probs(target_log_probs, "target_log_probs")
    scale = 1.0 / _temperature(temperature)
    total = 0.0
    for rows in row_blocks(*z.shape):
        a = np.array(z[rows], dtype=np.float64) * scale
        a -= a.max(axis=1, keepdims=True)
        total += float(np.sum(1.0 / np.exp(a).sum(axis=1)))
    return total / z.shape[0]


# ------------------------------------------------------------------ score -> accuracy map


@dataclass(frozen=True)
class LinearMap:
    """``accuracy = slope * score + intercept``, clipped to ``[0, 1]`` when applied."""

    slope: float
    intercept: float

    def __call__(self, score: float | np.ndarray) -> float | np.ndarray:
        out = np.clip(self.slope * np.asarray(score, dtype=np.float64) + self.intercept, 0, 1)
        return float(out) if out.ndim == 0 else out


def fit_linear_map(scores: np.ndarray, accuracies: np.ndarray) -> LinearMap:
    """Least-squares line from a set-level score to accuracy, fitted on labelled source sets.

    Deng et al. (2023) and Xie et al. (2024) turn a score (:func:`nuclear_norm_score`,
    :func:`mano_score`) into an accuracy with a linear regression fitted on many labelled
    synthetic shifted sets. Here the fitting sets are *source* groups (e.g. the source
    images' clean set and their other corruptions), one score and one accuracy each.

    Parameters
    ----------
    scores : ndarray of float, shape (groups,)
        One score per labelled source group (>= 2 distinct values).
    accuracies : ndarray of float, shape (groups,)
        The groups' accuracies.

    Returns
    -------
    LinearMap

    Examples
    --------
    >>> line = fit_linear_map(np.array([0.2, 0.4, 0.6]), np.array([0.3, 0.5, 0.7]))
    >>> round(line.slope, 6), round(line.intercept, 6), round(line(0.5), 6)
    (1.0, 0.1, 0.6)
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(accuracies, dtype=np.float64)
    if x.ndim != 1 or y.shape != x.shape or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ParameterError(
            f"scores and accuracies must be finite 1-D arrays of one value per source "
            f"group, got shapes {x.shape} and {y.shape}"
        )
    if np.unique(x).size < 2:
        raise DegenerateDataError(
            f"a linear map needs at least 2 source groups with different scores, got "
            f"{np.unique(x).size} distinct score(s); add labelled source groups"
        )
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return LinearMap(slope=slope, intercept=float(y.mean() - slope * x.mean()))


# ------------------------------------------------------------------ nuclear norm


def nuclear_norm_score(target_log_probs: np.ndarray, *, exact: bool = False) -> float:
    """Normalised nuclear norm of the target's softmax prediction matrix.

    Deng, Suh, Gould & Zheng (2023), "Confidence and Dispersity Speak: Characterising
    Prediction Matrix for Unsupervised Accuracy Estimation", ICML: with ``P`` the
    ``N x K`` softmax matrix, the score is ``||P||_* / sqrt(N * min(N, K))`` (in
    ``[0, 1]``; high when predictions are both confident and spread over classes). It is
    mapped to accuracy by a linear regression fitted on labelled sets: use
    :func:`fit_linear_map` on source groups' scores and accuracies.

    The singular values come from the eigenvalues of the smaller Gram matrix
    (``P^T P``, accumulated in row blocks, or ``P P^T``); eigenvalues below the Gram's
    rounding level (``size * eps * largest``) count as zero. This agrees with a direct SVD
    to about ``1e-10`` relative unless ``P`` is very ill-conditioned; ``exact=True``
    takes the SVD of ``P`` itself (50,000 x 1,000: ~40 s and 400 MB).

    Parameters
    ----------
    target_log_probs : ndarray of float, shape (N, K)
        Target log-softmax values (or logits; rows are renormalised).
    exact : bool
        Use a direct SVD instead of the Gram matrix.

    Returns
    -------
    float
        The score. Cost: 50,000 x 1,000: ~3 s (one ``K x K`` Gram product).

    Examples
    --------
    >>> round(nuclear_norm_score(np.log(np.eye(3) * 0.98 + 0.01)), 4)
    0.9802
    """
    z = check_log_probs(target_log_probs, "target_log_probs")
    n, k = z.shape
    if exact:
        sv = np.linalg.svd(softmax_rows(z), compute_uv=False)
    else:
        sv = _singular_values_from_gram(z)
    return float(np.sum(sv) / math.sqrt(n * min(n, k)))


def _singular_values_from_gram(z: np.ndarray) -> np.ndarray:
    n, k = z.shape
    if n < k:
        p = softmax_rows(z)
        gram = p @ p.T
    else:
        gram = np.zeros((k, k))
        for rows in row_blocks(n, k):
            p = softmax_rows(z[rows])
            gram += p.T @ p
    eig = np.linalg.eigvalsh(gram)
    eig[eig <= gram.shape[0] * np.finfo(np.float64).eps * eig[-1]] = 0.0
    return np.sqrt(eig)


# ------------------------------------------------------------------ MaNo

_MANO_NORMALISATIONS = ("softmax", "taylor")


def mano_criterion(logits: np.ndarray) -> float:
    """MaNo's calibration criterion: mean cross-entropy between the softmax and uniform.

    ``mean_i -(1/K) sum_k log softmax(z_i)_k`` (``F.cross_entropy(logits, uniform)`` in
    the authors' code, ``uniform_cross_entropy`` of ``algs/mano.py`` in
    ``Renchunzi-Xie/MaNo``); large when predictions are confident. The same value from
    logits or log-softmax values.

    Parameters
    ----------
    logits : ndarray of float, shape (N, K)

    Returns
    -------
    float

    Examples
    --------
    >>> round(mano_criterion(np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))), 4)
    0.9486
    """
    z = check_log_probs(logits, "logits", what="logits")
    total = 0.0
    for rows in row_blocks(*z.shape):
        zb = np.array(z[rows], dtype=np.float64)
        top = zb.max(axis=1)
        lse = np.log(np.exp(zb - top[:, None]).sum(axis=1)) + top
        total += float(np.sum(lse - zb.mean(axis=1)))
    return total / z.shape[0]


def mano_normalisation(source_logits: np.ndarray, *, threshold: float = 5.0) -> str:
    """MaNo's choice of normalisation: ``"softmax"`` if the criterion exceeds ``threshold``.

    Xie et al. (2024) use the softmax when :func:`mano_criterion` ``> threshold`` (5 in
    ``algs/mano.py`` of ``Renchunzi-Xie/MaNo``) and the second-order Taylor
    normalisation otherwise. The released code computes the criterion on the evaluated
    (shifted) data -- ``main.py`` on the first shifted set, ``uniform_cross_entropy``
    on its fifth batch only. Here it is computed on the *source* and the choice is kept
    for every target set, so that one :class:`LinearMap` applies to all their scores.

    Parameters
    ----------
    source_logits : ndarray of float, shape (N_source, K)
        Source logits (or log-softmax values: the criterion is the same).
    threshold : float

    Returns
    -------
    str
        ``"softmax"`` or ``"taylor"``.

    Examples
    --------
    >>> mano_normalisation(np.array([[9.0, 0.0, 0.0]])), mano_normalisation(np.zeros((1, 3)))
    ('softmax', 'taylor')
    """
    level = check_range(threshold, "threshold", 0.0, math.inf, "a cross-entropy level")
    return "softmax" if mano_criterion(source_logits) > level else "taylor"


def mano_score(
    target_logits: np.ndarray,
    normalisation: str,
    *,
    p: float = 4.0,
    batch_size: int | None = None,
) -> float:
    """MaNo: the normalised entry-wise L_p norm of the target's normalised logits.

    Xie, Odonnat, Feofanov, Deng, Zhang & An (2024), "MaNo: Exploiting Matrix Norm for
    Unsupervised Accuracy Estimation Under Distribution Shifts", NeurIPS: each row
    ``z_i`` is mapped to the simplex by ``sigma`` -- the softmax, or the Taylor
    normalisation ``t = 1 + z + z**2 / 2``, ``t - min(t)``, divided by its L1 norm -- and
    the score is ``(mean_ik sigma(z_i)_k ** p) ** (1 / p) = ||sigma(Z)||_p / (N K)**(1/p)``
    (``p = 4`` in the authors' scripts). Map it to accuracy with :func:`fit_linear_map`.

    The Taylor branch is *not* invariant to a row shift: the paper and the code apply it
    to logits, and log-softmax values give a different score. ``batch_size`` reproduces
    the released code (``MaNo.evaluate``), which averages the scores of consecutive
    batches (its loader shuffles; batches are taken here in the given order);
    ``None`` (default) scores the whole set, as the paper's formula.

    Parameters
    ----------
    target_logits : ndarray of float, shape (N, K)
    normalisation : {"softmax", "taylor"}
        From :func:`mano_normalisation` on the source.
    p : float
        Order of the norm, ``>= 1``.
    batch_size : int or None

    Returns
    -------
    float
        The score, in ``[0, 1]``. Cost: one pass (50,000 x 1,000: ~1 s).

    Examples
    --------
    >>> z = np.array([[2.0, 0.0, -1.0], [0.5, 0.4, 0.0]])
    >>> round(mano_score(z, "softmax"), 4), round(mano_score(z, "taylor"), 4)
    (0.5509, 0.6032)
    """
    z = check_log_probs(target_logits, "target_logits", what="logits")
    if normalisation not in _MANO_NORMALISATIONS:
        raise ParameterError(
            f"normalisation must be one of {_MANO_NORMALISATIONS}, got {normalisation!r}; "
            "choose it with mano_normalisation(source_logits)"
        )
    order = check_range(p, "p", 1.0, math.inf, "the order of the matrix norm")
    if batch_size is None:
        return _mano_mean_power(z, normalisation, order) ** (1.0 / order)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be None or an integer >= 1, got {batch_size!r}")
    scores = [
        _mano_mean_power(z[s : s + batch_size], normalisation, order) ** (1.0 / order)
        for s in range(0, z.shape[0], batch_size)
    ]
    return float(np.mean(scores))


def _mano_mean_power(z: np.ndarray, normalisation: str, order: float) -> float:
    """``mean_ik sigma(z_i)_k ** order`` over the rows of ``z``."""
    total = 0.0
    for rows in row_blocks(*z.shape):
        if normalisation == "softmax":
            s = softmax_rows(z[rows])
        else:
            zb = np.array(z[rows], dtype=np.float64)
            s = 1.0 + zb + zb * zb / 2.0
            s -= s.min(axis=1, keepdims=True)
            s /= np.maximum(s.sum(axis=1, keepdims=True), 1e-12)  # F.normalize(p=1)
        total += float(np.sum(s**4 if order == 4.0 else s**order))
    return total / z.size


# ------------------------------------------------------------------ COT


def cot_label_counts(marginal: np.ndarray, n: int) -> np.ndarray:
    """``n`` one-hot labels spread over classes as ``marginal``: largest-remainder counts.

    ``floor(n * marginal)`` per class, the remaining labels to the largest remainders
    (ties to the lower class). The authors' ``sample_label_dist``
    (``torch_datasets/configs.py`` of ``luyuzhe111/COT``) draws the remainder at random
    instead; both agree whenever ``n * marginal`` is whole.

    Parameters
    ----------
    marginal : ndarray of float, shape (K,)
        Class proportions (non-negative, summing to 1).
    n : int
        The number of labels (>= 1).

    Returns
    -------
    ndarray of int, shape (K,)
        Counts summing to ``n``.

    Examples
    --------
    >>> cot_label_counts(np.array([0.5, 0.3, 0.2]), 7).tolist()
    [4, 2, 1]
    """
    pi = np.asarray(marginal, dtype=np.float64)
    if pi.ndim != 1 or pi.size < 2 or (pi < 0).any() or not math.isclose(pi.sum(), 1.0):
        raise ParameterError(
            f"marginal must be a 1-D array of >= 2 non-negative class proportions summing "
            f"to 1, got shape {pi.shape} and sum {pi.sum():.6g}"
        )
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    exact = pi * n
    counts = np.floor(exact).astype(np.int64)
    left = int(n - counts.sum())
    if left > 0:
        counts[np.argsort(-(exact - counts), kind="stable")[:left]] += 1
    return counts


def cot_error(
    target_log_probs: np.ndarray, label_counts: np.ndarray, *, temperature: float = 1.0
) -> float:
    """COT's error estimate: the exact optimal-transport cost to one-hot source labels.

    Lu, Wang, Zhao & Wang (2023), "Characterizing Out-of-Distribution Error via Optimal
    Transport", NeurIPS: the ``N`` softmax vectors ``p_i`` and ``N`` one-hot vectors
    ``e_y`` (``label_counts[y]`` of class ``y``) are matched by optimal transport under
    the cost ``||p_i - e_y||_1 / 2 = 1 - p_iy``; the error estimate is the mean cost.
    With uniform weights on two sets of ``N`` points the optimal plan is a permutation,
    so the authors' ``ot.emd`` (``run_estimation.py`` of ``luyuzhe111/COT``) solves an
    assignment problem; here it is solved exactly on the K classes by successive
    shortest paths (:mod:`iqalign.stats.estimation._cot_transport`; the tests compare it with
    ``scipy.optimize.linear_sum_assignment`` on the ``N x N`` problem).

    Parameters
    ----------
    target_log_probs : ndarray of float, shape (N, K)
        Target log-softmax values (or logits). The authors calibrate first: pass the
        source-fitted :func:`fit_temperature` as ``temperature``.
    label_counts : ndarray of int, shape (K,)
        How many one-hot labels of each class; they sum to ``N``.
    temperature : float
        Divides the log-probabilities before the softmax.

    Returns
    -------
    float
        The error estimate in ``[0, 1]``. Cost at 50,000 x 1,000: ~5 s when the
        predictions spread over the classes, ~75 s when one class takes them all (one
        shortest-path search per image of excess over the label counts); 1 GB peak
        (the float64 softmax matrix and its copies).

    Examples
    --------
    >>> logp = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]))
    >>> round(cot_error(logp, np.array([2, 1])), 4)
    0.2333
    """
    from iqalign.stats.estimation._cot_transport import assign_to_labels

    z = check_log_probs(target_log_probs, "target_log_probs")
    counts = np.asarray(label_counts)
    if (
        counts.shape != (z.shape[1],)
        or not np.issubdtype(counts.dtype, np.integer)
        or (counts < 0).any()
        or counts.sum() != z.shape[0]
    ):
        raise ParameterError(
            f"label_counts must be {z.shape[1]} non-negative integers (one per class) "
            f"summing to the {z.shape[0]} rows of target_log_probs; build them with "
            "cot_label_counts(source_marginal, n_rows)"
        )
    probs = softmax_rows(z, 1.0 / _temperature(temperature))
    assign = assign_to_labels(probs, counts)
    return float(np.mean(1.0 - probs[np.arange(z.shape[0]), assign]))


def cot_estimate(
    target_log_probs: np.ndarray,
    source_labels: np.ndarray,
    *,
    temperature: float = 1.0,
    max_rows: int | None = None,
    seed: int = 0,
) -> float:
    """COT's accuracy estimate, ``1 -`` :func:`cot_error` against the source label marginal.

    Lu et al. (2023): the labels are ``N`` one-hot vectors in the source's class
    proportions (:func:`cot_label_counts`). By default every target row enters one exact
    transport problem, as the paper defines it. ``max_rows`` subsamples as the authors'
    ``run_estimation.py`` (``luyuzhe111/COT``; 10,000 there) does for larger sets:
    ``ceil(N / max_rows)`` batches of ``max_rows`` rows drawn with replacement, their
    costs averaged; the draws come from ``numpy.random.default_rng(seed)`` (the authors
    use Python's ``random``).

    Parameters
    ----------
    target_log_probs : ndarray of float, shape (N, K)
        Target log-softmax values (or logits).
    source_labels : ndarray of int, shape (N_source,)
        Labels of the source images; only their class proportions are used.
    temperature : float
        Source-fitted temperature (the authors calibrate before COT).
    max_rows : int or None
        The largest transport problem solved at once; ``None``: all rows.
    seed : int
        Seeds the batch draws (unused unless ``N > max_rows``).

    Returns
    -------
    float
        The accuracy estimate. Cost: as :func:`cot_error` on all rows (50,000 x 1,000:
        ~5 s, ~75 s in the worst case); with ``max_rows=10_000``, five problems of
        10,000 rows (~6 s).

    Examples
    --------
    >>> logp = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]))
    >>> round(cot_estimate(logp, np.array([0, 0, 1, 1, 0, 0])), 4)
    0.7667
    """
    z = check_log_probs(target_log_probs, "target_log_probs")
    marginal = _label_marginal(source_labels, z.shape[1])
    bad_rows = isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
    if max_rows is not None and bad_rows:
        raise ParameterError(f"max_rows must be None or an integer >= 1, got {max_rows!r}")
    n = z.shape[0]
    if max_rows is None or n <= max_rows:
        return 1.0 - cot_error(z, cot_label_counts(marginal, n), temperature=temperature)
    rng = np.random.default_rng(seed)
    counts = cot_label_counts(marginal, max_rows)
    errors = [
        cot_error(z[rng.integers(0, n, size=max_rows)], counts, temperature=temperature)
        for _ in range(math.ceil(n / max_rows))
    ]
    return 1.0 - float(np.mean(errors))


def _label_marginal(source_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The source's class proportions (at least one label)."""
    n_source = np.shape(source_labels)[0] if np.ndim(source_labels) == 1 else -1
    labels = check_labels(source_labels, n_source, n_classes, "source_labels", "the source")
    if labels.size == 0:
        raise DegenerateDataError("COT needs the labels of at least one source image")
    return np.bincount(labels, minlength=n_classes) / labels.size
