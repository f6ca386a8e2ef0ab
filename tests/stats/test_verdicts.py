"""Verdicts: the written rule, pattern binding, refused claims, and known truth."""

import pytest

from iqalign.causal import load_dag
from iqalign.stats import decide_verdict, run_verdicts, simulate_scores

from .conftest import null_dag


@pytest.mark.parametrize(
    ("independent", "p", "ci", "verdict"),
    [
        (True, 0.001, (0.2, 0.4), "contradicted"),
        (True, 0.001, (0.02, 0.05), "contradicted"),  # detected but negligible: still contradicted
        (True, 0.6, (-0.05, 0.04), "consistent"),
        (True, 0.6, (-0.3, 0.35), "inconclusive"),
        (False, 0.001, (0.2, 0.4), "consistent"),
        (False, 0.6, (-0.05, 0.04), "inconclusive"),
        (False, 0.6, (-0.3, 0.35), "inconclusive"),
    ],
)
def test_rule(independent, p, ci, verdict):
    got, reason = decide_verdict(independent, p, ci, 0.05, 0.1)
    assert got == verdict and reason
    if independent and p < 0.05 and ci[1] < 0.1:
        assert "negligible" in reason


def test_builtin_dag_rows_cover_every_plan_and_bind_patterns():
    dag = load_dag("common_corruptions")
    table = simulate_scores(dag, n_ids=80, seed=0)
    r = run_verdicts(dag, table, "sim", "sim")
    rows = r.to_frame()
    assert len(rows) == 12 and r.n_tested == 9
    refused = rows[rows["verdict"] == "not tested"]
    assert set(refused["claim"]) == {"Q _||_ M | X", "C _||_ S", "C _||_ Y"}
    assert refused["reason"].str.len().gt(20).all()
    yhat = rows[rows["claim"] == "Q !_||_ M | Yhat"].iloc[0]
    assert yhat["stratifiers"] == "pred_*" and yhat["bound_stratifiers"] == "pred_sim"
    tested = rows[rows["verdict"] != "not tested"]
    assert (tested["p_holm"] >= tested["p_value"]).all()
    assert set(tested["verdict"]) == {
        "consistent"
    }  # every claim there is 'connected' and dependence is real


def test_missing_prediction_column_is_listed_not_fatal():
    table = simulate_scores("baseline", n_ids=60, seed=0).drop(columns="pred_sim")
    rows = run_verdicts("baseline", table, "sim", "sim").rows
    row = rows[rows["claim"] == "Q !_||_ M | Yhat"].iloc[0]
    assert row["verdict"] == "not tested" and "pred_sim" in row["reason"]


def test_null_truth_is_consistent_and_planted_dependence_contradicts():
    hypothesis = null_dag()
    null = simulate_scores(hypothesis, n_ids=400, seed=1)
    rows = run_verdicts(hypothesis, null, "sim", "sim").rows.set_index("claim")
    assert rows.loc["Q _||_ M | X0", "expected"] == "separated"
    assert rows.loc["Q _||_ M | X0", "verdict"] == "consistent"
    assert rows.loc["Q !_||_ M", "verdict"] == "consistent"  # connected through X0, and detected
    planted = simulate_scores(null_dag(("Q -> M",)), n_ids=400, strengths={"Q -> M": 0.3}, seed=1)
    rows = run_verdicts(hypothesis, planted, "sim", "sim").rows.set_index("claim")
    assert rows.loc["Q _||_ M | X0", "verdict"] == "contradicted"


def test_cmh_verdicts_and_margins():
    hypothesis = null_dag()
    table = simulate_scores(hypothesis, n_ids=100, seed=3)
    r = run_verdicts(hypothesis, table, "sim", "sim", test="cmh")
    assert r.margin == 0.16 and r.test == "cmh"
    tiny = run_verdicts(hypothesis, table, "sim", "sim", margin=1e-6).rows.set_index("claim")
    assert (
        tiny.loc["Q _||_ M | X0", "verdict"] == "inconclusive"
    )  # nothing fits inside a zero margin
