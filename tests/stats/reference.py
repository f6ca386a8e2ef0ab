"""The scikit-learn loop that :mod:`iqalign.stats.analyses.stratified` replaces (for tests and benchmarks).

One ``StandardScaler`` + ``LogisticRegression`` + ``roc_auc_score`` per (stratum, fold),
on the *same* folds as the vectorised path, with the same skip rules. It is slow by
design (milliseconds per fit): it is the reference the vectorised fits must match.

The AUC is computed on ``decision_function`` (the log-odds): it ranks rows exactly as
``predict_proba`` does, without the ties that saturated probabilities would create.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["sklearn_cross_validate"]


def sklearn_cross_validate(
    q: np.ndarray,
    m: np.ndarray,
    strata: np.ndarray,
    folds: np.ndarray,
    n_folds: int,
    *,
    penalty: str = "l2",
    C: float = 1.0,
    only_strata: Iterable[int] | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
) -> pd.DataFrame:
    """One row per (stratum, fold) fitted with scikit-learn: status, auc, ce, prior_ce, slope.

    ``penalty`` is ``"l2"`` (``C``) or ``"none"`` (``C=inf``); scikit-learn has no Firth fit.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    if penalty not in ("l2", "none"):
        raise ValueError(f"scikit-learn has no {penalty!r} penalty; use 'l2' or 'none'")
    order = np.argsort(strata, kind="stable")
    bounds = np.searchsorted(strata[order], np.arange(int(strata.max()) + 2))
    wanted = range(int(strata.max()) + 1) if only_strata is None else only_strata
    rows = []
    for stratum in wanted:
        idx = order[bounds[stratum] : bounds[stratum + 1]]
        for fold in range(n_folds):
            test, train = idx[folds[idx] == fold], idx[folds[idx] != fold]
            row = {
                "stratum": int(stratum),
                "fold": fold,
                "status": _skip(q, m, train, test, penalty),
            }
            if row["status"] == "used":
                scaler = StandardScaler().fit(q[train, None])
                model = LogisticRegression(
                    C=np.inf if penalty == "none" else C, tol=tol, max_iter=max_iter
                )
                with warnings.catch_warnings():
                    warnings.simplefilter(
                        "ignore"
                    )  # ConvergenceWarning: counted by the caller if needed
                    model.fit(scaler.transform(q[train, None]), m[train])
                x_test = scaler.transform(q[test, None])
                prior = float(m[train].mean())
                row.update(
                    auc=roc_auc_score(m[test], model.decision_function(x_test)),
                    ce=log_loss(m[test], model.predict_proba(x_test)[:, 1], labels=[0, 1]),
                    prior_ce=-np.mean(m[test] * np.log(prior) + (1 - m[test]) * np.log1p(-prior)),
                    slope=float(model.coef_[0, 0]),
                )
            rows.append(row)
    return pd.DataFrame(rows)


def _skip(q: np.ndarray, m: np.ndarray, train: np.ndarray, test: np.ndarray, penalty: str) -> str:
    if m[np.r_[train, test]].min() == m[np.r_[train, test]].max():
        return "single_class_stratum"
    if test.size == 0:
        return "empty"
    if train.size == 0 or m[train].min() == m[train].max():
        return "train_single_class"
    if m[test].min() == m[test].max():
        return "test_single_class"
    if penalty == "none":
        pos, neg = q[train][m[train] == 1], q[train][m[train] == 0]
        if q[train].min() < q[train].max() and (neg.max() <= pos.min() or pos.max() <= neg.min()):
            return "separated"
    return "used"
