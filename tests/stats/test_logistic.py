"""The vectorised per-group logistic fits against scikit-learn and a direct Firth optimiser."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from iqalign.stats.core.logistic import fit_grouped_logistic


def _groups(seed, n_groups=40, scale_spread=True):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(4, 70, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    scale = rng.uniform(0.01, 150, n_groups)[groups] if scale_spread else 1.0
    x = rng.normal(size=groups.size) * scale + rng.normal(size=n_groups)[groups]
    slope = rng.normal(size=n_groups)[groups]
    eta = rng.normal(size=n_groups)[groups] + slope * (x - x.mean()) / np.std(x)
    y = (rng.random(groups.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return x, y, groups, n_groups


def _sklearn(x, y, C):
    z = StandardScaler().fit_transform(x[:, None])
    model = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(z, y)
    return model.intercept_[0], model.coef_[0, 0]


@pytest.mark.parametrize(
    ("penalty", "C"), [("l2", 1.0), ("l2", 0.05), ("l2", 30.0), ("none", np.inf)]
)
def test_matches_sklearn_per_group(penalty, C):
    x, y, groups, n_groups = _groups(0)
    fits = fit_grouped_logistic(x, y, groups, n_groups, penalty=penalty, C=C)
    assert fits.converged.all()
    checked = 0
    for g in np.flatnonzero(fits.fitted):
        mask = groups == g
        intercept, slope = _sklearn(x[mask], y[mask], C)
        assert fits.intercept[g] == pytest.approx(intercept, abs=1e-6)
        assert fits.slope[g] == pytest.approx(slope, abs=1e-6)
        checked += 1
    assert checked > 25


def test_single_class_groups_are_not_fitted_and_counted():
    x, y, groups, n_groups = _groups(1)
    y[groups == 3] = 1.0
    fits = fit_grouped_logistic(x, y, groups, n_groups)
    assert not fits.fitted[3] and not fits.two_class[3] and np.isnan(fits.slope[3])
    assert fits.fitted.sum() == fits.two_class.sum()


def test_separated_groups_none_is_flagged_l2_and_firth_stay_finite():
    x = np.r_[np.linspace(-2, -0.1, 20), np.linspace(0.1, 2, 20), np.linspace(-1, 1, 20)]
    y = np.r_[np.zeros(20), np.ones(20), np.tile([0.0, 1.0], 10)]
    groups = np.r_[np.zeros(40, dtype=np.int64), np.ones(20, dtype=np.int64)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings anywhere
        none = fit_grouped_logistic(x, y, groups, 2, penalty="none")
        l2 = fit_grouped_logistic(x, y, groups, 2, penalty="l2")
        firth = fit_grouped_logistic(x, y, groups, 2, penalty="firth")
    assert none.separated.tolist() == [True, False] and none.fitted.tolist() == [False, True]
    for fits in (l2, firth):
        assert fits.fitted.all() and np.isfinite(fits.slope).all() and fits.converged.all()
        assert fits.slope[0] > 1.0  # a large but finite slope for the separated group
    quasi = np.r_[np.zeros(5), 0.0, np.ones(5)]  # overlap at one value: quasi-complete
    labels = np.r_[np.zeros(5), 1.0, np.ones(5)]
    assert fit_grouped_logistic(
        quasi, labels, np.zeros(11, dtype=np.int64), 1, penalty="none"
    ).separated[0]


def test_firth_matches_direct_optimisation_of_the_penalised_likelihood():
    from scipy.optimize import minimize

    rng = np.random.default_rng(5)
    for trial in range(4):
        x = rng.normal(size=25)
        y = (x > 0).astype(float) if trial == 0 else (x + rng.normal(size=25) > 0).astype(float)
        fits = fit_grouped_logistic(x, y, np.zeros(25, dtype=np.int64), 1, penalty="firth")
        design = np.c_[np.ones(25), (x - x.mean()) / x.std()]

        def objective(beta, design=design, y=y):
            eta = design @ beta
            w = 1 / (1 + np.exp(-eta)) * (1 - 1 / (1 + np.exp(-eta)))
            info = design.T @ (design * w[:, None])
            return np.sum(np.logaddexp(0, eta) - y * eta) - 0.5 * np.linalg.slogdet(info)[1]

        best = minimize(
            objective,
            np.zeros(2),
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
        ).x
        assert [fits.intercept[0], fits.slope[0]] == pytest.approx(best, abs=1e-5)


def test_constant_q_keeps_slope_zero_like_sklearn():
    x = np.full(12, 3.7)
    y = np.r_[np.zeros(4), np.ones(8)]
    for penalty in ("none", "l2", "firth"):
        fits = fit_grouped_logistic(x, y, np.zeros(12, dtype=np.int64), 1, penalty=penalty)
        assert fits.constant[0] and fits.slope[0] == 0.0 and fits.fitted[0]
    intercept, slope = _sklearn(x, y, 1.0)
    fits = fit_grouped_logistic(x, y, np.zeros(12, dtype=np.int64), 1)
    assert slope == pytest.approx(0.0, abs=1e-12) and fits.intercept[0] == pytest.approx(
        intercept, abs=1e-6
    )


def test_bad_penalty_and_C():
    x, y, groups, n = _groups(2, n_groups=3)
    with pytest.raises(ValueError, match="penalty must be one of"):
        fit_grouped_logistic(x, y, groups, n, penalty="l1")
    with pytest.raises(ValueError, match="C must be a finite number > 0"):
        fit_grouped_logistic(x, y, groups, n, penalty="l2", C=0.0)
