"""Pooled predictability: the same split fitted by scikit-learn gives the same numbers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from iqalign.errors import DegenerateDataError
from iqalign.stats import predictability, simulate_scores
from iqalign.stats.core.splits import split_by_unit


@pytest.fixture(scope="module")
def table():
    return simulate_scores("common_corruptions", n_ids=150, seed=11)


def test_matches_sklearn_on_the_same_split(table):
    result = predictability(table, "sim", "sim", n_boot=200, seed=4)
    units = pd.factorize(table["image_id"])[0]
    test = split_by_unit(units, 0.2, np.random.default_rng(4))  # the first draw of the same seed
    q, m = table["q_sim"].to_numpy(), table["correct_sim"].to_numpy()
    mean, sd = q[~test].mean(), q[~test].std()
    model = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(
        (q[~test, None] - mean) / sd, m[~test]
    )
    proba = model.predict_proba((q[test, None] - mean) / sd)[:, 1]
    assert result.n_test == test.sum() and result.n_ids_test == 30
    assert result.slope == pytest.approx(model.coef_[0, 0], abs=1e-6)
    assert result.auc_score == pytest.approx(roc_auc_score(m[test], proba), abs=1e-9)
    assert result.ce_loss == pytest.approx(log_loss(m[test], proba), abs=1e-7)
    assert result.prior_ce_loss == pytest.approx(
        log_loss(m[test], np.full(test.sum(), m[~test].mean()))
    )
    assert result.raw_auc_score == pytest.approx(roc_auc_score(m[test], q[test]))
    assert result.ce_gain == pytest.approx(result.prior_ce_loss - result.ce_loss)


def test_intervals_contain_the_estimates(table):
    r = predictability(table, "sim", "sim", n_boot=300, seed=1)
    for estimate, (low, high) in [
        (r.auc_score, r.auc_delong_ci),
        (r.auc_score, r.auc_bootstrap_ci),
        (r.ce_loss, r.ce_bootstrap_ci),
        (r.prior_ce_loss, r.prior_ce_bootstrap_ci),
        (r.ce_gain, r.ce_gain_bootstrap_ci),
    ]:
        assert low < estimate < high
    # both intervals account for the image clusters: of similar width
    assert 0.7 < np.diff(r.auc_bootstrap_ci)[0] / np.diff(r.auc_delong_ci)[0] < 1.4


def test_orientation_is_explicit_for_a_negative_quality_signal(table):
    flipped = table.assign(q_entropy=-table["q_sim"])
    up = predictability(table, "sim", "sim", n_boot=50, seed=0)
    down = predictability(flipped, "entropy", "sim", n_boot=50, seed=0)
    assert up.slope_sign == 1 and down.slope_sign == -1
    assert down.auc_score == pytest.approx(up.auc_score)  # the fit learns the orientation
    assert down.raw_auc_score == pytest.approx(1 - up.raw_auc_score)  # nothing flipped silently
    assert down.oriented_auc_score == pytest.approx(up.oriented_auc_score)


def test_results_serialise(table):
    r = predictability(table, "sim", "sim", n_boot=20)
    assert r.to_dict()["auc_bootstrap_ci"] == list(r.auc_bootstrap_ci)
    frame = r.to_frame()
    assert len(frame) == 1 and {
        "auc_bootstrap_ci_low",
        "auc_bootstrap_ci_high",
        "prior_ce_loss",
    } <= set(frame)


def test_degenerate_inputs(table):
    with pytest.raises(DegenerateDataError, match="one class"):
        predictability(table.assign(correct_sim=1), "sim", "sim")
    with pytest.raises(DegenerateDataError, match="constant"):
        predictability(table.assign(q_sim=0.5), "sim", "sim")
    with pytest.raises(DegenerateDataError, match="at least 2 image IDs"):
        predictability(table[table["image_id"] == table["image_id"].iloc[0]], "sim", "sim")


def test_separation_none_is_an_error_firth_and_l2_are_finite(table):
    separated = table.assign(q_sim=table["correct_sim"] + 0.01 * np.arange(len(table)) / len(table))
    with pytest.raises(DegenerateDataError, match="penalty='firth'"):
        predictability(separated, "sim", "sim", penalty="none", n_boot=10)
    for penalty in ("firth", "l2"):
        r = predictability(separated, "sim", "sim", penalty=penalty, n_boot=10)
        assert r.auc_score == 1.0 and np.isfinite(r.slope) and np.isfinite(r.ce_loss)
