"""The report's Tables 1-4 put the paper's value beside ours, only for the paper's pairs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from iqalign.report.document import Document, render_markdown
from iqalign.report.paper_values import PAPER_NOTE
from iqalign.report.run_report import _paper_tables_section
from iqalign.report.tables import PAPER_TABLE_COLUMN, paper_table
from iqalign.scores import MetricInfo, performance_column, prediction_column, quality_column
from iqalign.stats import simulate_scores
from iqalign.stats.runner.analysis import AnalysisSettings, run_analysis

PAPER_COLUMNS = ["AUC (paper)", "CE (paper)", "|KRCC| (paper)", "|PLCC| (paper)",
                 "|SRCC| (paper)"]  # fmt: skip


def _pooled(pairs):
    """A hand-made pooled table: (model, metric, family, q_model, AUC) per pair."""
    rows = [
        {
            "model": model,
            "metric": metric,
            "family": family,
            "q_model": q_model,
            "same_model": model == q_model,
            "auc_score": auc,
            "auc_delong_ci_low": auc - 0.01,
            "auc_delong_ci_high": auc + 0.01,
            "raw_auc_score": auc,
            "slope_sign": 1,
            "ce_loss": 0.5,
            "prior_ce_loss": 0.6,
        }
        for model, metric, family, q_model, auc in pairs
    ]
    return pd.DataFrame(rows)


def _correlations(pooled):
    rows = [
        {
            "model": model,
            "metric": metric,
            "scope": "all",
            "method": method,
            "r": -0.9,
            "ci_low": -0.95,
            "ci_high": -0.8,
        }
        for model, metric in zip(pooled["model"], pooled["metric"], strict=True)
        for method in ("kendall", "pearson", "spearman")
    ]
    return pd.DataFrame(rows)


def test_the_papers_pair_gets_the_papers_values_and_another_pair_nothing():
    pooled = _pooled([
        ("resnet34", "tg_maxprob_resnet34", "strong_tg", "resnet34", 0.84),
        ("resnet34", "tg_maxprob_efficientnet_lite0", "strong_tg", "efficientnet_lite0", 0.8),
        ("resnet34", "tg_maxprob_swin_b", "strong_tg", "swin_b", 0.7),
    ])  # fmt: skip
    frame = paper_table(pooled, _correlations(pooled), "strong_tg").set_index("metric (Q)")
    same = frame.loc["tg_maxprob_resnet34"]
    assert same[PAPER_TABLE_COLUMN] == "2, 4"
    assert same[PAPER_COLUMNS].tolist() == [
        "0.850", "0.461", "0.886 ± 0.015", "0.960 ± 0.015", "0.977 ± 0.021"]  # fmt: skip
    assert same["AUC"] == 0.84 and same["|SRCC|"] == pytest.approx(0.9)  # ours unchanged
    absent = frame.loc["tg_maxprob_efficientnet_lite0"]
    assert absent[[PAPER_TABLE_COLUMN, *PAPER_COLUMNS]].tolist() == [""] * 6
    other = frame.loc["tg_maxprob_swin_b"]  # Table 4 only: no KRCC there
    assert other[PAPER_TABLE_COLUMN] == "4" and other["|KRCC| (paper)"] == ""
    assert other["AUC (paper)"] == "0.774"


def test_each_paper_column_stands_beside_ours():
    pooled = _pooled([("swin_b", "clipiqa", "classic_nr", "", 0.55)])
    columns = list(paper_table(pooled, _correlations(pooled), "classic_nr").columns)
    for ours, paper in zip(["AUC", "CE", "|KRCC|", "|PLCC|", "|SRCC|"], PAPER_COLUMNS,
                           strict=True):  # fmt: skip
        assert columns.index(paper) == columns.index(ours) + 1
    assert columns.index(PAPER_TABLE_COLUMN) == columns.index("Q from") + 1


def test_a_table_without_the_papers_pairs_is_unchanged():
    pooled = _pooled([
        ("a", "tg_maxlogit_a", "strong_tg", "a", 0.8),
        ("efficientnet_lite0", "clipiqa", "classic_nr", "", 0.6),
    ])  # fmt: skip
    correlations = _correlations(pooled)
    for family in ("strong_tg", "classic_nr"):
        frame = paper_table(pooled, correlations, family)
        assert frame.equals(paper_table(pooled, correlations, family, paper=False))
        assert not any("paper" in column for column in frame.columns)


@pytest.fixture(scope="module")
def analysis():
    """A small run with resnet34 and two maxprob columns: its own and another model's."""
    rng = np.random.default_rng(0)
    table = simulate_scores("common_corruptions", n_ids=30, n_labels=6, seed=0)
    own, other = quality_column("tg_maxprob", "resnet34"), quality_column("tg_maxprob", "m2")
    table = table.rename(columns={
        performance_column("sim"): performance_column("resnet34"),
        prediction_column("sim"): prediction_column("resnet34"), quality_column("sim"): own,
    })  # fmt: skip
    table[other] = table[own] + rng.normal(size=len(table))
    metrics = {
        own: MetricInfo(own, "tg_maxprob", "strong_tg", True, "resnet34"),
        other: MetricInfo(other, "tg_maxprob", "strong_tg", True, "m2"),
    }
    settings = AnalysisSettings(n_boot=20, stratified_by=())
    return run_analysis(table, metrics, settings=settings, workers=1)


def _cells(line: str) -> list[str]:
    """A Markdown table line's cells ("\\|" is a pipe inside a cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [part.strip().replace("\\|", "|") for part in parts]


def test_the_report_section_shows_the_papers_value_and_says_where_it_is_from(analysis):
    text = render_markdown(Document("t").add(*_paper_tables_section(analysis)))
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = _cells(table_lines[0])
    rows = {}
    for line in table_lines[1:]:  # the "|---|" line does not start with "| "
        cells = _cells(line)
        rows[cells[header.index("metric (Q)")]] = dict(zip(header, cells, strict=True))
    own, other = rows["tg_maxprob_resnet34"], rows["tg_maxprob_m2"]
    assert own["AUC (paper)"] == "0.850" and own["|SRCC| (paper)"] == "0.977 ± 0.021"
    assert own["paper table"] == "2, 4"
    assert all(other[column] == "" for column in [PAPER_TABLE_COLUMN, *PAPER_COLUMNS])
    assert PAPER_NOTE in text
