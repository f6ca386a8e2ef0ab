"""Mild mixtures of clean and corrupted images (paper section 6.3).

From a table with clean rows (``corruption == CLEAN``) and corrupted rows, a p_c variant
keeps every image ID once: a seeded fraction ``p_c`` of the IDs take a corrupted row
(corruption uniform over the types, severity uniform over {1, 2, 3}), the others their
clean row. The pooled predictability test (:mod:`iqalign.stats.analyses.predictability`) runs on
each variant; the summary is the mean AUC over variants (the paper's mAUC: ZSCLIP-IQA
max-logit 0.64 vs CLIP-IQA 0.57).

Each variant draws from its own child of the one seed (``Generator.spawn``), so a
variant does not change when the list of p_c values does.

Examples
--------
>>> from iqalign.causal import load_dag
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> table = simulate_scores(load_dag("common_corruptions"), n_ids=200, seed=0)
>>> variant = make_mixture(table, 0.1, seed=0)
>>> len(variant), int((variant["corruption"] != CLEAN).sum()), variant["image_id"].is_unique
(200, 20, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError
from iqalign.scores import CLEAN
from iqalign.stats.analyses.predictability import PredictabilityResult, predictability
from iqalign.stats.core.results import ResultMixin
from iqalign.stats.core.table import load_scores, resolve_column

__all__ = ["DEFAULT_P_VALUES", "MixtureResult", "make_mixture", "mixture_predictability"]

DEFAULT_P_VALUES: tuple[float, ...] = tuple(k / 100 for k in range(1, 21))


@dataclass(frozen=True)
class MixtureResult(ResultMixin):
    """Pooled predictability on every p_c variant and the mean over variants."""

    q_column: str
    m_column: str
    penalty: str
    n_variants: int
    n_ids: int
    mean_auc_score: float
    sd_auc: float
    mean_raw_auc_score: float
    mean_ce_loss: float
    mean_prior_ce_loss: float
    variants: pd.DataFrame
    notes: tuple[str, ...] = ()


def make_mixture(
    table: pd.DataFrame | str | Path,
    p_c: float,
    *,
    severities: Sequence[int] = (1, 2, 3),
    corruptions: Sequence[str] | None = None,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """One variant: every image ID once, ``round(p_c * n_ids)`` of them corrupted.

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    p_c
        The share of image IDs that are corrupted.
    severities
        The severities a corrupted image's row is drawn from.
    corruptions
        The corruptions drawn from; ``None``: every corruption in the table.
    seed
        A seed or a numpy Generator for the random draws; the same seed, the same result.

    Returns
    -------
    pandas.DataFrame
        The variant's rows.
    """
    frame = load_scores(table)
    index = RowIndex.build(frame)
    rows = index.draw(p_c, severities, corruptions, np.random.default_rng(seed))
    return frame.iloc[rows].reset_index(drop=True)


@dataclass(frozen=True)
class RowIndex:
    """Sorted integer keys (image, corruption, severity) -> row, built once per table."""

    ids: np.ndarray
    kinds: np.ndarray  # corruption names; code 0..len-1
    keys: np.ndarray  # sorted
    rows: np.ndarray  # row of each sorted key
    n_severities: int

    @classmethod
    def build(cls, frame: pd.DataFrame) -> RowIndex:
        for column in ("image_id", "corruption", "severity"):
            resolve_column(frame, column)
        id_code, ids = pd.factorize(frame["image_id"])
        kind_code, kinds = pd.factorize(frame["corruption"].astype(str))
        severity = frame["severity"].to_numpy(np.int64)
        if severity.min() < 0:
            raise ScoresTableError(
                "column 'severity' has negative values; clean rows have severity 0"
            )
        span = int(severity.max()) + 1
        keys = (id_code.astype(np.int64) * len(kinds) + kind_code) * span + severity
        order = np.argsort(keys, kind="stable")  # the first of duplicate rows wins
        return cls(np.asarray(ids), np.asarray(kinds, dtype=str), keys[order], order, span)

    def draw(
        self,
        p_c: float,
        severities: Sequence[int],
        corruptions: Sequence[str] | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        if not 0.0 <= p_c <= 1.0:
            raise ValueError(f"p_c must be in [0, 1], got {p_c!r}")
        n_ids = self.ids.size
        names = [k for k in self.kinds if k != CLEAN] if corruptions is None else list(corruptions)
        kind = np.full(n_ids, CLEAN, dtype=object)
        severity = np.zeros(n_ids, dtype=np.int64)
        corrupted = rng.permutation(n_ids)[: round(p_c * n_ids)]
        if corrupted.size:
            if not names:
                raise ScoresTableError(
                    "the table has no corrupted rows to mix in (only corruption 'none')"
                )
            kind[corrupted] = np.asarray(sorted(names), dtype=object)[
                rng.integers(0, len(names), corrupted.size)
            ]
            severity[corrupted] = np.asarray(severities)[
                rng.integers(0, len(severities), corrupted.size)
            ]
        lookup = {name: code for code, name in enumerate(self.kinds)}
        kind_code = np.array([lookup.get(k, -1) for k in kind], dtype=np.int64)
        wanted = (np.arange(n_ids) * len(self.kinds) + kind_code) * self.n_severities + severity
        at = np.minimum(np.searchsorted(self.keys, wanted), self.keys.size - 1)
        found = (self.keys[at] == wanted) & (kind_code >= 0) & (severity < self.n_severities)
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            raise ScoresTableError(
                f"{int((~found).sum())} image IDs lack the row the mixture needs, e.g. "
                f"image_id={self.ids[i]!r} corruption={kind[i]!r} severity={severity[i]}; a "
                "mixture needs the clean row and every corruption at the chosen severities for "
                "every image ID"
            )
        return self.rows[at]


def mixture_predictability(
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    *,
    p_values: Sequence[float] = DEFAULT_P_VALUES,
    penalty: str = "l2",
    C: float = 1.0,
    n_boot: int = 200,
    seed: int | np.random.Generator | None = 0,
) -> MixtureResult:
    """The pooled test on every p_c variant; mean AUC (and SD) over variants.

    Parameters
    ----------
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    p_values
        The mixture proportions p_c.
    penalty
        The logistic penalty (see :func:`fit_grouped_logistic`).
    C
        Inverse strength of the L2 penalty.
    n_boot
        Bootstrap resamples per variant.
    seed
        A seed or a numpy Generator for the random draws; the same seed, the same result.

    Returns
    -------
    MixtureResult
        The result per variant and the mean AUC (and SD) over variants.
    """
    frame = load_scores(table)
    index = RowIndex.build(frame)
    children = np.random.default_rng(seed).spawn(len(p_values))
    rows = []
    for p_c, rng in zip(p_values, children, strict=True):
        variant = frame.iloc[index.draw(p_c, (1, 2, 3), None, rng)]
        result = predictability(variant, q, m, penalty=penalty, C=C, n_boot=n_boot, seed=rng)
        rows.append(_variant_row(p_c, variant, result))
    variants = pd.DataFrame(rows)
    auc = variants["auc_score"].to_numpy()
    return _summarise(variants, auc, result, penalty)


def _variant_row(p_c: float, variant: pd.DataFrame, result: PredictabilityResult) -> dict[str, Any]:
    """One variant's row: its size and the pooled test's AUC, interval and losses."""
    return {
        "p_c": p_c,
        "n_rows": result.n_rows,
        "n_corrupted": int((variant["corruption"].astype(str) != CLEAN).sum()),
        "auc_score": result.auc_score,
        "auc_ci_low": result.auc_bootstrap_ci[0],
        "auc_ci_high": result.auc_bootstrap_ci[1],
        "raw_auc_score": result.raw_auc_score,
        "slope_sign": result.slope_sign,
        "ce_loss": result.ce_loss,
        "prior_ce_loss": result.prior_ce_loss,
        "test_accuracy": result.test_accuracy,
    }


def _summarise(
    variants: pd.DataFrame, auc: np.ndarray, result: PredictabilityResult, penalty: str
) -> MixtureResult:
    """The mean (and SD) over variants; ``result`` is the last variant's (columns, size)."""
    return MixtureResult(
        q_column=result.q_column,
        m_column=result.m_column,
        penalty=penalty,
        n_variants=len(variants),
        n_ids=result.n_rows,
        mean_auc_score=float(auc.mean()),
        sd_auc=float(auc.std(ddof=1)) if auc.size > 1 else 0.0,
        mean_raw_auc_score=float(variants["raw_auc_score"].mean()),
        mean_ce_loss=float(variants["ce_loss"].mean()),
        mean_prior_ce_loss=float(variants["prior_ce_loss"].mean()),
        variants=variants,
        notes=("auc_ci_*: bootstrap over test image IDs within each variant",),
    )
