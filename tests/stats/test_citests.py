"""Conditional-independence tests against statsmodels (ConditionalLogit, StratifiedTable)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.conditional_models import ConditionalLogit
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.multitest import multipletests

from iqalign.errors import DegenerateDataError, ScoresTableError
from iqalign.stats import ci_test, holm_adjust


@pytest.fixture
def strata_table():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 30, 40)
    s = np.repeat(np.arange(40), sizes)
    q = rng.normal(size=s.size) + rng.normal(size=40)[s]
    m = (rng.random(s.size) < 1 / (1 + np.exp(-(0.4 * q + rng.normal(size=40)[s])))).astype(int)
    return pd.DataFrame({"s": s, "q_x": q, "correct_x": m})


def _informative(frame):
    return frame.groupby("s").filter(lambda g: g["correct_x"].nunique() == 2)


def _conditional_logit(frame):
    kept = _informative(frame)
    centred = kept["q_x"] - kept.groupby("s")["q_x"].transform("mean")
    x = kept["q_x"].to_numpy() / np.sqrt((centred**2).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConditionalLogit(
            kept["correct_x"].to_numpy(), x[:, None], groups=kept["s"].to_numpy()
        )


def test_score_test_is_statsmodels_conditional_logit_score_test(strata_table):
    model = _conditional_logit(strata_table)
    score = model.score(np.zeros(1))[0]
    information = -model.hessian(np.zeros(1))[0, 0]
    r = ci_test(strata_table, "x", "x", by="s")
    assert r.statistic == pytest.approx(score**2 / information, rel=1e-6)
    assert r.effect == pytest.approx(score / information, rel=1e-6)
    assert r.skipped["single_class"] == 40 - r.n_strata_used
    assert r.variance.startswith("model")  # no image_id column: nothing to cluster on


def test_lr_test_is_statsmodels_fit(strata_table):
    model = _conditional_logit(strata_table)
    fit = model.fit(disp=0)
    r = ci_test(strata_table, "x", "x", by="s", test="lr")
    assert r.effect == pytest.approx(fit.params[0], rel=1e-6)
    assert r.statistic == pytest.approx(2 * (fit.llf - model.loglike(np.zeros(1))), rel=1e-6)
    assert r.effect_ci[0] < r.effect < r.effect_ci[1]
    score = ci_test(strata_table, "x", "x", by="s")
    assert r.p_value == pytest.approx(score.p_value, rel=0.5)  # asymptotically the same test


def test_cmh_is_statsmodels_stratified_table_on_median_split(strata_table):
    r = ci_test(strata_table, "x", "x", by="s", test="cmh")
    tables = []
    for _, g in strata_table.groupby("s"):
        upper = g["q_x"] >= g["q_x"].median()
        cells = np.array(
            [
                [np.sum(upper & (g["correct_x"] == 1)), np.sum(upper & (g["correct_x"] == 0))],
                [np.sum(~upper & (g["correct_x"] == 1)), np.sum(~upper & (g["correct_x"] == 0))],
            ]
        )
        if cells.sum(axis=0).min() > 0 and cells.sum(axis=1).min() > 0:
            tables.append(cells)
    reference = StratifiedTable(np.dstack(tables).astype(float))
    assert r.n_strata_used == len(tables)
    assert r.statistic == pytest.approx(reference.test_null_odds(correction=False).statistic)
    assert r.effect == pytest.approx(np.log(reference.oddsratio_pooled))


def test_score_test_on_a_binary_q_equals_cmh(strata_table):
    """Mantel's score statistic with 0/1 scores is the CMH statistic (no continuity correction)."""
    binary = strata_table.assign(
        q_x=(strata_table["q_x"] > strata_table.groupby("s")["q_x"].transform("median")).astype(
            float
        )
    )
    score = ci_test(binary, "x", "x", by="s")
    cmh = ci_test(binary, "x", "x", by="s", test="cmh")
    assert score.statistic == pytest.approx(cmh.statistic, rel=1e-9)


def test_marginal_test_and_cluster_robust_variance():
    rng = np.random.default_rng(1)
    image = np.repeat(np.arange(200), 10)
    q = rng.normal(size=200)[image] + 0.3 * rng.normal(size=image.size)  # Q clustered by image
    m = (rng.random(image.size) < 0.5 + 0.3 * (rng.random(200)[image] - 0.5)).astype(
        int
    )  # M clustered too
    frame = pd.DataFrame({"image_id": image, "q_x": q, "correct_x": m})
    robust = ci_test(frame, "x", "x")
    model = ci_test(frame, "x", "x", cluster=None)
    assert robust.by == () and robust.n_strata == 1
    assert robust.variance.startswith(
        "cluster-robust CR2 over 200 image_id clusters (df "
    ) and model.variance.startswith("model")
    assert robust.effect == pytest.approx(model.effect)
    assert np.diff(robust.effect_ci)[0] != pytest.approx(np.diff(model.effect_ci)[0])


def test_holm_matches_statsmodels_and_keeps_nan():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    adjusted = holm_adjust(p)
    expected = multipletests(p[~np.isnan(p)], method="holm")[1]
    np.testing.assert_allclose(adjusted[~np.isnan(p)], expected)
    assert np.isnan(adjusted[2])


def test_degenerate_inputs(strata_table):
    with pytest.raises(DegenerateDataError, match="no stratum carries information"):
        ci_test(strata_table.assign(correct_x=1), "x", "x", by="s")
    with pytest.raises(DegenerateDataError, match="constant_q"):
        ci_test(strata_table.assign(q_x=2.0), "x", "x", by="s")
    with pytest.raises(ValueError, match="test must be one of"):
        ci_test(strata_table, "x", "x", by="s", test="wald")
    big = pd.DataFrame({"s": 0, "q_x": np.arange(1000.0), "correct_x": np.arange(1000) % 2})
    with pytest.raises(ScoresTableError, match="test='score'"):
        ci_test(big, "x", "x", by="s", test="lr")


def test_results_report_counts_and_baseline(strata_table):
    r = ci_test(strata_table, "x", "x", by="s")
    assert r.n_rows == len(strata_table) and r.n_rows_used == len(_informative(strata_table))
    assert r.accuracy == pytest.approx(strata_table["correct_x"].mean()) and r.prior_ce_loss > 0
    assert set(r.to_frame().columns) >= {
        "effect_ci_low",
        "effect_ci_high",
        "p_value",
        "n_strata_used",
    }


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels_on_random_p_values_with_ties(seed):
    rng = np.random.default_rng(seed)
    p = rng.choice(
        np.r_[rng.uniform(size=20), [0.01, 0.01, 0.5, 1.0, 0.0]], size=int(rng.integers(1, 40))
    )
    np.testing.assert_allclose(holm_adjust(p), multipletests(p, method="holm")[1])
