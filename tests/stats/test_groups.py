"""Group-level correlations: scipy agreement, both bootstraps, scopes, degenerate groups."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from iqalign.errors import DegenerateDataError
from iqalign.stats import group_correlations, simulate_scores
from iqalign.stats.analyses import groups as groups_module
from iqalign.stats.analyses.groups import correlate_rows


@pytest.fixture(scope="module")
def table():
    return simulate_scores("common_corruptions", n_ids=80, seed=5)


def test_group_means_and_correlations_match_pandas_and_scipy(table):
    r = group_correlations(table, "sim", "sim", n_boot=100, seed=0)
    corrupted = table[table["corruption"] != "none"]
    means = (
        corrupted.groupby(["corruption", "severity"], observed=True)
        .agg(mean_q=("q_sim", "mean"), accuracy=("correct_sim", "mean"))
        .reset_index()
    )
    merged = r.groups.merge(means, on=["corruption", "severity"], suffixes=("", "_pd"))
    assert len(merged) == r.n_groups == 75
    np.testing.assert_allclose(merged["mean_q"], merged["mean_q_pd"])
    np.testing.assert_allclose(merged["accuracy"], merged["accuracy_pd"])
    everything = r.correlations.set_index(["scope", "method"])
    for method, test in (
        ("pearson", sps.pearsonr),
        ("spearman", sps.spearmanr),
        ("kendall", sps.kendalltau),
    ):
        expected = test(r.groups["mean_q"], r.groups["accuracy"])
        assert everything.loc[("all", method), "r"] == pytest.approx(expected.statistic)
        assert everything.loc[("all", method), "p_value"] == pytest.approx(expected.pvalue)
    scopes = set(r.correlations["scope"])
    assert {"severity=1", "severity=5", "corruption=fog"} <= scopes and len(scopes) == 21


def test_within_scopes_use_the_right_groups(table):
    r = group_correlations(table, "sim", "sim", n_boot=50, seed=0)
    at3 = r.groups[r.groups["severity"] == 3]
    row = r.correlations.query("scope == 'severity=3' and method == 'spearman'").iloc[0]
    assert row["n_groups"] == 15
    assert row["r"] == pytest.approx(sps.spearmanr(at3["mean_q"], at3["accuracy"]).statistic)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_correlate_rows_matches_scipy_with_ties(method):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (30, 12)).astype(float)
    b = rng.integers(0, 5, (30, 12)).astype(float)
    scipy = {"pearson": sps.pearsonr, "spearman": sps.spearmanr, "kendall": sps.kendalltau}[method]
    expected = [scipy(x, y).statistic for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(correlate_rows(a, b, method), expected, atol=1e-12)


def test_cluster_bootstrap_dense_and_sparse_agree(table, monkeypatch):
    dense = group_correlations(table, "sim", "sim", n_boot=60, seed=3)
    monkeypatch.setattr(groups_module, "_DENSE_LIMIT", 0)
    sparse = group_correlations(table, "sim", "sim", n_boot=60, seed=3)
    pd.testing.assert_frame_equal(dense.correlations, sparse.correlations)


def test_cluster_resampling_is_wider_than_group_resampling_when_images_dominate():
    """With a large shared image effect on M, the groups' accuracies move together across
    resampled images: group resampling ignores that, the cluster bootstrap sees it."""
    table = simulate_scores("common_corruptions", n_ids=40, seed=1, strengths={"X0 -> Y": 1.0})
    r = group_correlations(table, "sim", "sim", n_boot=400, seed=0, ci_method="percentile")
    row = r.correlations.query("scope == 'all' and method == 'pearson'").iloc[0]
    assert row["ci_low"] < row["ci_high"] and row["group_ci_low"] < row["group_ci_high"]
    assert np.isfinite(row["cluster_shift"])


def test_basic_interval_corrects_the_attenuation_shift(table):
    basic = group_correlations(table, "sim", "sim", n_boot=300, seed=0)
    percentile = group_correlations(table, "sim", "sim", n_boot=300, seed=0, ci_method="percentile")
    b = basic.correlations.query("scope == 'all' and method == 'spearman'").iloc[0]
    p = percentile.correlations.query("scope == 'all' and method == 'spearman'").iloc[0]
    assert b["cluster_shift"] < 0  # resampled correlations are pulled towards 0 ...
    assert p["ci_high"] < b["r"]  # ... so far, with 80 images, that the percentile CI misses r
    # the basic interval reflects r* - r about r: it moves up by the shift, and stays below 1
    assert b["ci_low"] > p["ci_low"] and b["ci_high"] > p["ci_high"] and b["ci_high"] < 1.0
    assert b["ci_low"] <= b["r_bias_corrected"] <= b["ci_high"] and b["r_bias_corrected"] > b["r"]
    assert np.isclose(b["r_bias_corrected"], p["r_bias_corrected"])  # reported with either method
    # Pearson's interval is built around the disattenuated r, which exceeds r
    pearson = basic.correlations.query("scope == 'all' and method == 'pearson'").iloc[0]
    assert pearson["r_disattenuated"] > pearson["r"]
    assert pearson["ci_low"] <= pearson["r_disattenuated"] <= pearson["ci_high"] < 1.0


def test_noise_of_group_means_matches_numpys_covariance_of_images(table):
    """Balanced table (one row per image and group): the noise that finite images add to the
    spread of the group means is tr(C S C) / (n (k - 1)), S = np.cov of the per-image rows."""
    frame = table[table["corruption"] != "none"].sort_values(["image_id", "corruption", "severity"])
    n = frame["image_id"].nunique()
    q = frame["q_sim"].to_numpy().reshape(n, 75)
    a = frame["correct_sim"].to_numpy(np.float64).reshape(n, 75)
    centre = np.eye(75) - 1 / 75
    joint = np.cov(np.hstack([q, a]).T)
    expected = [
        np.trace(centre @ joint[i, j] @ centre) / (n * 74)
        for i, j in ((np.s_[:75], np.s_[:75]), (np.s_[75:], np.s_[75:]), (np.s_[:75], np.s_[75:]))
    ]
    result = group_correlations(table, "sim", "sim", n_boot=20, seed=0)
    row = result.correlations.query("scope == 'all' and method == 'pearson'").iloc[0]
    mean_q, accuracy = q.mean(axis=0), a.mean(axis=0)
    corrected = groups_module.disattenuated_rows(mean_q[None], accuracy[None], np.array([expected]))
    assert row["r_disattenuated"] == pytest.approx(float(corrected[0]), rel=1e-9)
    assert abs(row["r_disattenuated"]) > abs(row["r"])


def test_clean_rows_are_left_out_unless_asked(table):
    assert group_correlations(table, "sim", "sim", n_boot=20).n_groups == 75
    assert group_correlations(table, "sim", "sim", n_boot=20, include_clean=True).n_groups == 76


def test_constant_accuracy_is_an_error_and_constant_scope_a_note(table):
    with pytest.raises(DegenerateDataError, match="accuracy is the same in every group"):
        group_correlations(table.assign(correct_sim=1), "sim", "sim", n_boot=20)
    partly = table.copy()
    partly.loc[partly["corruption"] == "fog", "correct_sim"] = 1
    r = group_correlations(partly, "sim", "sim", n_boot=20)
    fog = r.correlations.query("scope == 'corruption=fog'")
    assert fog["r"].isna().all() and fog["note"].str.contains("accuracy constant").all()
