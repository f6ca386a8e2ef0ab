"""Compiled inner loops (numba) of the two analyses that dominate a paper-scale report.

At 3.8M rows a report fits ~10^3 logistic Newton steps over millions of rows and computes
~5 x 10^4 bootstrap AUCs over 760k held-out rows. In numpy each is a dozen passes over
memory (a gather, ``bincount`` per sum, ``cumsum``); here each is one pass. They compute
the same sums in the same order as the numpy code they replace, so the numbers are
unchanged: the resampled AUCs are exact (integer weights: every partial sum is an exact
float), and the logistic sums are bit-identical (``exp`` is the C library's, as in
scipy's ``expit``). Tests compare both with the numpy formulas and with scikit-learn.

Compiled on first use and cached on disk (``cache=True``); callers import this module
inside the functions that need it, so ``import iqalign.stats`` does not load numba.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["logistic_sums", "resampled_auc"]


@numba.njit(cache=True, nogil=True)
def logistic_sums(z, y, g, n_groups, intercept, slope):  # pragma: no cover - compiled
    """Per group: log-loss, Hessian (aa, ab, bb) and gradient (a, b) sums of the logistic
    model ``eta = intercept[g] + slope[g] * z`` (rows in input order, as ``bincount``)."""
    objective = np.zeros(n_groups)
    h_aa = np.zeros(n_groups)
    h_ab = np.zeros(n_groups)
    h_bb = np.zeros(n_groups)
    grad_a = np.zeros(n_groups)
    grad_b = np.zeros(n_groups)
    for i in range(z.size):
        k = g[i]
        zi = z[i]
        yi = y[i]
        eta = intercept[k] + slope[k] * zi
        p = 1.0 / (1.0 + np.exp(-eta))  # scipy's expit
        w = p * (1.0 - p)
        objective[k] += np.log1p(np.exp(-abs(eta))) + max(eta, 0.0) - yi * eta
        h_aa[k] += w
        wz = w * zi
        h_ab[k] += wz
        h_bb[k] += wz * zi
        residual = p - yi
        grad_a[k] += residual
        grad_b[k] += residual * zi
    return objective, h_aa, h_ab, h_bb, grad_a, grad_b


@numba.njit(cache=True, nogil=True)
def resampled_auc(positive, cluster, run_starts, counts):  # pragma: no cover - compiled
    """AUC of each resample (row of ``counts``: multiplicity of every cluster).

    Rows are sorted by score; ``run_starts`` delimits the runs of tied scores (with the
    end as last entry); ``positive`` is 1.0/0.0 and ``cluster`` the row's cluster code.
    Ties count one half; a resample with one class gets NaN.
    """
    n_boot = counts.shape[0]
    out = np.empty(n_boot)
    for b in range(n_boot):
        weight = counts[b]
        negatives_below = 0.0
        numerator = 0.0
        positives = 0.0
        for run in range(run_starts.size - 1):
            pos = 0.0
            both = 0.0
            for row in range(run_starts[run], run_starts[run + 1]):
                w = weight[cluster[row]]
                both += w
                pos += w * positive[row]
            neg = both - pos
            numerator += pos * (negatives_below + 0.5 * neg)
            negatives_below += neg
            positives += pos
        total = positives * negatives_below
        out[b] = numerator / total if total > 0 else np.nan
    return out
