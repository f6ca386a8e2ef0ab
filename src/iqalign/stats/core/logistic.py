"""Many one-feature logistic regressions P(M=1 | Q) at once: one per group, in numpy.

The per-stratum analyses fit 10^5 tiny models (one per image ID and fold). A loop of
scikit-learn fits costs milliseconds each; here every group takes its Newton step
together: each iteration is a handful of ``np.bincount`` calls over all rows, and each
group's 2x2 system (intercept, slope) is solved in closed form.

Within each group Q is standardised first, as ``StandardScaler`` would (population
SD; a constant group keeps scale 1, so its standardised Q is 0 and its slope stays 0).
The penalties minimise, per group,

``"none"``   the negative log-likelihood;
``"l2"``     the negative log-likelihood + slope^2 / (2 C), intercept unpenalised:
             scikit-learn's ``LogisticRegression(C=C)`` objective, so fits match it;
``"firth"``  the negative log-likelihood - 1/2 log det I(beta) (Firth 1993): finite
             estimates even for perfectly separated groups.

With ``"none"`` a perfectly (or quasi-) separated group has no maximum-likelihood
estimate; it is detected exactly (in one dimension separation means the classes' Q
ranges do not overlap) and reported in ``separated``, never fitted to an overflow.
Newton steps are halved wherever the objective would rise, so every group converges.

Examples
--------
>>> x = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.3, 0.6])
>>> y = np.array([0, 0, 1, 1, 0, 1, 1, 0.0])
>>> fits = fit_grouped_logistic(x, y, np.zeros(8, dtype=np.int64), 1, penalty="l2", C=1.0)
>>> round(float(fits.slope[0]), 4), bool(fits.fitted[0])  # sklearn: 0.6878
(0.6878, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from iqalign.errors import ParameterError

__all__ = ["PENALTIES", "LogisticFits", "fit_grouped_logistic", "log_loss_terms"]

PENALTIES: tuple[str, ...] = ("none", "l2", "firth")
_MAX_HALVINGS = 40


@dataclass(frozen=True)
class LogisticFits:
    """Per-group fits on standardised Q. Entries of groups with ``fitted`` false are NaN."""

    intercept: np.ndarray
    slope: np.ndarray  # log-odds per within-group SD of Q
    center: np.ndarray
    scale: np.ndarray
    fitted: np.ndarray  # two classes, and not separated under penalty "none"
    two_class: np.ndarray
    separated: np.ndarray  # classes' Q ranges do not overlap (checked for "none" only)
    constant: np.ndarray  # Q constant within the group: slope fixed at 0
    converged: np.ndarray
    n_iter: int

    def decision_function(self, x: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Log-odds for rows ``x`` in ``groups`` (each row's group's fit)."""
        z = (x - self.center[groups]) / self.scale[groups]
        return self.intercept[groups] + self.slope[groups] * z


def log_loss_terms(eta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy ``-log P(y | eta)`` for log-odds ``eta``, without overflow."""
    # log(1 + e^eta) written so that exp never overflows (3x faster than np.logaddexp)
    return np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0) - y * eta


def fit_grouped_logistic(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    *,
    penalty: str = "l2",
    C: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogisticFits:
    """Fit ``P(y=1 | x)`` separately in each group ``0..n_groups-1`` (see module docs).

    Parameters
    ----------
    x
        The predictor per row.
    y
        The 0/1 outcome per row.
    groups
        The group code per row, in ``0..n_groups-1``.
    n_groups
        The number of groups.
    penalty
        One of :data:`PENALTIES`: ``"none"``, ``"l2"`` or ``"firth"``.
    C
        Inverse strength of the L2 penalty (as in scikit-learn).
    max_iter
        The most Newton iterations per group.
    tol
        The convergence tolerance of the Newton steps.

    Returns
    -------
    LogisticFits
        Intercept and slope per group (on Q standardised within the group); NaN where a
        group was not fitted.
    """
    _check_penalty(penalty, C)
    n = np.bincount(groups, minlength=n_groups).astype(np.float64)
    n1 = np.bincount(groups, weights=y, minlength=n_groups)
    two_class = (n1 > 0) & (n1 < n)
    center, scale, constant = _standardisation(x, groups, n, n_groups)
    z, yy, g, separated, active = _rows_to_fit(
        x, y, groups, n_groups, two_class, center, scale, constant, penalty
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        start = np.log(n1 / (n - n1))  # the intercept-only fit: a good, always-finite start
    params = np.vstack([np.where(active, start, 0.0), np.zeros(n_groups)])
    params, converged, n_iter = _newton(
        z, yy, g, n_groups, active, constant, penalty, C, params, max_iter, tol
    )
    intercept = np.where(active, params[0], np.nan)
    slope = np.where(active, params[1], np.nan)
    return LogisticFits(
        intercept, slope, center, scale, active, two_class, separated, constant, converged, n_iter
    )


def _check_penalty(penalty: str, C: float) -> None:
    """Refuse an unknown penalty, and a ``C`` that is not a finite number > 0 for ``"l2"``."""
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    if penalty == "l2" and not (np.isfinite(C) and C > 0):
        raise ParameterError(
            f"C must be a finite number > 0 for penalty 'l2' (the inverse L2 strength; "
            f"C -> 0 penalises the slope to 0), got {C!r}"
        )


def _rows_to_fit(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    two_class: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    constant: np.ndarray,
    penalty: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the groups to fit, standardised: ``z``, ``y``, group codes, and per
    group ``separated`` (penalty ``"none"`` only) and ``active`` (two classes, not separated)."""
    rows = two_class[groups]
    every = bool(rows.all())  # then no copies (3M rows per fold in a per-image CV)
    g, yy, xx = (groups, y, x) if every else (groups[rows], y[rows], x[rows])
    z = (xx - center[g]) / scale[g]
    separated = np.zeros(n_groups, dtype=bool)
    if penalty == "none":
        separated = two_class & ~constant & _is_separated(z, yy, g, n_groups)
    active = two_class & ~separated
    keep = active[g]
    if not keep.all():
        g, yy, z = g[keep], yy[keep], z[keep]
    return z, yy, g, separated, active


def _standardisation(x, groups, n, n_groups):
    with np.errstate(divide="ignore", invalid="ignore"):
        center = np.bincount(groups, weights=x, minlength=n_groups) / n
        var = np.bincount(groups, weights=(x - center[groups]) ** 2, minlength=n_groups) / n
    center = np.nan_to_num(center)
    var = np.nan_to_num(var)
    # scikit-learn's rule for a constant feature (StandardScaler, _is_constant_feature)
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * center * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    return center, scale, constant


def _is_separated(z, y, g, n_groups):
    """True where the two classes' ranges of z do not overlap (complete or quasi-complete)."""
    lo = np.full((2, n_groups), np.inf)
    hi = np.full((2, n_groups), -np.inf)
    for label in (0, 1):
        mask = y == label
        np.minimum.at(lo[label], g[mask], z[mask])
        np.maximum.at(hi[label], g[mask], z[mask])
    return (hi[0] <= lo[1]) | (hi[1] <= lo[0])


def _newton(z, y, g, n_groups, active, constant, penalty, C, params, max_iter, tol):
    """Damped Newton iterations for all groups together; returns params, converged, iterations.

    A step is halved wherever the objective rose. The objective (half the cost of an
    iteration) is evaluated only where a rise is possible: for this loss, a Newton step
    that moves no row's log-odds by more than ``_SAFE_STEP`` (< ln 2) provably lowers the
    objective (see :func:`_safe_steps`), so the halving test could only say "no" there.
    Every decision, and so every number, is the one of testing everywhere.
    """
    ridge = 1.0 / C if penalty == "l2" else 0.0
    previous = params.copy()
    previous_objective = np.full(n_groups, np.inf)  # no rise is possible from the start
    known = np.ones(n_groups, dtype=bool)  # where previous_objective holds its value
    need = np.ones(n_groups, dtype=bool)  # where the objective is wanted at params
    z_max = _abs_max(z, g, n_groups) if penalty != "firth" else None
    converged = ~active
    halvings = np.zeros(n_groups, dtype=np.int64)
    n_iter = 0
    while n_iter < max_iter:
        objective, gradient, hessian = _derivatives(
            z, y, g, n_groups, params, constant, penalty, ridge, need
        )
        check = active & need & (halvings < _MAX_HALVINGS)
        if (missing := check & ~known).any():  # the point before the step: its objective
            previous_objective[missing] = _objective(z, y, g, n_groups, previous, ridge, missing)
            known |= missing
        worse = check & (objective > previous_objective + 1e-12 * np.abs(previous_objective))
        if worse.any():  # back off half-way towards the previous point, for those groups only
            params[:, worse] = previous[:, worse] + 0.5 * (params[:, worse] - previous[:, worse])
            halvings[worse] += 1
            continue
        halvings[:] = 0
        n_iter += 1
        step = _solve(hessian, gradient)
        step[:, ~active] = 0.0
        previous, previous_objective, known = params.copy(), objective, need.copy()
        params = params - step
        need = np.ones(n_groups, dtype=bool) if z_max is None else ~_safe_steps(step, z_max)
        converged = ~active | (np.abs(step).max(axis=0) <= tol * (1.0 + np.abs(params).max(axis=0)))
        if converged.all():
            break
    return params, converged, n_iter


# Largest change of any row's log-odds for which a Newton step is known to lower the
# objective. For the logistic loss (plus a ridge) along a Newton step Delta, with
# M = max_i |Delta . (1, z_i)|: each row's curvature grows by at most e^|t delta_i| along
# the step (|d log w / d eta| = |1 - 2p| <= 1), so f(x - Delta) - f(x) <= -Delta'H Delta +
# e^M Delta'H Delta / 2 < 0 when e^M < 2. 0.5 leaves 18% of the decrease as margin over
# rounding (the halving test itself tolerates 1e-12 relative).
_SAFE_STEP = 0.5


def _safe_steps(step: np.ndarray, z_max: np.ndarray) -> np.ndarray:
    """Groups whose Newton step provably lowers the objective (see ``_SAFE_STEP``)."""
    return np.abs(step[0]) + np.abs(step[1]) * z_max <= _SAFE_STEP


def _abs_max(z, g, n_groups):
    from iqalign.stats.core.kernels import group_abs_max

    return group_abs_max(z, g, n_groups)


def _objective(z, y, g, n_groups, params, ridge, groups):
    """The objective at ``params`` for ``groups`` only (as :func:`_derivatives` gives it)."""
    from iqalign.stats.core.kernels import logistic_objective

    objective = logistic_objective(
        z, y, g, n_groups, np.ascontiguousarray(params[0]), np.ascontiguousarray(params[1]), groups
    )
    if ridge:
        objective = objective + 0.5 * ridge * params[1] ** 2
    return objective[groups]


def _derivatives(z, y, g, n_groups, params, constant, penalty, ridge, need=None):
    """Objective, gradient and Hessian per group; the objective only where ``need`` is set
    (NaN elsewhere; Firth's penalised fit always computes it)."""
    if penalty == "firth":
        return _firth_derivatives(z, y, g, n_groups, params, constant, ridge)
    from iqalign.stats.core.kernels import logistic_sums

    # one compiled pass: the same sums, in the same order, as bincounts of the numpy
    # formulas (bit-identical gradient and Hessian; 5x faster at 3M rows). A constant
    # group has z == 0: it gets a unit slope curvature so the system is regular; its
    # slope gradient is 0, so the slope never moves from 0
    need = np.ones(n_groups, dtype=bool) if need is None else need
    objective, h_aa, h_ab, h_bb, grad_a, grad_b = logistic_sums(
        z, y, g, n_groups, np.ascontiguousarray(params[0]), np.ascontiguousarray(params[1]), need
    )
    h_bb = np.where(constant, 1.0, h_bb + ridge)
    if ridge:
        grad_b = grad_b + ridge * params[1]
        objective = objective + 0.5 * ridge * params[1] ** 2
    return objective, np.vstack([grad_a, grad_b]), (h_aa, h_ab, h_bb)


def _firth_derivatives(z, y, g, n_groups, params, constant, ridge):
    """Firth's penalised derivatives (Jeffreys prior): the leverage-adjusted residuals."""
    eta = params[0][g] + params[1][g] * z
    p = expit(eta)
    w = p * (1.0 - p)
    objective = np.bincount(g, weights=log_loss_terms(eta, y), minlength=n_groups)
    h_aa = np.bincount(g, weights=w, minlength=n_groups)
    h_ab = np.bincount(g, weights=w * z, minlength=n_groups)
    h_bb = np.bincount(g, weights=w * z * z, minlength=n_groups) + ridge
    # a constant group has z == 0: give it a unit slope curvature so the system is regular;
    # its slope gradient is 0, so the slope never moves from 0
    h_bb = np.where(constant, 1.0, h_bb)
    det = h_aa * h_bb - h_ab**2
    inv_aa, inv_ab, inv_bb = h_bb / det, -h_ab / det, h_aa / det
    leverage = w * (inv_aa[g] + 2.0 * inv_ab[g] * z + inv_bb[g] * z * z)
    residual = p - y - leverage * (0.5 - p)
    objective = objective - 0.5 * np.log(det)
    grad_a = np.bincount(g, weights=residual, minlength=n_groups)
    grad_b = np.bincount(g, weights=residual * z, minlength=n_groups)
    if ridge:
        grad_b = grad_b + ridge * params[1]
        objective = objective + 0.5 * ridge * params[1] ** 2
    return objective, np.vstack([grad_a, grad_b]), (h_aa, h_ab, h_bb)


def _solve(hessian, gradient):
    h_aa, h_ab, h_bb = hessian
    det = h_aa * h_bb - h_ab**2
    with np.errstate(divide="ignore", invalid="ignore"):
        step_a = (h_bb * gradient[0] - h_ab * gradient[1]) / det
        step_b = (h_aa * gradient[1] - h_ab * gradient[0]) / det
    return np.nan_to_num(np.vstack([step_a, step_b]), nan=0.0, posinf=0.0, neginf=0.0)
