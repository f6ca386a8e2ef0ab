"""Stratified cross-validation of P(M | Q) (paper Appendix G), vectorised over strata.

Within each stratum of one or more columns (``label``; ``image_id``; ``corruption`` x
``severity``) the rows are dealt into ``n_folds`` folds by unit (image ID, or the row
when the stratum is one image), a logistic model is fitted on every training part and
scored on the held-out fold. All strata and folds are fitted together
(:func:`~iqalign.stats.core.logistic.fit_grouped_logistic`), one fold index at a time.

A fold counts only when its model could be fitted and its AUC is defined. The others
are counted, by the first reason that applies:

``single_class_stratum``  M has one class in the whole stratum (no fold can be used);
``empty``                 the stratum has fewer units than folds, so this fold is empty;
``train_single_class``    the training part has one class of M;
``test_single_class``     the held-out fold has one class (AUC undefined);
``separated``             penalty "none" and Q separates M in the training part.

Means and SDs are over all used (stratum, fold) pairs, as in the paper. Every result
reports the prior-only cross-entropy (predict the training accuracy) beside the model's,
and ``share_positive_slope``, the orientation the fits chose.

Examples
--------
>>> from iqalign.causal import load_dag
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> table = simulate_scores(load_dag("common_corruptions"), n_ids=30, seed=3)
>>> result = stratified_cv(table, "q_sim", "correct_sim", by="image_id", seed=0)
>>> result.n_strata, result.n_folds_total == result.n_folds_used + result.n_folds_skipped
(30, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from iqalign.errors import DegenerateDataError
from iqalign.stats.core.auc import grouped_midranks, grouped_roc_auc, monotone_midranks, rank_order
from iqalign.stats.core.logistic import fit_grouped_logistic, log_loss_terms
from iqalign.stats.core.memo import remember
from iqalign.stats.core.results import ResultMixin
from iqalign.stats.core.splits import assign_folds
from iqalign.stats.core.table import ScoresData, get_stratum_codes, get_unit_codes, prepare_scores

__all__ = [
    "FOLD_STATUS",
    "FoldScores",
    "StratifiedCVResult",
    "cross_validate_arrays",
    "parse_by",
    "stratified_cv",
]

FOLD_STATUS: tuple[str, ...] = (
    "used",
    "single_class_stratum",
    "empty",
    "train_single_class",
    "test_single_class",
    "separated",
)


def parse_by(by: str | Sequence[str]) -> tuple[str, ...]:
    """``"corruption,severity"`` or ``["corruption", "severity"]`` -> a tuple of columns."""
    parts = by.split(",") if isinstance(by, str) else list(by)
    return tuple(p.strip() for p in parts if p.strip())


@dataclass(frozen=True)
class FoldScores:
    """Per (stratum, fold) scores of one cross-validation; fit ``i`` is stratum ``i // k``."""

    n_folds: int
    folds: np.ndarray  # fold of every row
    status: np.ndarray  # index into FOLD_STATUS, per fit
    auc: np.ndarray  # model AUC on the held-out fold (NaN unless used)
    raw_auc: np.ndarray  # AUC of Q itself on the held-out fold (NaN unless used)
    ce: np.ndarray
    prior_ce: np.ndarray
    slope: np.ndarray
    n_test: np.ndarray
    constant_q: np.ndarray  # fitted with Q constant in the training part (slope 0)
    converged: np.ndarray

    @property
    def used(self) -> np.ndarray:
        return self.status == 0


@dataclass(frozen=True)
class StratifiedCVResult(ResultMixin):
    """Mean and SD over used (stratum, fold) pairs, with every skip counted."""

    by: tuple[str, ...]
    q_column: str
    m_column: str
    penalty: str
    C: float | None
    n_folds: int
    fold_unit: str
    n_rows: int
    n_dropped_nonfinite: int
    accuracy: float
    n_strata: int
    n_strata_used: int
    n_strata_single_class: int
    n_folds_total: int
    n_folds_used: int
    n_folds_skipped: int
    skipped: dict[str, int]
    n_folds_constant_q: int
    n_folds_not_converged: int
    mean_auc_score: float
    sd_auc: float
    mean_raw_auc_score: float
    share_positive_slope: float
    mean_ce_loss: float
    sd_ce: float
    mean_prior_ce_loss: float
    mean_ce_gain: float
    per_stratum: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()


def stratified_cv(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    by: str | Sequence[str],
    *,
    n_folds: int = 5,
    penalty: str = "l2",
    C: float = 1.0,
    unit: str | None = "image_id",
    per_stratum: bool = False,
    seed: int | np.random.Generator | None = 0,
    nonfinite: Literal["raise", "drop"] = "raise",
) -> StratifiedCVResult:
    """k-fold cross-validated AUC and CE of P(M | Q) within each stratum of ``by``.

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    by
        The stratifier columns.
    n_folds
        The number of folds.
    penalty
        The logistic penalty: ``"none"``, ``"l2"`` or ``"firth"``.
    C
        Inverse strength of the L2 penalty.
    unit
        The column kept on one side of each fold (image IDs); ``None``, or a stratifier
        column: the rows are the units.
    per_stratum
        Also return a table with one row per stratum.
    seed
        A seed or a numpy Generator for the random draws; the same seed, the same result.
    nonfinite
        ``"raise"`` (on purpose: a NaN Q is a question to the caller): refuse non-finite Q;
        ``"drop"`` (as the runner and ``iqalign report`` do): drop those rows and count them.

    Returns
    -------
    StratifiedCVResult
        The mean AUC and CE over strata, the strata used and skipped.
    """
    by = parse_by(by)
    if not by:
        raise ValueError("by names no column; give one or more stratifier columns")
    fold_unit = unit if unit is not None and unit not in by else None
    data, strata, keys, units = _prepare(table, q, m, by, fold_unit, nonfinite)
    rng = np.random.default_rng(seed)
    scores = cross_validate_arrays(
        data.q, data.m, strata, len(keys), units, n_folds=n_folds, penalty=penalty, C=C, rng=rng
    )
    return _summarise(data, by, keys, strata, scores, penalty, C, fold_unit or "row", per_stratum)


def _prepare(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    by: tuple[str, ...],
    fold_unit: str | None,
    nonfinite: Literal["raise", "drop"],
) -> tuple[ScoresData, np.ndarray, pd.DataFrame, np.ndarray | None]:
    """The validated rows, their stratum codes and keys, and the fold units' codes."""
    data = prepare_scores(
        table, q, m, [*by, *([fold_unit] if fold_unit else [])], nonfinite=nonfinite
    )
    strata, keys = get_stratum_codes(data.frame, by)
    units = get_unit_codes(data.frame, fold_unit) if fold_unit else None
    return data, strata, keys, units


def cross_validate_arrays(
    q: np.ndarray,
    m: np.ndarray,
    strata: np.ndarray,
    n_strata: int,
    units: np.ndarray | None,
    *,
    n_folds: int = 5,
    penalty: str = "l2",
    C: float = 1.0,
    rng: np.random.Generator | None = None,
) -> FoldScores:
    """Per-(stratum, fold) AUC and CE on validated arrays (``strata`` coded ``0..n_strata-1``)."""
    folds = assign_folds(strata, units, n_folds, np.random.default_rng(rng))
    n_fit = n_strata * n_folds
    fit_id = strata * n_folds + folds
    size = np.bincount(strata, minlength=n_strata)
    positives = np.bincount(strata, weights=m, minlength=n_strata)
    two_class = (positives > 0) & (positives < size)
    eta = np.zeros(q.size)
    per_fit = {
        k: np.zeros(n_fit, dtype=bool) for k in ("fitted", "separated", "constant", "converged")
    }
    slope = np.full(n_fit, np.nan)
    for fold in range(n_folds):
        train = (folds != fold) & two_class[strata]
        fits = fit_grouped_logistic(
            q[train], m[train], strata[train], n_strata, penalty=penalty, C=C
        )
        test = (folds == fold) & two_class[strata]
        eta[test] = np.nan_to_num(fits.decision_function(q[test], strata[test]))
        at = np.arange(n_strata) * n_folds + fold
        for name in per_fit:
            per_fit[name][at] = getattr(fits, name)
        slope[at] = fits.slope
    n_test = np.bincount(fit_id, minlength=n_fit)
    test_pos = np.bincount(fit_id, weights=m, minlength=n_fit)
    train_n = np.repeat(size, n_folds) - n_test
    train_pos = np.repeat(positives, n_folds) - test_pos
    status = _status(np.repeat(two_class, n_folds), n_test, test_pos, train_n, train_pos, per_fit)
    used = status == 0
    auc, raw = _fold_aucs(q, m, eta, fit_id, n_fit, slope)
    auc, raw = np.where(used, auc, np.nan), np.where(used, raw, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ce = np.bincount(fit_id, weights=log_loss_terms(eta, m), minlength=n_fit) / n_test
        prior = train_pos / train_n
        prior_ce = -(test_pos * np.log(prior) + (n_test - test_pos) * np.log1p(-prior)) / n_test
    return FoldScores(
        n_folds,
        folds,
        status,
        auc,
        raw,
        np.where(used, ce, np.nan),
        np.where(used, prior_ce, np.nan),
        np.where(used, slope, np.nan),
        n_test,
        used & per_fit["constant"],
        per_fit["converged"] | ~used,
    )


def _fold_aucs(
    q: np.ndarray, m: np.ndarray, eta: np.ndarray, fit_id: np.ndarray, n_fit: int, slope: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out AUC of the fitted log-odds and of Q itself, per (stratum, fold).

    Sorting is the costly part at millions of rows, and it is shared: Q's order within
    the folds is the same for every task model of a run (same folds, same Q), and the
    log-odds of a one-feature fit follow Q's order (reversed where the slope is negative),
    so their ranks come from the same order without sorting again.
    """
    order = remember("rank-order", (q, fit_id), lambda: rank_order(q, fit_id), transient=True)
    raw_ranks = remember(
        "ranks", (q, fit_id), lambda: grouped_midranks(q, fit_id, order), transient=True
    )
    eta_ranks = monotone_midranks(eta, fit_id, order, np.nan_to_num(slope), (q, raw_ranks))
    auc = grouped_roc_auc(m, eta, fit_id, n_fit, ranks=eta_ranks)[0]
    return auc, grouped_roc_auc(m, q, fit_id, n_fit, ranks=raw_ranks)[0]


def _status(
    two_class: np.ndarray,
    n_test: np.ndarray,
    test_pos: np.ndarray,
    train_n: np.ndarray,
    train_pos: np.ndarray,
    per_fit: dict[str, np.ndarray],
) -> np.ndarray:
    """The first skip reason of every fit (index into FOLD_STATUS; 0 = used)."""
    reasons = [
        ~two_class,
        n_test == 0,
        (train_pos == 0) | (train_pos == train_n),
        (test_pos == 0) | (test_pos == n_test),
        per_fit["separated"],
    ]
    status = np.zeros(n_test.size, dtype=np.int8)
    for code, reason in reversed(list(enumerate(reasons, start=1))):
        status[reason] = code
    return status


def _summarise(
    data: ScoresData, by: tuple[str, ...], keys: pd.DataFrame, strata: np.ndarray,
    scores: FoldScores, penalty: str, C: float, fold_unit: str, per_stratum: bool
) -> StratifiedCVResult:  # fmt: skip
    used = scores.used
    n_strata = len(keys)
    if not used.any():
        counts = {
            FOLD_STATUS[c]: int((scores.status == c).sum()) for c in range(1, len(FOLD_STATUS))
        }
        raise DegenerateDataError(
            f"no usable fold within strata of {', '.join(by)} ({n_strata} strata x "
            f"{scores.n_folds} folds); skipped: {counts}. M needs both classes within strata"
        )
    stratum_used = used.reshape(n_strata, scores.n_folds).any(axis=1)
    single = int((scores.status.reshape(n_strata, -1)[:, 0] == 1).sum())
    skipped = {FOLD_STATUS[c]: int((scores.status == c).sum()) for c in range(1, len(FOLD_STATUS))}
    notes = [
        f"folds keep each {fold_unit} on one side" if fold_unit != "row" else "folds split rows"
    ]
    if scores.constant_q.any():
        notes.append(
            f"{int(scores.constant_q.sum())} used folds had Q constant in training: "
            "slope 0, AUC 0.5"
        )
    return StratifiedCVResult(
        by=by,
        q_column=data.q_column,
        m_column=data.m_column,
        penalty=penalty,
        C=C if penalty == "l2" else None,
        n_folds=scores.n_folds,
        fold_unit=fold_unit,
        n_rows=data.n_rows,
        n_dropped_nonfinite=data.n_dropped_nonfinite,
        accuracy=float(data.m.mean()),
        n_strata=n_strata,
        n_strata_used=int(stratum_used.sum()),
        n_strata_single_class=single,
        n_folds_total=int(scores.status.size),
        n_folds_used=int(used.sum()),
        n_folds_skipped=int((~used).sum()),
        skipped=skipped,
        n_folds_constant_q=int(scores.constant_q.sum()),
        n_folds_not_converged=int((~scores.converged).sum()),
        mean_auc_score=float(np.nanmean(scores.auc)),
        sd_auc=_sd(scores.auc),
        mean_raw_auc_score=float(np.nanmean(scores.raw_auc)),
        share_positive_slope=float(np.mean(scores.slope[used] > 0)),
        mean_ce_loss=float(np.nanmean(scores.ce)),
        sd_ce=_sd(scores.ce),
        mean_prior_ce_loss=float(np.nanmean(scores.prior_ce)),
        mean_ce_gain=float(np.nanmean(scores.prior_ce - scores.ce)),
        per_stratum=_per_stratum(keys, strata, data.m, scores) if per_stratum else None,
        notes=tuple(notes),
    )


def _sd(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def _per_stratum(
    keys: pd.DataFrame, strata: np.ndarray, m: np.ndarray, scores: FoldScores
) -> pd.DataFrame:
    """One row per stratum; the means are NaN exactly where ``status`` is not ``used``."""
    k = scores.n_folds
    table = keys.copy()
    table["n_rows"] = np.bincount(strata, minlength=len(keys))
    table["accuracy"] = np.bincount(strata, weights=m, minlength=len(keys)) / table["n_rows"]
    used = scores.used.reshape(-1, k)
    table["n_folds_used"] = used.sum(axis=1)
    for name, column in (
        ("auc", "mean_auc_score"),
        ("raw_auc", "mean_raw_auc_score"),
        ("ce", "mean_ce_loss"),
        ("prior_ce", "mean_prior_ce_loss"),
    ):
        values = getattr(scores, name).reshape(-1, k)
        total = np.where(used, values, 0.0).sum(axis=1)
        table[column] = np.where(used.any(axis=1), total / np.maximum(used.sum(axis=1), 1), np.nan)
    first = scores.status.reshape(-1, k)[:, 0]
    table["status"] = np.where(
        used.any(axis=1), "used", np.where(first == 1, "single_class_stratum", "no_usable_fold")
    )
    return table
