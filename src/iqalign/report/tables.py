"""Report tables shaped like the paper's: Tables 1-4, Fig. 20's numbers, verdicts.

Pure functions from the analysis tables of :mod:`iqalign.stats.runner.analysis` to small
display frames with formatted intervals. Numbers stay numbers where a reader sorts by
them (AUC, CE); intervals are rendered as ``[low, high]`` text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iqalign.report.paper_values import find_paper_values

__all__ = [
    "ESTIMATOR_FAMILY",
    "FAMILY_TITLES",
    "PAPER_TABLE_COLUMN",
    "best_and_worst",
    "family_summary",
    "paper_table",
    "refusal_summary",
    "stratified_table",
    "uncalibrated_note",
    "verdict_details",
    "verdict_overview",
    "verdict_summary",
]

# msp/atc/doc columns are ingredients of set-level accuracy estimators (report section
# "Estimating accuracy without labels"), not quality metrics: Tables 1-4 and the family
# summary leave them out.
ESTIMATOR_FAMILY = "accuracy_estimator"

FAMILY_TITLES = {
    "classic_nr": "Classic no-reference IQA (paper Table 1)",
    "tv": "Total variation (paper Table 1)",
    "classic_fr": "Full-reference IQA against the clean image",
    "strong_tg": "Strong task-guided IQA (paper Tables 2 and 4)",
    "zsclip": "Weak task-guided ZSCLIP-IQA (paper Table 3)",
    "accuracy_estimator": "Label-free accuracy estimators (MSP, ATC, DoC)",
    "unknown": "Quality columns without manifest metadata",
}

#: The column of a :func:`paper_table` naming the paper's table(s) that hold the pair;
#: present only when some pair of the table is in the paper.
PAPER_TABLE_COLUMN = "paper table"
_PAPER_SUFFIX = " (paper)"
_STATISTIC_LABELS = {"auc": "AUC", "ce": "CE", "krcc": "|KRCC|", "plcc": "|PLCC|", "srcc": "|SRCC|"}


def _interval(low: float, high: float, digits: int = 3) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _abs_interval(low: float, high: float) -> str:
    """The interval of |r| from the interval of r."""
    if pd.isna(low) or pd.isna(high):
        return "–"
    if low <= 0 <= high:
        return f"[0.000, {max(abs(low), abs(high)):.3f}]"
    a, b = sorted((abs(low), abs(high)))
    return f"[{a:.3f}, {b:.3f}]"


def _calibrated_abs_interval(row: pd.Series) -> str | None:
    """|r|'s interval if that kind of interval reached its level in the calibration;
    ``None`` otherwise: :func:`paper_table` leaves a column of them out, and
    :func:`uncalibrated_note` says why, once."""
    if "ci_calibrated" not in row or bool(row["ci_calibrated"]):
        return _abs_interval(row["ci_low"], row["ci_high"])
    return None


def uncalibrated_note(correlations: pd.DataFrame) -> str:
    """One sentence naming the group-correlation intervals left out of the tables because
    their kind did not reach its level in the calibration ("" when none was).

    Examples
    --------
    >>> rows = pd.DataFrame({"scope": "all", "method": ["pearson", "spearman", "kendall"],
    ...     "ci_calibrated": [True, False, False], "ci_coverage": [0.94, 0.76, 0.74]})
    >>> uncalibrated_note(rows)  # doctest: +NORMALIZE_WHITESPACE
    'The intervals of |SRCC| and |KRCC| are left out: in the calibration (200 and 500 image
    IDs, docs/stats.md) those cluster-bootstrap intervals covered the true rank
    correlation in only 74%–76% of replicates, below the 93% a 95% interval must reach
    (rank correlations of noisy group means are attenuated, and no correction is applied).'
    """
    from iqalign.stats.core.coverage import COVERAGE_TARGET

    if correlations.empty or "ci_calibrated" not in correlations:
        return ""
    rows = correlations[(correlations["scope"] == "all") & ~correlations["ci_calibrated"]]
    rows = rows[~(rows["ci_coverage"] >= COVERAGE_TARGET)]  # short of its level, or unmeasured
    labels = {"pearson": "|PLCC|", "spearman": "|SRCC|", "kendall": "|KRCC|"}
    methods = [m for m in ("pearson", "spearman", "kendall") if m in set(rows["method"])]
    if not methods:
        return ""
    coverage = rows["ci_coverage"].dropna()
    measured = (f"covered the true rank correlation in only {_span(coverage)} of replicates"
                if not coverage.empty else "were not measured")  # fmt: skip
    return (
        f"The intervals of {' and '.join(labels[m] for m in methods)} are left out: in the "
        f"calibration (200 and 500 image IDs, docs/stats.md) those cluster-bootstrap "
        f"intervals {measured}, below the {COVERAGE_TARGET:.0%} a 95% interval must reach "
        "(rank correlations of noisy group means are attenuated, and no correction is "
        "applied)."
    )


def _span(values: pd.Series) -> str:
    low, high = f"{values.min():.0%}", f"{values.max():.0%}"
    return low if low == high else f"{low}–{high}"


def paper_table(
    pooled: pd.DataFrame, correlations: pd.DataFrame, family: str, *, paper: bool = True
) -> pd.DataFrame:
    """One row per (model, metric) of ``family``: AUC, CE and prior CE on the held-out
    20 %, and |KRCC|, |PLCC|, |SRCC| across all (corruption, severity) groups.

    With ``paper`` (the default), where some pair is one of the paper's Tables 1-4
    (:mod:`iqalign.report.paper_values`), each statistic gets a ``"<statistic> (paper)"``
    column beside it with the paper's value as printed, and :data:`PAPER_TABLE_COLUMN`
    says which table; a pair the paper lacks has empty cells there. A table without any
    of the paper's pairs is returned without these columns.
    """
    rows = []
    part = pooled[pooled["family"] == family] if not pooled.empty else pooled
    records = part.to_dict("records")
    for record in records:
        corr = _all_scope(correlations, record["model"], record["metric"])
        row = {
            "model (M)": record["model"],
            "metric (Q)": record["metric"],
            "Q from": record["q_model"] or "image",
            "AUC": record["auc_score"],
            # the clustered DeLong interval: the one that held its level (docs/stats.md)
            "AUC 95% CI": _interval(record["auc_delong_ci_low"], record["auc_delong_ci_high"]),
            "raw AUC of Q": record["raw_auc_score"],
            "slope": "+"
            if record["slope_sign"] > 0
            else ("-" if record["slope_sign"] < 0 else "0"),
            "CE": record["ce_loss"],
            "prior CE": record["prior_ce_loss"],
        }
        for method, label in (("kendall", "|KRCC|"), ("pearson", "|PLCC|"), ("spearman", "|SRCC|")):
            if method in corr.index:
                row[label] = abs(corr.loc[method, "r"])
                row[f"{label} CI"] = _calibrated_abs_interval(corr.loc[method])
            else:
                row[label], row[f"{label} CI"] = np.nan, "–"
        rows.append(row)
    frame = pd.DataFrame(rows)
    uncalibrated = [c for c in frame.columns if c.endswith(" CI") and frame[c].isna().all()]
    frame = frame.drop(columns=uncalibrated)
    return _with_paper_values(frame, records) if paper else frame


def _with_paper_values(frame: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    """``frame`` with the paper's printed value beside each statistic, pair by pair."""
    found = [find_paper_values(r["model"], r["metric"], r["q_model"]) for r in records]
    if not any(found):
        return frame
    frame = frame.copy()
    column = [cells["tables"] if cells else "" for cells in found]
    frame.insert(frame.columns.get_loc("Q from") + 1, PAPER_TABLE_COLUMN, column)
    for statistic, label in _STATISTIC_LABELS.items():
        column = [cells[statistic] if cells else "" for cells in found]
        frame.insert(frame.columns.get_loc(label) + 1, f"{label}{_PAPER_SUFFIX}", column)
    return frame


def _all_scope(correlations: pd.DataFrame, model: str, metric: str) -> pd.DataFrame:
    if correlations.empty:
        return pd.DataFrame(columns=["r", "ci_low", "ci_high"])
    mask = (
        (correlations["model"] == model)
        & (correlations["metric"] == metric)
        & (correlations["scope"] == "all")
    )
    return correlations[mask].set_index("method")


def family_summary(pooled: pd.DataFrame, correlations: pd.DataFrame) -> pd.DataFrame:
    """Per family (and, for classifier-based Q, same vs other model): mean and range of the
    pooled AUC and of |SRCC| over the (model, metric) pairs."""
    if not pooled.empty:
        pooled = pooled[pooled["family"] != ESTIMATOR_FAMILY]
    if pooled.empty:
        return pd.DataFrame()
    frame = pooled.copy()
    frame["Q from"] = np.where(
        frame["q_model"].eq(""),
        "image",
        np.where(frame["same_model"], "same model as M", "other model"),
    )
    srcc = []
    for record in frame.to_dict("records"):
        corr = _all_scope(correlations, record["model"], record["metric"])
        srcc.append(abs(corr.loc["spearman", "r"]) if "spearman" in corr.index else np.nan)
    frame["abs_srcc"] = srcc
    summary = (
        frame.groupby(["family", "Q from"], sort=False)
        .agg(
            pairs=("auc_score", "size"),
            mean_auc=("auc_score", "mean"),
            min_auc=("auc_score", "min"),
            max_auc=("auc_score", "max"),
            mean_abs_srcc=("abs_srcc", "mean"),
        )
        .reset_index()
        .sort_values("mean_auc", ascending=False)
    )
    return summary.rename(
        columns={
            "mean_auc": "mean AUC",
            "min_auc": "min AUC",
            "max_auc": "max AUC",
            "mean_abs_srcc": "mean |SRCC|",
        }
    )


def stratified_table(stratified: pd.DataFrame) -> pd.DataFrame:
    """Fig. 20's numbers with the skipped-strata counts beside them."""
    if stratified.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "model (M)": stratified["model"],
            "metric (Q)": stratified["metric"],
            "within": stratified["by"],
            "strata used/all": [
                f"{u}/{a}"
                for u, a in zip(stratified["n_strata_used"], stratified["n_strata"], strict=True)
            ],
            "folds used/all": [
                f"{u}/{a}"
                for u, a in zip(
                    stratified["n_folds_used"], stratified["n_folds_total"], strict=True
                )
            ],
            "skipped folds": stratified["skipped"],
            "mean AUC": stratified["mean_auc_score"],
            "SD AUC": stratified["sd_auc"],
            "mean CE": stratified["mean_ce_loss"],
            "prior CE": stratified["mean_prior_ce_loss"],
        }
    )


def verdict_summary(verdicts: pd.DataFrame, dag: str) -> pd.DataFrame:
    """Per claim of ``dag``: what the DAG predicts, how it is tested, and the count of
    (model, metric) pairs per verdict."""
    part = verdicts[verdicts["dag"] == dag]
    tested = part[part["verdict"] != "not tested"]
    if tested.empty:
        return pd.DataFrame()
    counts = tested.pivot_table(
        index="claim", columns="verdict", values="model", aggfunc="count", fill_value=0
    )
    first = tested.drop_duplicates("claim").set_index("claim")
    frame = pd.DataFrame(
        {
            "DAG predicts": first["expected"],
            "stratify by": first["stratifiers"].fillna("").replace("", "(pooled)"),
            "test": first["test"],
        }
    )
    for verdict in ("consistent", "contradicted", "inconclusive"):
        frame[verdict] = counts[verdict] if verdict in counts.columns else 0
    return frame.reset_index()


def verdict_details(verdicts: pd.DataFrame, dag: str) -> pd.DataFrame:
    """One row per (model, metric), one column per tested claim; a cell holds the verdict,
    the effect (log-odds per SD of Q) and the Holm-adjusted p-value."""
    part = verdicts[(verdicts["dag"] == dag) & (verdicts["verdict"] != "not tested")]
    if part.empty:
        return pd.DataFrame()
    cells = part.assign(
        cell=[
            f"{verdict} ({effect:+.2f}, p={p:.2g})" if pd.notna(effect) and pd.notna(p) else verdict
            for verdict, effect, p in zip(
                part["verdict"], part["effect"], part["p_holm"], strict=True
            )
        ]
    )
    wide = cells.pivot_table(
        index=["model", "metric"], columns="claim", values="cell", aggfunc="first", sort=False
    )
    wide = wide[list(dict.fromkeys(part["claim"]))]
    return wide.reset_index().rename(columns={"model": "model (M)", "metric": "metric (Q)"})


def best_and_worst(table: pd.DataFrame, by: str = "AUC") -> pd.DataFrame:
    """The compact view of a :func:`paper_table`: per model, the metric with the highest
    and the one with the lowest ``by`` (one row when they coincide)."""
    if table.empty or by not in table.columns:
        return table
    rows = []
    for _, part in table.groupby("model (M)", sort=False):
        ordered = part.sort_values(by, ascending=False, na_position="last")
        picked = ordered.iloc[[0, -1]] if len(ordered) > 1 else ordered
        rows.append(picked.assign(shown=["best", "worst"][: len(picked)]))
    frame = pd.concat(rows, ignore_index=True)
    return frame[["shown", *table.columns]]


def verdict_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per DAG: how many tested (claim, model, metric) rows got each verdict."""
    if verdicts.empty:
        return pd.DataFrame()
    tested = verdicts[verdicts["verdict"] != "not tested"]
    if tested.empty:
        return pd.DataFrame()
    counts = tested.pivot_table(
        index="dag", columns="verdict", values="model", aggfunc="count", fill_value=0
    )
    frame = pd.DataFrame(index=counts.index)
    for verdict in ("consistent", "contradicted", "inconclusive"):
        frame[verdict] = counts[verdict] if verdict in counts.columns else 0
    return frame.reset_index().rename(columns={"dag": "DAG"})


def refusal_summary(verdicts: pd.DataFrame, dag: str, n_ids: int) -> str:
    """Why a DAG has no verdict although pairs fit it: every planned test was refused.

    Counts the (model, metric) pairs and the tests the data refused, and, for tests refused
    because the image IDs carry too few Bell-McCaffrey degrees of freedom, how many image
    IDs would give them enough (assuming the degrees of freedom grow in proportion)."""
    part = verdicts[verdicts["dag"] == dag]
    pairs = len(part[["model", "metric"]].drop_duplicates())
    by = part["refused_by"] if "refused_by" in part else pd.Series("data", index=part.index)
    data = part[by.eq("data")]
    text = (f"{pairs} (model, metric) pairs fit {dag}'s applies_to, and {len(data)} tests of "
            "its testable claims were planned on them, but the data refused every one")  # fmt: skip
    if data.empty:
        return (f"{pairs} (model, metric) pairs fit {dag}'s applies_to, but none of its "
                "claims can be tested with these columns (see the claims below).")  # fmt: skip
    df = data["refused_df"] if "refused_df" in data else pd.Series(np.nan, index=data.index)
    few = data[df.notna()]
    parts = []
    if not few.empty:
        need = float(few["refused_min_df"].max())
        ids = int(np.ceil(n_ids * need / few["refused_df"].min()))
        parts.append(
            f"{len(few)} because the run's {n_ids} image IDs carry only "
            f"{few['refused_df'].min():.1f}–{few['refused_df'].max():.1f} Bell–McCaffrey degrees "
            f"of freedom where a cluster-robust test needs {need:g} (about {ids} image IDs "
            "would let every one run, if the degrees of freedom grow in proportion to them)"
        )
    other = data[df.isna()]
    for reason, count in other["reason"].value_counts().items():
        parts.append(f"{count} because {_first_clause(reason)}")
    return f"{text}: {'; '.join(parts)}."


def _first_clause(reason: str) -> str:
    return str(reason).split(". ")[0].rstrip(".")
