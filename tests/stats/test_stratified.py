"""Stratified cross-validation: the vectorised path against the scikit-learn loop it replaces."""

import numpy as np
import pandas as pd
import pytest

from iqalign.errors import DegenerateDataError
from iqalign.stats import simulate_scores, stratified_cv
from iqalign.stats.analyses.stratified import FOLD_STATUS, cross_validate_arrays, parse_by
from iqalign.stats.core.table import get_stratum_codes
from tests.stats.reference import sklearn_cross_validate


@pytest.fixture(scope="module")
def table():
    frame = simulate_scores("common_corruptions", n_ids=60, seed=2)
    frame["label"] = frame["label"] % 12  # 5 images per label: GroupKFold-style folds
    return frame


@pytest.mark.parametrize(
    ("by", "penalty", "C"),
    [
        ("image_id", "l2", 1.0),
        ("image_id", "none", np.inf),
        ("label", "l2", 0.1),
        ("corruption,severity", "l2", 1.0),
    ],
)
def test_vectorised_matches_sklearn_loop(table, by, penalty, C):
    columns = parse_by(by)
    strata, keys = get_stratum_codes(table, columns)
    units = None if "image_id" in columns else pd.factorize(table["image_id"])[0]
    q, m = table["q_sim"].to_numpy(), table["correct_sim"].to_numpy(np.float64)
    ours = cross_validate_arrays(
        q, m, strata, len(keys), units, penalty=penalty, C=C, rng=np.random.default_rng(0)
    )
    some = np.arange(min(len(keys), 12))  # the loop is the slow part: compare 12 strata x 5 folds
    ref = sklearn_cross_validate(
        q,
        m,
        strata,
        ours.folds,
        5,
        penalty=penalty,
        C=C,
        only_strata=some,
        tol=1e-8,
        max_iter=10_000,
    )
    at = (some[:, None] * 5 + np.arange(5)).ravel()
    ours = {name: getattr(ours, name)[at] for name in ("status", "auc", "ce", "prior_ce", "slope")}
    assert [FOLD_STATUS[s] for s in ours["status"]] == ref["status"].tolist()
    used = ours["status"] == 0
    assert used.sum() > 15
    np.testing.assert_allclose(ours["auc"][used], ref["auc"][used], atol=1e-6)
    np.testing.assert_allclose(ours["ce"][used], ref["ce"][used], atol=1e-6)
    np.testing.assert_allclose(ours["prior_ce"][used], ref["prior_ce"][used], atol=1e-9)
    np.testing.assert_allclose(ours["slope"][used], ref["slope"][used], atol=1e-5)


def test_counts_add_up_and_are_reported(table):
    table = table.copy()
    table.loc[table["image_id"] == table["image_id"].iloc[0], "correct_sim"] = (
        1  # a one-class image
    )
    r = stratified_cv(table, "sim", "sim", by="image_id", per_stratum=True)
    assert r.n_folds_total == r.n_strata * 5 == r.n_folds_used + r.n_folds_skipped
    assert r.n_folds_skipped == sum(r.skipped.values())
    assert (
        r.n_strata_single_class >= 1
        and r.skipped["single_class_stratum"] == 5 * r.n_strata_single_class
    )
    assert r.fold_unit == "row" and r.n_rows == len(table)
    assert (
        r.mean_prior_ce_loss > 0 and np.isfinite([r.mean_auc_score, r.sd_auc, r.mean_ce_loss]).all()
    )
    per = r.per_stratum
    assert len(per) == r.n_strata and (per["status"] == "used").sum() == r.n_strata_used
    assert (
        per.loc[per["status"] != "used", "mean_auc_score"].isna().all()
    )  # NaN only where explained
    assert per.loc[per["status"] == "used", "mean_auc_score"].notna().all()


def test_label_folds_never_split_an_image(table):
    strata, keys = get_stratum_codes(table, ["label"])
    units = pd.factorize(table["image_id"])[0]
    q, m = table["q_sim"].to_numpy(), table["correct_sim"].to_numpy(np.float64)
    folds = cross_validate_arrays(
        q, m, strata, len(keys), units, rng=np.random.default_rng(0)
    ).folds
    assert (pd.DataFrame({"u": units, "f": folds}).groupby("u")["f"].nunique() == 1).all()
    assert stratified_cv(table, "sim", "sim", by="label").fold_unit == "image_id"


def test_single_stratum_and_unusable_tables(table):
    one = table.assign(all_rows="x")
    r = stratified_cv(one, "sim", "sim", by="all_rows")
    assert r.n_strata == 1 and r.n_folds_used == 5
    with pytest.raises(DegenerateDataError, match="no usable fold"):
        stratified_cv(table.assign(correct_sim=0), "sim", "sim", by="image_id")
    with pytest.raises(ValueError, match="names no column"):
        stratified_cv(table, "sim", "sim", by="")


def test_constant_q_folds_are_counted(table):
    r = stratified_cv(table.assign(q_sim=1.0), "sim", "sim", by="image_id")
    assert r.n_folds_constant_q == r.n_folds_used and r.mean_auc_score == 0.5
    assert any("constant in training" in note for note in r.notes)


@pytest.mark.parametrize("penalty", ["l2", "none", "firth"])
def test_separated_strata_never_warn_or_nan(table, penalty):
    """Q separates M perfectly in some images: no overflow, no NaN; 'none' counts them."""
    import warnings

    separated = table.copy()
    first = separated["image_id"].isin(separated["image_id"].unique()[:10])
    separated.loc[first, "q_sim"] = separated.loc[first, "correct_sim"] + 0.01 * np.arange(
        first.sum()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = stratified_cv(separated, "sim", "sim", by="image_id", penalty=penalty, per_stratum=True)
    assert np.isfinite([r.mean_auc_score, r.mean_ce_loss, r.mean_prior_ce_loss, r.sd_auc]).all()
    assert (r.skipped["separated"] > 0) == (penalty == "none")
    assert r.n_folds_not_converged == 0
