"""The report says what it knows once: a DAG with no verdict says whether no pair fitted it
or the data refused every planned test (and what was missing); an interval kind that did
not reach its level is left out of the tables with one note, not a column of cells."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from iqalign.causal import load_dag
from iqalign.errors import TooFewClustersError
from iqalign.report.run_report import _dag_verdict_blocks
from iqalign.report.tables import paper_table, refusal_summary, uncalibrated_note
from iqalign.stats import simulate_scores
from iqalign.stats.analyses.verdicts import run_verdicts


@pytest.fixture(scope="module")
def refused_verdicts():
    """strong_task_guided on 11 image IDs (the demo's size): every test it plans is refused."""
    table = simulate_scores("common_corruptions", n_ids=11, n_labels=4, seed=1)
    result = run_verdicts(load_dag("strong_task_guided"), table, "q_sim", "correct_sim")
    return result.rows.assign(dag="strong_task_guided", model="sim", metric="sim")


def test_a_dag_whose_tests_were_all_refused_says_why_and_what_would_do(refused_verdicts):
    assert (refused_verdicts["verdict"] == "not tested").all()
    data = refused_verdicts[refused_verdicts["refused_by"] == "data"]
    assert len(data) and data["refused_df"].lt(20).all()
    text = refusal_summary(refused_verdicts, "strong_task_guided", 11)
    expected_ids = int(np.ceil(11 * 20 / data["refused_df"].min()))
    assert text.startswith("1 (model, metric) pairs fit strong_task_guided's applies_to, and "
                           f"{len(data)} tests of its testable claims were planned")  # fmt: skip
    assert "the data refused every one" in text and "Bell–McCaffrey" in text
    assert f"about {expected_ids} image IDs would let every one run" in text
    analysis = SimpleNamespace(verdicts=refused_verdicts)
    blocks = _dag_verdict_blocks(analysis, load_dag("strong_task_guided"), 11)
    assert "No (model, metric) pair" not in blocks[0].text and "refused" in blocks[0].text


def test_a_dag_no_pair_fits_says_so(refused_verdicts):
    analysis = SimpleNamespace(verdicts=refused_verdicts)
    blocks = _dag_verdict_blocks(analysis, load_dag("weak_task_guided"), 11)
    assert blocks[0].text.startswith("No (model, metric) pair of this run fits weak_task_guided")


def test_the_refusal_keeps_its_numbers_across_processes():
    err = TooFewClustersError("too few", 8.5, 11, 20)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.df, back.n_clusters, back.min_df) == ("too few", 8.5, 11, 20)


def _frames(calibrated: dict[str, bool]):
    pooled = pd.DataFrame([{
        "model": "m", "metric": "tv", "family": "tv", "q_model": "", "auc_score": 0.6,
        "auc_delong_ci_low": 0.55, "auc_delong_ci_high": 0.65, "raw_auc_score": 0.6,
        "slope_sign": 1, "ce_loss": 0.6, "prior_ce_loss": 0.65,
    }])  # fmt: skip
    correlations = pd.DataFrame([
        {"model": "m", "metric": "tv", "scope": "all", "method": method, "r": 0.5,
         "ci_low": 0.3, "ci_high": 0.7, "ci_calibrated": ok,
         "ci_coverage": 0.94 if ok else {"spearman": 0.76, "kendall": 0.74}[method]}
        for method, ok in calibrated.items()
    ])  # fmt: skip
    return pooled, correlations


def test_uncalibrated_interval_columns_are_left_out_with_one_note():
    pooled, correlations = _frames({"kendall": False, "pearson": True, "spearman": False})
    table = paper_table(pooled, correlations, "tv")
    assert "|PLCC| CI" in table and "|SRCC| CI" not in table and "|KRCC| CI" not in table
    assert not table.astype(str).apply(lambda c: c.str.contains("covered")).any().any()
    note = uncalibrated_note(correlations)
    assert note.startswith("The intervals of |SRCC| and |KRCC| are left out")
    assert "74%–76%" in note and "93%" in note
    pooled, correlations = _frames({"kendall": True, "pearson": True, "spearman": True})
    assert "|KRCC| CI" in paper_table(pooled, correlations, "tv")
    assert uncalibrated_note(correlations) == ""


def test_the_analyze_command_prints_a_dash_and_one_note():
    from iqalign.cli._stats_tables import _calibrated_ci, _uncalibrated_note

    _, correlations = _frames({"kendall": False, "pearson": True, "spearman": False})
    cells = [str(_calibrated_ci(row)) for row in correlations.itertuples()]
    assert cells[0] == "–" and cells[1].startswith("[") and cells[2] == "–"
    note = _uncalibrated_note(correlations)
    assert "kendall, spearman" in note and "covered only 74%–76%" in note
