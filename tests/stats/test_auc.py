"""AUCs against scikit-learn, DeLong against its definition, weighted AUC against repeated rows."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score as sk_auc

from iqalign.errors import DegenerateDataError
from iqalign.stats.core.auc import (
    delong_ci,
    grouped_midranks,
    grouped_roc_auc,
    roc_auc_score,
    weighted_auc,
)


@pytest.mark.parametrize("levels", [None, 3, 10])  # continuous scores, heavy ties, some ties
def test_roc_auc_matches_sklearn_with_ties(levels):
    rng = np.random.default_rng(levels or 0)
    for _ in range(20):
        n = int(rng.integers(2, 200))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.normal(size=n) if levels is None else rng.integers(0, levels, n).astype(float)
        assert roc_auc_score(y, s) == pytest.approx(sk_auc(y, s), abs=1e-12)


def test_grouped_auc_equals_a_loop_and_marks_single_class_groups():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 50, 3000)
    y = (rng.random(3000) < 0.6).astype(float)
    y[groups == 7] = 1.0  # one class
    s = np.round(rng.normal(size=3000), 1)  # ties
    auc, n_pos, n_neg = grouped_roc_auc(y, s, groups, 52)
    for g in range(52):
        mask = groups == g
        if g == 7 or mask.sum() == 0:
            assert np.isnan(auc[g]) and (n_pos[g] == 0 or n_neg[g] == 0)
        else:
            assert auc[g] == pytest.approx(sk_auc(y[mask], s[mask]), abs=1e-12)


def test_midranks_match_scipy_within_groups():
    from scipy.stats import rankdata

    rng = np.random.default_rng(2)
    groups = rng.integers(0, 5, 200)
    values = rng.integers(0, 8, 200).astype(float)
    ranks = grouped_midranks(values, groups)
    for g in range(5):
        np.testing.assert_allclose(ranks[groups == g], rankdata(values[groups == g]))


def test_delong_matches_its_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    s = np.round(rng.normal(size=120) + y * 0.5, 1)
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)
    ci = delong_ci(y, s)
    assert ci.auc == pytest.approx(psi.mean()) and ci.se == pytest.approx(se)
    assert ci.low == pytest.approx(psi.mean() - 1.959964 * se, abs=1e-6)


def test_weighted_auc_equals_auc_of_repeated_rows():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80).astype(float)
    s = np.round(rng.normal(size=80), 1)
    weights = rng.integers(0, 4, 80)
    repeated = np.repeat(np.arange(80), weights)
    assert weighted_auc(y, s)(weights.astype(float)) == pytest.approx(
        sk_auc(y[repeated], s[repeated])
    )
    assert np.isnan(weighted_auc(y, s)(y))  # only positives weighted: undefined, reported as NaN


def test_one_class_and_bad_input_raise():
    with pytest.raises(DegenerateDataError, match="one class"):
        roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="only 0 and 1"):
        roc_auc_score([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="non-finite"):
        roc_auc_score([0, 1], [0.1, np.nan])


def test_clustered_delong_matches_the_cluster_jackknife_of_sklearns_auc():
    """Obuchowski's clustered DeLong variance equals, to first order, the leave-one-cluster-out
    jackknife variance of scikit-learn's roc_auc_score (and exceeds the row-wise DeLong when
    an image's rows share an effect)."""
    from sklearn.metrics import roc_auc_score as sk_auc

    rng = np.random.default_rng(4)
    cluster = np.repeat(np.arange(150), 12)
    shared = rng.normal(size=150)[cluster]
    score = shared + rng.normal(size=cluster.size)
    y = (rng.random(cluster.size) < 1 / (1 + np.exp(-0.5 * shared - 0.3))).astype(int)
    leave_out = np.array([sk_auc(y[cluster != c], score[cluster != c]) for c in range(150)])
    jackknife_var = 149 / 150 * np.sum((leave_out - leave_out.mean()) ** 2)
    clustered = delong_ci(y, score, clusters=cluster)
    assert clustered.se**2 == pytest.approx(jackknife_var, rel=0.05)
    assert clustered.se > delong_ci(y, score).se
