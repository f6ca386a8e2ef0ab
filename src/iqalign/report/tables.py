"""Report tables shaped like the paper's: Tables 1-4, Fig. 20's numbers, verdicts.

Pure functions from the analysis tables of :mod:`iqalign.stats.analysis` to small
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
    "stratified_table",
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


def _interval(low, high, digits: int = 3) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _abs_interval(low, high) -> str:
    """The interval of |r| from the interval of r."""
    if pd.isna(low) or pd.isna(high):
        return "–"
    if low <= 0 <= high:
        return f"[0.000, {max(abs(low), abs(high)):.3f}]"
    a, b = sorted((abs(low), abs(high)))
    return f"[{a:.3f}, {b:.3f}]"


def _calibrated_abs_interval(row: pd.Series) -> str:
    """|r|'s interval if that kind of interval reached its level in the calibration;
    otherwise what it covered, so no under-covering "95%" interval is printed as one."""
    if "ci_calibrated" not in row or bool(row["ci_calibrated"]):
        return _abs_interval(row["ci_low"], row["ci_high"])
    coverage = row.get("ci_coverage", np.nan)
    return "– (not calibrated)" if pd.isna(coverage) else f"– (covered {coverage:.0%})"


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
