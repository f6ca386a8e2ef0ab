"""Tests of M independent of Q given strata, with effect sizes and Holm's correction.

Three tests of ``M _||_ Q | S`` (S = the stratifier columns; no columns = marginal):

``score``  the score test of conditional logistic regression, ``logit P(M=1) = a_s + b Q``
           with one free intercept per stratum, at ``b = 0``. Conditioning on each
           stratum's number of correct rows removes the intercepts; the score and its
           variance have closed forms (Mantel 1963)::

               U = sum_s sum_i (q_i - mean_s q) m_i
               V = sum_s k_s (n_s - k_s) / (n_s (n_s - 1)) * sum_i (q_i - mean_s q)^2

           and ``U^2 / V`` is chi-square(1) under the null. Vectorised: any table size.
           When rows share an image (``cluster``, default ``image_id``, whenever it is
           not a stratifier) the variance is the small-sample cluster-robust one (CR2,
           :mod:`iqalign.stats.core.cluster`): the plain sum of squared per-image scores
           ignores that centring on the stratum mean correlates the images of a stratum,
           and rejected 14% of nulls with 2 images per label. The effect is the one-step (Peto-type)
           estimate of ``b``, ``U / V``, in log-odds per within-stratum SD of Q, with a
           Wald interval; it is accurate near ``b = 0``, shrunk towards 0 for large ``b``;
``lr``     the likelihood-ratio test of the same model fitted by statsmodels'
           ``ConditionalLogit`` (exact conditional MLE of ``b`` with a Wald interval).
           statsmodels evaluates the likelihood by a Python recursion of size
           ``n_s x k_s`` per stratum, so it is limited to small strata. It treats rows as
           independent, so a table whose rows share clusters is refused (use ``score``);
``cmh``    Cochran-Mantel-Haenszel on Q split at each stratum's median (statsmodels
           ``StratifiedTable``): the Mantel-Haenszel odds ratio of M for the upper vs the
           lower half of Q, with its interval. CMH is the score test of the half
           indicator; with clusters it is divided by that score's design effect (CR2
           over model variance; Rao & Scott 1992) and the interval widened by its root.

With clusters, a table whose clusters carry fewer than 20 Bell-McCaffrey degrees of
freedom (e.g. 10 image IDs spanning the 75 (corruption, severity) strata) is refused:
no cluster-robust test holds its level there. Measured levels: docs/stats.md.

A stratum where M has one class carries no information about ``b`` (its conditional
likelihood is constant) and is skipped and counted, as is one with Q constant (or, for
``cmh``, all rows in one half).

Examples
--------
>>> from iqalign.causal import load_dag
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> table = simulate_scores(load_dag("common_corruptions"), n_ids=60, seed=0)
>>> result = ci_test(table, "q_sim", "correct_sim", by="image_id")
>>> result.test, result.n_strata, result.p_value < 0.05
('score', 60, True)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from iqalign.errors import DegenerateDataError, ScoresTableError, TooFewClustersError
from iqalign.stats.analyses.stratified import parse_by
from iqalign.stats.core.arguments import check_alpha
from iqalign.stats.core.auc import grouped_midranks
from iqalign.stats.core.cluster import ClusterVariance, cluster_robust_variance
from iqalign.stats.core.results import ResultMixin
from iqalign.stats.core.table import (
    ScoresData,
    get_stratum_codes,
    get_unit_codes,
    load_scores,
    prepare_scores,
)

__all__ = ["CI_TESTS", "CITestResult", "ci_test", "holm_adjust"]

CI_TESTS: tuple[str, ...] = ("score", "lr", "cmh")
_LR_MAX_STRATUM = 400  # statsmodels' recursion depth grows with the stratum size
_LR_MAX_WORK = 300_000  # sum of n_s * min(k_s, n_s - k_s): about a second per likelihood
# Below this Bell-McCaffrey df a cluster-robust test is refused: with 10 image IDs spanning
# the 75 (corruption, severity) strata (df ~7) the score test rejected 1.8% of nulls, with
# 50 (df ~34) 4.2% (docs/stats.md, measured table).
_MIN_CLUSTER_DF = 20
_EFFECT_NAMES = {
    "score": "one-step conditional log-odds ratio per within-stratum SD of Q",
    "lr": "conditional log-odds ratio per within-stratum SD of Q (ConditionalLogit MLE)",
    "cmh": "log Mantel-Haenszel odds ratio, upper vs lower half of Q within strata",
}


@dataclass(frozen=True)
class CITestResult(ResultMixin):
    """One conditional-independence test: statistic, p-value, effect with interval, counts."""

    test: str
    by: tuple[str, ...]
    q_column: str
    m_column: str
    n_rows: int
    n_rows_used: int
    n_dropped_nonfinite: int
    n_strata: int
    n_strata_used: int
    skipped: dict[str, int]
    statistic: float
    df: int
    p_value: float
    effect_name: str
    effect: float
    effect_ci: tuple[float, float]
    variance: str
    accuracy: float  # the prior-only baseline: predict this for everyone
    prior_ce_loss: float
    alpha: float
    notes: tuple[str, ...] = ()


def ci_test(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    by: str | Sequence[str] = (),
    *,
    test: str = "score",
    cluster: str | None = "image_id",
    alpha: float = 0.05,
    nonfinite: Literal["raise", "drop"] = "raise",
) -> CITestResult:
    """Test ``M _||_ Q | by`` (see the module docs); ``by=()`` tests marginal independence.

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    by
        The conditioning (stratifier) columns; ``()`` for a marginal test.
    test
        One of :data:`CI_TESTS`: ``"score"`` (conditional logistic score test), ``"lr"``
        (likelihood ratio) or ``"cmh"`` (Cochran-Mantel-Haenszel).
    cluster
        The column whose values are clusters (image IDs), used when it is no stratifier and
        some value spans several rows (module docs); ``None`` treats rows as independent.
    alpha
        Level of the effect's ``1 - alpha`` interval.
    nonfinite
        ``"raise"`` (on purpose: a NaN Q is a question to the caller): refuse non-finite Q;
        ``"drop"`` (as the runner and ``iqalign report`` do): drop those rows and count them.

    Returns
    -------
    CITestResult
        The statistic, p-value, effect size with its interval, n and strata used.
    """
    if test not in CI_TESTS:
        raise ValueError(f"test must be one of {CI_TESTS}, got {test!r}")
    alpha = check_alpha(alpha)
    by = parse_by(by)
    data, strata, keys, clusters = _prepare(table, q, m, by, cluster, nonfinite)
    run = {"score": _score_test, "lr": _lr_test, "cmh": _cmh_test}[test]
    fields = run(data.q, data.m, strata, len(keys), clusters, alpha)
    if "cluster-robust" in fields.get("variance", ""):
        fields["variance"] = fields["variance"].replace("clusters", f"{cluster} clusters")
    return _result(test, by, data, len(keys), alpha, fields)


def _prepare(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    by: tuple[str, ...],
    cluster: str | None,
    nonfinite: Literal["raise", "drop"],
) -> tuple[ScoresData, np.ndarray, pd.DataFrame, np.ndarray | None]:
    """The validated rows, their stratum codes and keys, and cluster codes (``None`` when
    no cluster correction applies)."""
    frame = load_scores(table)
    # The column name, or None when no cluster correction applies (keeps `str` for the checker).
    cluster_column = (
        cluster if cluster is not None and cluster not in by and cluster in frame else None
    )
    data = prepare_scores(
        frame, q, m, [*by, *([cluster_column] if cluster_column else [])], nonfinite=nonfinite
    )
    strata, keys = get_stratum_codes(data.frame, by)
    clusters = get_unit_codes(data.frame, cluster_column) if cluster_column else None
    if clusters is not None and int(clusters.max(initial=-1)) + 1 == clusters.size:
        clusters = None  # one row per cluster: the model variance is already right
    return data, strata, keys, clusters


def _result(
    test: str,
    by: tuple[str, ...],
    data: ScoresData,
    n_strata: int,
    alpha: float,
    fields: dict[str, Any],
) -> CITestResult:
    """The test's fields with the table's counts and the prior-only baseline."""
    accuracy = float(data.m.mean())
    return CITestResult(
        test=test,
        by=by,
        q_column=data.q_column,
        m_column=data.m_column,
        n_rows=data.n_rows,
        n_dropped_nonfinite=data.n_dropped_nonfinite,
        n_strata=n_strata,
        effect_name=_EFFECT_NAMES[test],
        accuracy=accuracy,
        prior_ce_loss=float(-(accuracy * np.log(accuracy) + (1 - accuracy) * np.log1p(-accuracy))),
        alpha=alpha,
        **fields,
    )


def _informative(q, m, strata, n_strata):
    """Per-stratum n, k and centred Q; which strata carry information; skip counts."""
    n = np.bincount(strata, minlength=n_strata).astype(np.float64)
    k = np.bincount(strata, weights=m, minlength=n_strata)
    centred = q - (np.bincount(strata, weights=q, minlength=n_strata) / np.maximum(n, 1))[strata]
    ss = np.bincount(strata, weights=centred**2, minlength=n_strata)
    single = (k == 0) | (k == n)
    constant = ~single & (ss <= (1e-12 * np.maximum(np.abs(q).max(), 1.0)) ** 2 * n)
    skipped = {"single_class": int(single.sum()), "constant_q": int(constant.sum())}
    return n, k, centred, ss, ~single & ~constant, skipped


def _no_information(skipped, n_strata):
    raise DegenerateDataError(
        f"no stratum carries information about Q and M ({n_strata} strata; skipped: {skipped}): "
        "M needs both classes and Q more than one value within a stratum"
    )


def _score_test(q, m, strata, n_strata, clusters, alpha):
    from scipy import stats as sps

    n, k, centred, ss, usable, skipped = _informative(q, m, strata, n_strata)
    if not usable.any():
        _no_information(skipped, n_strata)
    rows = usable[strata]
    sd = np.sqrt(ss[usable].sum() / n[usable].sum())  # pooled within-stratum SD of Q
    x = centred[rows] / sd
    score = float(x @ m[rows])
    info = float((k * (n - k) / (n * np.maximum(n - 1, 1)))[usable] @ (ss[usable] / sd**2))
    variance, label = info, "model (conditional logistic information)"
    if clusters is not None:
        robust = _robust(x, m, strata, rows, k, n, clusters)
        variance, label = robust.variance, _robust_label(robust)
    z = score / np.sqrt(variance)
    effect = score / info
    half = sps.norm.ppf(1 - alpha / 2) * np.sqrt(variance) / info
    return {
        "n_rows_used": int(rows.sum()),
        "n_strata_used": int(usable.sum()),
        "skipped": skipped,
        "statistic": float(z * z),
        "df": 1,
        "p_value": float(sps.chi2.sf(z * z, 1)),
        "effect": float(effect),
        "effect_ci": (float(effect - half), float(effect + half)),
        "variance": label,
        "notes": (),
    }


def _robust(
    x: np.ndarray,
    m: np.ndarray,
    strata: np.ndarray,
    rows: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    clusters: np.ndarray,
) -> ClusterVariance:
    """CR2 variance of the score ``sum x (m - mean_s m)`` over image clusters; refuses a
    table whose clusters are too few for it (see ``_MIN_CLUSTER_DF``)."""
    e = m[rows] - (k / np.maximum(n, 1))[strata[rows]]
    robust = cluster_robust_variance(x, e, strata[rows], clusters[rows])
    if not robust.df >= _MIN_CLUSTER_DF:
        raise TooFewClustersError(
            f"rows share clusters (image IDs) across strata, and the {robust.n_clusters} "
            f"clusters carry about {robust.df:.1f} independent units of information "
            f"(Bell-McCaffrey df), fewer than the {_MIN_CLUSTER_DF} a cluster-robust test "
            "needs to hold its level (measured: docs/stats.md). Not tested: use more image "
            "IDs, or stratify by image_id",
            robust.df,
            robust.n_clusters,
            _MIN_CLUSTER_DF,
        )
    return robust


def _robust_label(robust: ClusterVariance) -> str:
    return f"cluster-robust CR2 over {robust.n_clusters} clusters (df {robust.df:.0f})"


def _lr_test(q, m, strata, n_strata, clusters, alpha):
    from scipy import stats as sps
    from statsmodels.discrete.conditional_models import ConditionalLogit

    if clusters is not None:
        raise ScoresTableError(
            "test='lr' treats rows as independent, but rows share image IDs across these "
            "strata; its design-effect (Rao-Scott) correction could not be calibrated (each "
            "fit takes ~1 s). Not tested: use test='score', the same model's test with a "
            "cluster-robust (CR2) variance, or stratify by image_id"
        )
    n, k, centred, ss, usable, skipped = _informative(q, m, strata, n_strata)
    if not usable.any():
        _no_information(skipped, n_strata)
    work = float((n * np.minimum(k, n - k))[usable].sum())
    if n[usable].max() > _LR_MAX_STRATUM or work > _LR_MAX_WORK:
        raise ScoresTableError(
            f"test='lr' fits statsmodels' ConditionalLogit, whose likelihood is a Python recursion "
            f"of size n x k per stratum; these strata (largest {int(n[usable].max())} rows, total "
            f"work {work:.0f}) exceed its limits ({_LR_MAX_STRATUM} rows, {_LR_MAX_WORK}). Use "
            "test='score', the same model's score test, vectorised"
        )
    rows = usable[strata]
    sd = np.sqrt(ss[usable].sum() / n[usable].sum())
    x = (centred[rows] / sd)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter; checked below
        model = ConditionalLogit(m[rows], x, groups=strata[rows])
        fit = model.fit(disp=0)
    beta, se = float(fit.params[0]), float(fit.bse[0])
    lr = max(2.0 * (float(fit.llf) - float(model.loglike(np.zeros(1)))), 0.0)
    label = "model (observed information)"
    half = sps.norm.ppf(1 - alpha / 2) * se
    notes = (
        ("the conditional MLE looks infinite (Q separates M within strata)",)
        if abs(beta) > 15
        else ()
    )
    return {
        "n_rows_used": int(rows.sum()),
        "n_strata_used": int(usable.sum()),
        "skipped": skipped,
        "statistic": lr,
        "df": 1,
        "p_value": float(sps.chi2.sf(lr, 1)),
        "effect": beta,
        "effect_ci": (beta - half, beta + half),
        "variance": label,
        "notes": notes,
    }


def _cmh_test(q, m, strata, n_strata, clusters, alpha):
    from scipy import stats as sps
    from statsmodels.stats.contingency_tables import StratifiedTable

    n = np.bincount(strata, minlength=n_strata).astype(np.float64)
    upper = (grouped_midranks(q, strata) - 0.5) >= n[strata] / 2  # ties share a half
    cells = np.bincount(strata * 4 + upper * 2 + (m == 0), minlength=4 * n_strata).reshape(
        n_strata, 2, 2
    )
    k = cells[:, :, 0].sum(axis=1)
    in_upper = cells[:, 1, :].sum(axis=1)
    single = (k == 0) | (k == n)
    one_half = ~single & ((in_upper == 0) | (in_upper == n))
    usable = ~single & ~one_half
    skipped = {"single_class": int(single.sum()), "one_half_of_q": int(one_half.sum())}
    if not usable.any():
        _no_information(skipped, n_strata)
    robust = None
    if clusters is not None:  # first: a refused table needs no odds ratio
        rows = usable[strata]
        x = upper[rows] - (in_upper / np.maximum(n, 1))[strata[rows]]
        robust = _robust(x, m, strata, rows, k, n, clusters)
    table = StratifiedTable(np.moveaxis(cells[usable][:, ::-1, :], 0, -1).astype(np.float64))
    statistic = float(table.test_null_odds(correction=False).statistic)
    low, high = np.log(table.oddsratio_pooled_confint(alpha=alpha))
    effect, label = float(np.log(table.oddsratio_pooled)), "model (rows independent within strata)"
    if robust is not None:
        # CMH is the score test of a binary covariate (the upper half); Rao-Scott: divide it
        # by that score's design effect and widen the interval by its square root.
        info = float(
            (k * (n - k) / (n * np.maximum(n - 1, 1)) * in_upper * (n - in_upper) / n)[usable].sum()
        )
        deff = robust.variance / info
        statistic /= deff
        half = (high - low) / 2 * np.sqrt(deff)
        low, high = effect - half, effect + half
        label = f"Rao-Scott: CMH / design effect {deff:.2f}; " + _robust_label(robust)
    return {
        "n_rows_used": int(n[usable].sum()),
        "n_strata_used": int(usable.sum()),
        "skipped": skipped,
        "statistic": statistic,
        "df": 1,
        "p_value": float(sps.chi2.sf(statistic, 1)),
        "effect": effect,
        "effect_ci": (float(low), float(high)),
        "variance": label,
        "notes": ("Q split at each stratum's median; tied values stay together",),
    }


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error); NaNs are left out and kept.

    Parameters
    ----------
    p_values
        The p-values of one family of tests.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values, in the input order.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    # Written out rather than statsmodels' multipletests, which runs gc.collect() on every
    # call (66 ms each: most of a report's verdict time); the test suite checks the two agree.
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size:
        order = finite[np.argsort(p[finite], kind="stable")]
        m = order.size
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
        adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
