"""Pooled predictability of performance M from quality Q (paper section 4.2).

Split the image IDs 80/20 (no image on both sides), fit ``P(M=1 | Q)`` by logistic
regression on Q standardised with the training part's mean and SD, and score the
held-out part:

- ``auc_score``: AUC of the fitted model. With one feature the model is monotone in Q,
  so this is the AUC of Q or of -Q, whichever the *training* slope chose;
- ``raw_auc_score``: AUC of Q itself (> 0.5: higher Q goes with correct predictions) and
  ``oriented_auc_score = max(raw, 1 - raw)``, labelled as chosen after seeing the test
  data. Entropy-type metrics are negative quality signals; nothing is flipped silently:
  ``slope_sign`` says which way the fit points;
- ``ce_loss``: mean cross-entropy, beside ``prior_ce_loss``, the cross-entropy of
  predicting the training accuracy for everyone, and their difference ``ce_gain``.

Intervals: DeLong for the AUC with its components summed per test image ID (rows of one
image are not independent; Obuchowski 1997) and a percentile bootstrap that resamples
*test image IDs* (the clusters of rows), for AUC, CE, prior CE and gain.
The bootstrap holds the fitted model fixed: it measures test-set sampling error.

Examples
--------
>>> from iqalign.causal import load_dag
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> table = simulate_scores(load_dag("common_corruptions"), n_ids=40, seed=1)
>>> result = predictability(table, "sim", "sim", n_boot=50, seed=0)
>>> result.n_ids_test, result.slope_sign
(8, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from iqalign.errors import DegenerateDataError, ParameterError
from iqalign.stats.core.arguments import MIN_BOOT, check_alpha, check_at_least, check_positive
from iqalign.stats.core.auc import delong_ci, grouped_roc_auc, weighted_auc
from iqalign.stats.core.codes import unique_codes
from iqalign.stats.core.logistic import fit_grouped_logistic, log_loss_terms
from iqalign.stats.core.results import ResultMixin, percentile_ci
from iqalign.stats.core.splits import resample_counts, split_by_unit
from iqalign.stats.core.table import get_unit_codes, prepare_scores

__all__ = ["PredictabilityResult", "predictability", "predictability_arrays"]

_BOOT_CHUNK = 64


@dataclass(frozen=True)
class PredictabilityResult(ResultMixin):
    """Held-out predictability of M from Q; intervals at level ``1 - alpha``.

    Three AUCs, one of them *the* AUC:

    Attributes
    ----------
    auc_score
        The AUC: the fitted model's on the held-out image IDs (the paper's measure, the
        one every table and verdict uses). Its direction was chosen on the training part.
    raw_auc_score
        The AUC of Q itself, unfitted (> 0.5: higher Q goes with correct predictions).
    oriented_auc_score
        ``max(raw, 1 - raw)``: chosen after seeing the test data, so optimistic; shown
        only to say how strong the signal is either way.
    """

    q_column: str
    m_column: str
    penalty: str
    C: float | None
    n_rows: int
    n_train: int
    n_test: int
    n_ids_train: int
    n_ids_test: int
    n_dropped_nonfinite: int
    train_accuracy: float
    test_accuracy: float
    intercept: float
    slope: float  # log-odds per training SD of Q
    slope_sign: int
    auc_score: float
    auc_delong_ci: tuple[float, float]
    auc_bootstrap_ci: tuple[float, float]
    raw_auc_score: float
    oriented_auc_score: float
    ce_loss: float
    ce_bootstrap_ci: tuple[float, float]
    prior_ce_loss: float
    prior_ce_bootstrap_ci: tuple[float, float]
    ce_gain: float  # prior_ce_loss - ce_loss: > 0 when Q helps
    ce_gain_bootstrap_ci: tuple[float, float]
    n_boot: int
    alpha: float
    notes: tuple[str, ...] = ()


def predictability(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    *,
    penalty: str = "l2",
    C: float = 1.0,
    test_size: float = 0.2,
    n_boot: int = 1000,
    alpha: float = 0.05,
    unit: str = "image_id",
    seed: int | np.random.Generator | None = 0,
    nonfinite: Literal["raise", "drop"] = "raise",
) -> PredictabilityResult:
    """Pooled held-out predictability of M from Q (see the module docs).

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    penalty
        The logistic penalty: ``"none"``, ``"l2"`` or ``"firth"``.
    C
        Inverse strength of the L2 penalty.
    test_size
        The share of units held out for testing.
    n_boot
        Bootstrap resamples of the held-out units, for the intervals.
    alpha
        The intervals are ``1 - alpha``.
    unit
        The column kept whole by the split and resampled by the bootstrap (image IDs).
    seed
        A seed or a numpy Generator for the random draws; the same seed, the same result.
    nonfinite
        ``"raise"`` (on purpose: a NaN Q is a question to the caller): refuse non-finite Q;
        ``"drop"`` (as the runner and ``iqalign report`` do): drop those rows and count them.

    Returns
    -------
    PredictabilityResult
        Held-out AUC and cross-entropy with intervals, and the prior-only baseline.
    """
    data = prepare_scores(table, q, m, [unit], nonfinite=nonfinite)
    units = get_unit_codes(data.frame, unit)
    return predictability_arrays(
        data.q, data.m, units, q_column=data.q_column, m_column=data.m_column,
        penalty=penalty, C=C, test_size=test_size, n_boot=n_boot, alpha=alpha,
        rng=np.random.default_rng(seed), n_dropped_nonfinite=data.n_dropped_nonfinite,
    )  # fmt: skip


def predictability_arrays(
    q: np.ndarray,
    m: np.ndarray,
    units: np.ndarray,
    *,
    q_column: str = "q",
    m_column: str = "m",
    penalty: str = "l2",
    C: float = 1.0,
    test_size: float = 0.2,
    n_boot: int = 1000,
    alpha: float = 0.05,
    rng: np.random.Generator | None = None,
    n_dropped_nonfinite: int = 0,
) -> PredictabilityResult:
    """:func:`predictability` on validated arrays (``units``: integer codes of image IDs)."""
    rng = np.random.default_rng(rng)
    _check_settings(alpha, n_boot, C, test_size)
    _check_pooled(q, m, q_column, m_column)
    test = split_by_unit(units, test_size, rng)
    train = ~test
    fits = _fit_train(q[train], m[train], penalty, C, q_column, m_column)
    eta = fits.decision_function(q[test], np.zeros(int(test.sum()), dtype=np.int64))
    y = m[test]
    if y.min() == y.max():
        raise DegenerateDataError(
            f"the test part ({y.size} rows) has one class of {m_column!r}; AUC is undefined. "
            "Use a larger table or a larger test_size"
        )
    prior = float(m[train].mean())
    prior_eta = np.full(y.size, np.log(prior / (1 - prior)))
    loss, prior_loss = log_loss_terms(eta, y), log_loss_terms(prior_eta, y)
    raw = float(grouped_roc_auc(y, q[test], np.zeros(y.size, dtype=np.int64), 1)[0][0])
    delong = delong_ci(y, eta, alpha, clusters=units[test])
    boot = _bootstrap(y, eta, loss, prior_loss, units[test], n_boot, rng)
    slope = float(fits.slope[0])
    return PredictabilityResult(
        q_column=q_column, m_column=m_column, penalty=penalty,
        C=C if penalty == "l2" else None, n_rows=int(q.size),
        n_train=int(train.sum()), n_test=int(test.sum()),
        n_ids_train=int(unique_codes(units[train])[0].size),
        n_ids_test=int(unique_codes(units[test])[0].size),
        n_dropped_nonfinite=n_dropped_nonfinite, train_accuracy=prior,
        test_accuracy=float(y.mean()), intercept=float(fits.intercept[0]),
        slope=slope, slope_sign=int(np.sign(slope)),
        auc_score=delong.auc, auc_delong_ci=(delong.low, delong.high),
        auc_bootstrap_ci=percentile_ci(boot["auc"], alpha),
        raw_auc_score=raw, oriented_auc_score=max(raw, 1.0 - raw),
        ce_loss=float(loss.mean()), ce_bootstrap_ci=percentile_ci(boot["ce"], alpha),
        prior_ce_loss=float(prior_loss.mean()),
        prior_ce_bootstrap_ci=percentile_ci(boot["prior"], alpha),
        ce_gain=float(prior_loss.mean() - loss.mean()),
        ce_gain_bootstrap_ci=percentile_ci(boot["prior"] - boot["ce"], alpha),
        n_boot=n_boot, alpha=alpha, notes=_notes(boot["invalid"], n_boot),
    )  # fmt: skip


def _check_settings(alpha: float, n_boot: int, C: float, test_size: float) -> None:
    check_alpha(alpha)
    check_at_least(
        n_boot, MIN_BOOT, "n_boot", "fewer resamples leave an interval's tails undefined"
    )
    check_positive(C, "C", "the inverse L2 strength; C -> 0 penalises the slope to 0")
    if not 0.0 < test_size < 1.0:
        raise ParameterError(f"test_size must lie strictly between 0 and 1, got {test_size!r}")


def _notes(invalid: int, n_boot: int) -> tuple[str, ...]:
    """What the intervals are, and how many resamples could not be used."""
    notes = [
        "auc_delong_ci: DeLong clustered by test image ID (Obuchowski), t interval; "
        "auc_bootstrap_ci resamples test image IDs",
        "the bootstrap holds the fitted model fixed (test-set sampling error only)",
    ]
    if invalid:
        notes.append(f"{invalid} of {n_boot} bootstrap resamples had one class and were left out")
    return tuple(notes)


def _check_pooled(q: np.ndarray, m: np.ndarray, q_column: str, m_column: str) -> None:
    if m.min() == m.max():
        raise DegenerateDataError(
            f"{m_column!r} has one class (all {int(m[0])}, n={m.size}): P(M | Q) cannot be "
            "fitted and AUC is undefined"
        )
    if q.min() == q.max():
        raise DegenerateDataError(
            f"{q_column!r} is constant ({q[0]!r} in all {q.size} rows): there is nothing to "
            "predict M from"
        )


def _fit_train(q, m, penalty, C, q_column, m_column):
    if m.min() == m.max():
        raise DegenerateDataError(
            f"the training part ({m.size} rows) has one class of {m_column!r}; cannot fit P(M | Q)"
        )
    fits = fit_grouped_logistic(q, m, np.zeros(q.size, dtype=np.int64), 1, penalty=penalty, C=C)
    if fits.separated[0]:
        raise DegenerateDataError(
            f"{q_column!r} separates {m_column!r} perfectly in the training part: the unpenalised "
            "fit has no finite estimate. Use penalty='firth' or penalty='l2'"
        )
    if fits.constant[0]:
        raise DegenerateDataError(f"{q_column!r} is constant in the training part; nothing to fit")
    return fits


def _bootstrap(y, eta, loss, prior_loss, units, n_boot, rng):
    """Resample test image IDs ``n_boot`` times; AUC, CE and prior CE of every resample."""
    codes, unit = unique_codes(units)
    n_units = codes.size
    per_unit = np.vstack(
        [
            np.bincount(unit, minlength=n_units).astype(np.float64),
            np.bincount(unit, weights=loss, minlength=n_units),
            np.bincount(unit, weights=prior_loss, minlength=n_units),
        ]
    )
    auc_of = weighted_auc(y, eta)
    out: dict[str, Any] = {key: np.empty(n_boot) for key in ("auc", "ce", "prior")}
    for start in range(0, n_boot, _BOOT_CHUNK):
        size = min(_BOOT_CHUNK, n_boot - start)
        counts = resample_counts(n_units, size, rng).astype(np.float64)
        sums = np.einsum("bu,ku->bk", counts, per_unit)  # no BLAS threads for a thin product
        out["ce"][start : start + size] = sums[:, 1] / sums[:, 0]
        out["prior"][start : start + size] = sums[:, 2] / sums[:, 0]
        out["auc"][start : start + size] = auc_of.resampled(counts, unit)
    out["invalid"] = int(np.isnan(out["auc"]).sum())
    return out
