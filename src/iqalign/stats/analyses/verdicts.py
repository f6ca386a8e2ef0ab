"""Verdicts: run every testable claim of a DAG's plan on a scores table.

For each plan of :func:`iqalign.causal.plan_tests` the stratifier columns are bound to the
chosen model (``pred_*`` -> ``pred_<m>`` for M = ``correct_<m>``), the conditional-
independence test of :mod:`iqalign.stats.analyses.citests` runs (default: the conditional logistic
score test, cluster-robust by image ID), the p-values of all claims tested together are
Holm-adjusted, and each claim gets a verdict by the rule below. Claims the causal layer
refused are listed with its reason, as is a claim whose column the table lacks.

The verdict rule
----------------
``alpha`` (0.05) applies to the Holm-adjusted p-value; the effect is the test's log-odds
ratio (per within-stratum SD of Q for ``score``/``lr``; upper vs lower half of Q for
``cmh``) with its ``1 - alpha`` interval; ``margin`` is the equivalence margin on it
(default 0.1 per SD, about 0.53 in AUC terms; 0.16 for ``cmh``, the same effect across
the ~1.6 SD between the halves' means).

DAG expects independence (Q and M separated given the stratifiers):

- test rejects                                   -> **contradicted**;
- test does not reject, interval inside +-margin  -> **consistent** (an equivalence
  check: absence of evidence alone is not evidence of absence);
- test does not reject, interval reaches outside  -> **inconclusive** (too little data).

DAG expects dependence (connected):

- test rejects                                   -> **consistent**;
- test does not reject                           -> **inconclusive**: a DAG allows a
  dependence but does not force one (faithfulness is an extra assumption), so no data
  can contradict it; the note says when the interval lies inside +-margin.

A rejection whose interval lies inside +-margin is still a rejection (the DAG implies
*exact* independence); its note says the dependence is negligible in size.

Examples
--------
>>> from iqalign.causal import load_dag
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> dag = load_dag("common_corruptions")
>>> table = simulate_scores(dag, n_ids=100, seed=0)
>>> result = run_verdicts(dag, table, "q_sim", "correct_sim")
>>> result.rows[["claim", "verdict"]].iloc[3:5].values.tolist()
[['Q !_||_ M | X0', 'consistent'], ['Q !_||_ M | Y', 'consistent']]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from iqalign.errors import (
    ColumnNotFoundError,
    DegenerateDataError,
    ScoresTableError,
    TooFewClustersError,
)
from iqalign.scores import load_scores, model_of
from iqalign.stats.analyses.citests import CITestResult, ci_test, holm_adjust
from iqalign.stats.core.arguments import check_alpha, check_positive
from iqalign.stats.core.results import ResultMixin
from iqalign.stats.core.table import resolve_column

if TYPE_CHECKING:  # iqalign.causal is imported where it is used (keeps import light)
    from iqalign.causal import Dag, TestPlan

__all__ = ["DEFAULT_MARGINS", "VERDICTS", "VerdictResult", "decide_verdict", "run_verdicts"]

VERDICTS: tuple[str, ...] = ("consistent", "contradicted", "inconclusive", "not tested")
DEFAULT_MARGINS: dict[str, float] = {"score": 0.1, "lr": 0.1, "cmh": 0.16}


@dataclass(frozen=True)
class VerdictResult(ResultMixin):
    """One row per claim of the DAG's plan (tested or not), in ``rows``."""

    dag: str
    q_column: str
    m_column: str
    test: str
    alpha: float
    margin: float
    n_tested: int
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.rows.copy()


def decide_verdict(
    expect_independent: bool, p_holm: float, ci: tuple[float, float], alpha: float, margin: float
) -> tuple[str, str]:
    """The verdict and its reason, by the rule in the module docs.

    Parameters
    ----------
    expect_independent
        Whether the DAG implies that Q and M are independent given the stratifiers.
    p_holm
        The test's Holm-adjusted p-value.
    ci
        The effect's ``1 - alpha`` interval (low, high).
    alpha
        The level the adjusted p-value is compared with.
    margin
        The equivalence margin on the effect.

    Returns
    -------
    tuple[str, str]
        The verdict (one of :data:`VERDICTS`) and the reason, in words.

    Examples
    --------
    >>> decide_verdict(True, 0.40, (-0.03, 0.05), 0.05, 0.1)[0]
    'consistent'
    >>> decide_verdict(False, 0.40, (-0.03, 0.05), 0.05, 0.1)[0]
    'inconclusive'
    """
    rejects = p_holm < alpha
    inside = -margin < ci[0] and ci[1] < margin
    band = f"+-{margin:g}"
    if expect_independent:
        if rejects:
            tail = f"; the effect is negligible in size (interval inside {band})" if inside else ""
            return "contradicted", f"dependence detected (Holm-adjusted p < {alpha:g}){tail}"
        if inside:
            return (
                "consistent",
                f"no dependence detected and the effect interval lies inside {band}",
            )
        return (
            "inconclusive",
            f"no dependence detected, but the effect interval reaches beyond {band}",
        )
    if rejects:
        return "consistent", f"dependence detected (Holm-adjusted p < {alpha:g}), as the DAG allows"
    tail = f"; the effect interval lies inside {band}" if inside else ""
    return "inconclusive", f"no dependence detected; the DAG allows but does not force one{tail}"


def run_verdicts(
    dag: Dag | str | Path,
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    *,
    test: str = "score",
    alpha: float = 0.05,
    margin: float | None = None,
    cluster: str | None = "image_id",
) -> VerdictResult:
    """Test every claim of ``dag``'s plan on ``table`` for quality ``q`` and performance ``m``.

    Parameters
    ----------
    dag
        A loaded DAG, a built-in name or a path.
    table
        A scores table: a DataFrame, a Parquet file or a folder of Parquet shards.
    q
        The quality column (``q_*``).
    m
        The performance column (``correct_*``: 0/1 per row).
    test
        The conditional-independence test (see :func:`ci_test`).
    alpha
        The level of the Holm-adjusted p-values.
    margin
        The equivalence margin; ``None``: the test's default.
    cluster
        The cluster column (image IDs); ``None`` treats rows as independent.

    Returns
    -------
    VerdictResult
        One row per claim: its test, verdict and reason.
    """
    return run_verdicts_with(
        dag, table, q, m, test=test, alpha=alpha, margin=margin, cluster=cluster, run_test=ci_test
    )


def run_verdicts_with(
    dag: Dag | str | Path,
    table: pd.DataFrame | str | Path,
    q: str,
    m: str,
    *,
    test: str = "score",
    alpha: float = 0.05,
    margin: float | None = None,
    cluster: str | None = "image_id",
    run_test: Callable[..., Any] = ci_test,
) -> VerdictResult:
    """:func:`run_verdicts` with ``run_test`` for :func:`~iqalign.stats.ci_test`: a
    function that returns what it would (the analysis runner passes one that remembers
    results, since several DAGs plan the same test of one pair).
    """
    from iqalign.causal import load_dag, plan_tests

    dag = load_dag(dag) if isinstance(dag, str | Path) else dag
    frame = load_scores(table)
    q_column, m_column = (
        resolve_column(frame, q, "quality"),
        resolve_column(frame, m, "performance"),
    )
    check_alpha(alpha)
    margin = DEFAULT_MARGINS[test] if margin is None else margin
    check_positive(margin, "margin", "the equivalence margin on the effect")
    rows = []
    for plan in plan_tests(dag):
        row = _base_row(plan)
        if not plan.testable:
            rows.append({**row, "verdict": "not tested", "reason": plan.refused,
                         "refused_by": "plan"})  # fmt: skip
            continue
        try:
            by = tuple(_bind(frame, column, m_column) for column in plan.stratifiers)
            options = {"test": test, "cluster": cluster, "alpha": alpha}
            result = run_test(frame, q_column, m_column, by, **options)
        except (ColumnNotFoundError, DegenerateDataError, ScoresTableError) as err:
            rows.append({**row, "verdict": "not tested", "reason": str(err), "refused_by": "data"}
                        | _refusal_fields(err))  # fmt: skip
            continue
        rows.append({**row, **_result_fields(result)})
    table_rows = pd.DataFrame(rows)
    _apply_holm(table_rows, alpha, margin)
    notes = _column_notes(dag, q_column, m_column)
    return VerdictResult(
        dag=dag.name,
        q_column=q_column,
        m_column=m_column,
        test=test,
        alpha=alpha,
        margin=margin,
        n_tested=int(table_rows["p_value"].notna().sum()) if "p_value" in table_rows else 0,
        rows=table_rows,
        notes=tuple(notes),
    )


def _base_row(plan: TestPlan) -> dict[str, Any]:
    notes = [plan.note] if plan.note else []
    if plan.readings_disagree:
        notes.append("readings disagree: see 'iqalign dag check'")
    return {
        "claim": str(plan.claim),
        "origin": plan.origin,
        "expected": plan.expected,
        "stratifiers": ", ".join(plan.stratifiers),
        "plan_note": "; ".join(notes),
    }


def _bind(frame: pd.DataFrame, column: str, m_column: str) -> str:
    """A plan column, with a ``pred_*`` pattern bound to the model of ``correct_<m>``."""
    if column.endswith("*"):
        column = column[:-1] + model_of(m_column)
    return resolve_column(frame, column)


def _refusal_fields(err: Exception) -> dict:
    """What a refused test lacked, where the error says it in numbers."""
    if isinstance(err, TooFewClustersError):
        return {"refused_df": err.df, "refused_min_df": err.min_df,
                "refused_clusters": err.n_clusters}  # fmt: skip
    return {}


def _result_fields(result: CITestResult) -> dict[str, Any]:
    return {
        "bound_stratifiers": ", ".join(result.by),
        "test": result.test,
        "variance": result.variance,
        "n_rows_used": result.n_rows_used,
        "n_strata": result.n_strata,
        "n_strata_used": result.n_strata_used,
        "n_strata_skipped": sum(result.skipped.values()),
        "accuracy": result.accuracy,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "effect": result.effect,
        "effect_ci_low": result.effect_ci[0],
        "effect_ci_high": result.effect_ci[1],
    }


def _apply_holm(rows: pd.DataFrame, alpha: float, margin: float) -> None:
    if "p_value" not in rows:
        rows["p_holm"] = np.nan
        return
    rows["p_holm"] = holm_adjust(rows["p_value"].to_numpy(dtype=np.float64))
    for i in np.flatnonzero(rows["p_value"].notna().to_numpy()):
        row = rows.iloc[i]
        verdict, reason = decide_verdict(
            row["expected"] == "separated",
            float(row["p_holm"]),
            (float(row["effect_ci_low"]), float(row["effect_ci_high"])),
            alpha,
            margin,
        )
        rows.loc[rows.index[i], ["verdict", "reason"]] = [verdict, reason]


def _column_notes(dag: Dag, q_column: str, m_column: str) -> list[str]:
    from iqalign.causal import find_qm_nodes

    notes: list[str] = []
    for node_name, chosen in zip(find_qm_nodes(dag), (q_column, m_column), strict=True):
        column = dag.node(node_name).column if node_name else None
        if column and not column.endswith("*") and column != chosen:
            notes.append(f"the DAG maps {node_name} to column {column!r}; analysed {chosen!r}")
    return notes
