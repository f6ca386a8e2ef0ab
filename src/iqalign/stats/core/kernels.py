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

__all__ = [
    "group_abs_max",
    "logistic_objective",
    "logistic_sums",
    "resampled_auc",
    "stable_counting_order",
    "warm_up",
]


@numba.njit(cache=True, nogil=True)
def logistic_sums(z, y, g, n_groups, intercept, slope, with_objective):  # pragma: no cover
    """Per group: log-loss, Hessian (aa, ab, bb) and gradient (a, b) sums of the logistic
    model ``eta = intercept[g] + slope[g] * z`` (rows in input order, as ``bincount``).
    The log-loss (a second transcendental function per row) only for the groups where
    ``with_objective`` is set; the others get NaN."""
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
        # p is scipy's expit, 1 / (1 + exp(-eta)); the loss log1p(exp(-|eta|)) + max(eta, 0)
        # - y eta. For eta >= 0 both use exp(-eta): one exp instead of two, same bits.
        if eta >= 0.0:
            e = np.exp(-eta)
            p = 1.0 / (1.0 + e)
            if with_objective[k]:
                objective[k] += np.log1p(e) + eta - yi * eta
        else:
            p = 1.0 / (1.0 + np.exp(-eta))
            if with_objective[k]:
                objective[k] += np.log1p(np.exp(eta)) + 0.0 - yi * eta
        w = p * (1.0 - p)
        h_aa[k] += w
        wz = w * zi
        h_ab[k] += wz
        h_bb[k] += wz * zi
        residual = p - yi
        grad_a[k] += residual
        grad_b[k] += residual * zi
    for k in range(n_groups):
        if not with_objective[k]:
            objective[k] = np.nan
    return objective, h_aa, h_ab, h_bb, grad_a, grad_b


@numba.njit(cache=True, nogil=True)
def logistic_objective(z, y, g, n_groups, intercept, slope, groups):  # pragma: no cover
    """The log-loss sums of :func:`logistic_sums` (the same terms, in the same order)
    for the groups where ``groups`` is set; NaN elsewhere."""
    objective = np.zeros(n_groups)
    for i in range(z.size):
        k = g[i]
        if not groups[k]:
            continue
        zi = z[i]
        yi = y[i]
        eta = intercept[k] + slope[k] * zi
        if eta >= 0.0:
            objective[k] += np.log1p(np.exp(-eta)) + eta - yi * eta
        else:
            objective[k] += np.log1p(np.exp(eta)) + 0.0 - yi * eta
    for k in range(n_groups):
        if not groups[k]:
            objective[k] = np.nan
    return objective


@numba.njit(cache=True, nogil=True)
def group_abs_max(values, g, n_groups):  # pragma: no cover - compiled
    """``max |values|`` within each group (0 for an empty group)."""
    out = np.zeros(n_groups)
    for i in range(values.size):
        v = abs(values[i])
        if v > out[g[i]]:
            out[g[i]] = v
    return out


@numba.njit(cache=True, nogil=True)
def resampled_auc(positive, cluster, run_starts, counts):  # pragma: no cover - compiled
    """AUC of each resample (row of ``counts``: multiplicity of every cluster).

    Rows are sorted by score; ``run_starts`` delimits the runs of tied scores (with the
    end as last entry); ``positive`` is 1.0/0.0 and ``cluster`` the row's cluster code.
    Ties count one half; a resample with one class gets NaN.

    Four resamples share each pass over the rows (four independent sums keep the CPU's
    pipelines busy: 2.6x faster than one at a time). All sums are of integers and halves,
    so they are exact in any order.
    """
    n_boot = counts.shape[0]
    out = np.empty(n_boot)
    whole = n_boot - n_boot % 4
    for b in range(0, whole, 4):
        _four_resamples(positive, cluster, run_starts, counts, b, out)
    for b in range(whole, n_boot):
        out[b] = _one_resample(positive, cluster, run_starts, counts[b])
    return out


@numba.njit(cache=True, nogil=True)
def _one_resample(positive, cluster, run_starts, weight):  # pragma: no cover - compiled
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
    return numerator / total if total > 0 else np.nan


@numba.njit(cache=True, nogil=True)
def _four_resamples(positive, cluster, run_starts, counts, b, out):  # pragma: no cover
    """Resamples ``b..b+3`` in one pass (``_one_resample`` four times, interleaved)."""
    w0, w1, w2, w3 = counts[b], counts[b + 1], counts[b + 2], counts[b + 3]
    below0 = below1 = below2 = below3 = 0.0
    num0 = num1 = num2 = num3 = 0.0
    pos0 = pos1 = pos2 = pos3 = 0.0
    for run in range(run_starts.size - 1):
        lo, hi = run_starts[run], run_starts[run + 1]
        if hi - lo == 1:  # no tie (the usual case): the row is all of its run
            c, s = cluster[lo], positive[lo]
            t = 1.0 - s
            a0, a1, a2, a3 = w0[c] * s, w1[c] * s, w2[c] * s, w3[c] * s
            num0 += a0 * below0
            num1 += a1 * below1
            num2 += a2 * below2
            num3 += a3 * below3
            pos0 += a0
            pos1 += a1
            pos2 += a2
            pos3 += a3
            below0 += w0[c] * t
            below1 += w1[c] * t
            below2 += w2[c] * t
            below3 += w3[c] * t
            continue
        q0 = q1 = q2 = q3 = 0.0
        n0 = n1 = n2 = n3 = 0.0
        for row in range(lo, hi):
            c, s = cluster[row], positive[row]
            q0 += w0[c] * s
            q1 += w1[c] * s
            q2 += w2[c] * s
            q3 += w3[c] * s
            n0 += w0[c] * (1.0 - s)
            n1 += w1[c] * (1.0 - s)
            n2 += w2[c] * (1.0 - s)
            n3 += w3[c] * (1.0 - s)
        num0 += q0 * (below0 + 0.5 * n0)
        num1 += q1 * (below1 + 0.5 * n1)
        num2 += q2 * (below2 + 0.5 * n2)
        num3 += q3 * (below3 + 0.5 * n3)
        below0 += n0
        below1 += n1
        below2 += n2
        below3 += n3
        pos0 += q0
        pos1 += q1
        pos2 += q2
        pos3 += q3
    for j, (num, pos, below) in enumerate(
        ((num0, pos0, below0), (num1, pos1, below1), (num2, pos2, below2), (num3, pos3, below3))
    ):
        total = pos * below
        out[b + j] = num / total if total > 0 else np.nan


@numba.njit(cache=True, nogil=True)
def stable_counting_order(keys, n_keys):  # pragma: no cover - compiled
    """The positions that sort ``keys`` (integers ``0..n_keys-1``), stably: a counting
    sort, linear in the rows (``np.argsort(keys, kind="stable")`` is a merge sort)."""
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for key in keys:
        start[key + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    out = np.empty(keys.size, dtype=np.int64)
    for i in range(keys.size):
        key = keys[i]
        out[start[key]] = i
        start[key] += 1
    return out


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel, on tiny inputs: a process
    that forks workers does it once, and the workers inherit the compiled code."""
    zero, one, yes = np.zeros(1), np.zeros(1, dtype=np.int64), np.ones(1, dtype=bool)
    logistic_sums(zero, zero, one, 1, zero, zero, yes)
    logistic_objective(zero, zero, one, 1, zero, zero, yes)
    group_abs_max(zero, one, 1)
    resampled_auc(zero, one, np.array([0, 1]), np.ones((1, 1)))
    stable_counting_order(one, 1)
