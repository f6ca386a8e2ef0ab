"""What makes a paper-scale report fast must not change a number.

The compiled kernels against the numpy formulas they replace (and scikit-learn), the
linear-time ``unique`` against ``np.unique``, ranks taken from another column's order
against sorting, the runner's memo against computing everything again, and the
runner's worker processes against running everything in one process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from iqalign import stats
from iqalign.scores import MetricInfo, ScoredRun
from iqalign.stats.core.auc import grouped_midranks, monotone_midranks, rank_order, weighted_auc
from iqalign.stats.core.codes import unique_codes
from iqalign.stats.core.kernels import logistic_sums
from iqalign.stats.core.logistic import log_loss_terms
from iqalign.stats.core.memo import remember, sharing
from iqalign.stats.core.splits import assign_folds, resample_counts, split_by_unit
from iqalign.stats.runner.analysis import AnalysisSettings, run_analysis


def test_logistic_sums_equal_the_numpy_bincounts_bit_for_bit():
    rng = np.random.default_rng(0)
    n, groups = 20_000, 300
    g = rng.integers(0, groups, n)
    z = rng.normal(size=n)
    y = (rng.random(n) < expit(z)).astype(np.float64)
    a, b = rng.normal(size=groups), rng.normal(size=groups)
    objective, h_aa, h_ab, h_bb, grad_a, grad_b = logistic_sums(
        z, y, g, groups, a, b, np.ones(groups, dtype=bool)
    )
    eta = a[g] + b[g] * z
    p = expit(eta)
    w = p * (1 - p)

    def by_group(values):
        return np.bincount(g, weights=values, minlength=groups)

    for ours, theirs in [
        (h_aa, by_group(w)),
        (h_ab, by_group(w * z)),
        (h_bb, by_group(w * z * z)),
        (grad_a, by_group(p - y)),
        (grad_b, by_group((p - y) * z)),
    ]:
        np.testing.assert_array_equal(ours, theirs)
    # numpy's vectorised exp/log1p may differ from the C library's in the last bit
    np.testing.assert_allclose(objective, by_group(log_loss_terms(eta, y)), rtol=1e-14)


def test_grouped_fits_still_equal_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    from iqalign.stats.core.logistic import fit_grouped_logistic

    rng = np.random.default_rng(3)
    x = rng.normal(size=600)
    y = (rng.random(600) < expit(1.5 * x)).astype(np.float64)
    groups = np.repeat([0, 1, 2], 200)
    fits = fit_grouped_logistic(x, y, groups, 3, penalty="l2", C=0.7)
    for k in range(3):
        rows = groups == k
        z = (x[rows] - x[rows].mean()) / x[rows].std()
        reference = LogisticRegression(C=0.7, tol=1e-12, max_iter=1000).fit(z[:, None], y[rows])
        assert fits.slope[k] == pytest.approx(reference.coef_[0, 0], abs=1e-6)
        assert fits.intercept[k] == pytest.approx(reference.intercept_[0], abs=1e-6)


def test_resampled_auc_equals_one_weighted_auc_per_resample_exactly():
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(300), 7)
    y = (rng.random(units.size) < 0.6).astype(np.float64)
    score = np.round(rng.normal(size=units.size) + y, 1)  # many ties
    counts = resample_counts(300, 40, rng).astype(np.float64)
    prepared = weighted_auc(y, score)
    loop = [prepared(counts[b][units]) for b in range(40)]
    np.testing.assert_array_equal(prepared.resampled(counts, units), loop)
    assert np.isnan(prepared.resampled(np.zeros((1, 300)), units)[0])  # no rows: undefined


@pytest.mark.parametrize("high", [50, 10**9])
def test_unique_codes_equal_np_unique(high):
    values = np.random.default_rng(2).integers(0, high, 5_000)
    expected = np.unique(values, return_index=True, return_inverse=True)
    got = unique_codes(values, return_index=True)
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(ours, theirs.ravel())


def test_ranks_from_q_order_equal_sorting_the_log_odds():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 40, 4_000)
    q = np.round(rng.normal(size=4_000), 2)  # ties in Q stay ties in the log-odds
    slope = rng.normal(size=40)
    slope[:3] = 0.0  # a constant fit: every log-odds of the group tied
    eta = 0.3 + slope[groups] * q
    order = rank_order(q, groups)
    expected = grouped_midranks(eta, groups)
    np.testing.assert_array_equal(monotone_midranks(eta, groups, order, slope), expected)
    reference = (q, grouped_midranks(q, groups, order))
    np.testing.assert_array_equal(monotone_midranks(eta, groups, order, slope, reference), expected)
    slope[5] = 1e-20  # 0.3 + 1e-20 q rounds to 0.3: distinct Q, tied log-odds
    eta = 0.3 + slope[groups] * q
    np.testing.assert_array_equal(
        monotone_midranks(eta, groups, order, slope, reference), grouped_midranks(eta, groups)
    )
    assert monotone_midranks(rng.normal(size=4_000), groups, order, slope) is None
    np.testing.assert_array_equal(order, np.lexsort((q, groups)))
    with sharing():  # the values' order remembered: the same rows
        np.testing.assert_array_equal(rank_order(q, groups), np.lexsort((q, groups)))
        np.testing.assert_array_equal(rank_order(q, groups[::-1]), np.lexsort((q, groups[::-1])))
    spread = groups * 10**9 - 7  # negative and sparse codes: lexsort itself
    np.testing.assert_array_equal(rank_order(q, spread), np.lexsort((q, spread)))
    single = np.zeros(4_000, dtype=np.int64)
    np.testing.assert_array_equal(rank_order(q, single), np.lexsort((q, single)))


def test_a_remembered_draw_leaves_the_generator_where_the_draw_would_have():
    units = np.repeat(np.arange(100), 5)
    fresh = np.random.default_rng(7)
    expected = (split_by_unit(units, 0.2, fresh), fresh.random(3))
    with sharing():
        for _ in range(2):  # the second call is served from the memo
            rng = np.random.default_rng(7)
            test = split_by_unit(units, 0.2, rng)
            np.testing.assert_array_equal(test, expected[0])
            np.testing.assert_array_equal(rng.random(3), expected[1])
        folds = assign_folds(units % 3, units, 5, np.random.default_rng(1))
        assert not folds.flags.writeable  # shared values cannot be changed by one caller
    assert remember("x", (1,), lambda: 5) == 5  # outside sharing(): just computes


@pytest.fixture(scope="module")
def table():
    frame = stats.simulate_scores("common_corruptions", n_ids=80, n_labels=8, seed=3)
    rng = np.random.default_rng(0)
    frame["q_noise"] = rng.normal(size=len(frame))
    frame["q_other"] = frame["q_sim"] + rng.normal(size=len(frame))
    frame["correct_b"] = np.where(rng.random(len(frame)) < 0.1, 1 - frame["correct_sim"],
                                  frame["correct_sim"])  # fmt: skip
    return frame


def test_workers_and_the_memo_do_not_change_any_number(table):
    settings = AnalysisSettings(n_boot=50, seed=1, ci_by=("", "label"))
    dags = ["common_corruptions", "baseline"]
    # records: the baseline DAG tells the story of q_noise's family (and of no other)
    metrics = dict(ScoredRun.from_table(table).metrics)
    metrics["q_noise"] = MetricInfo("q_noise", "noise", "tv", False, None)
    one = run_analysis(table, metrics, settings=settings, dags=dags, workers=1)
    two = run_analysis(table, metrics, settings=settings, dags=dags, workers=2)
    assert two.settings["workers"] == 2 and one.settings["workers"] == 1
    for name in ("pooled", "correlations", "groups", "stratified", "citests", "verdicts"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name), check_exact=True)
    # and each pair's numbers are those of the library functions called alone, no memo
    alone = stats.stratified_cv(table, "q_other", "correct_b", "image_id", seed=1)
    row = one.stratified.query("metric == 'other' and model == 'b' and by == 'image_id'")
    assert row["mean_auc_score"].item() == alone.mean_auc_score
    assert row["mean_ce_loss"].item() == alone.mean_ce_loss


def test_workers_must_be_positive(table):
    from iqalign.errors import ParameterError

    with pytest.raises(ParameterError, match="workers must be at least 1"):
        run_analysis(table, workers=0)


@pytest.mark.parametrize(("penalty", "seed", "scale"), [("l2", 2, 30), ("none", 0, 10)])
def test_newton_evaluating_the_objective_only_where_a_rise_is_possible_changes_nothing(
    monkeypatch, penalty, seed, scale
):
    from iqalign.stats.core import logistic
    from iqalign.stats.core.logistic import fit_grouped_logistic

    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(400), 60)
    x = rng.standard_t(1, size=groups.size)  # Cauchy Q: long first steps, some halved
    slope = rng.normal(scale=scale, size=400)[groups]
    y = (rng.random(groups.size) < expit(slope * x + 3.0)).astype(np.float64)
    evaluations = []
    derivatives = logistic._derivatives
    monkeypatch.setattr(
        logistic, "_derivatives", lambda *a, **k: evaluations.append(1) or derivatives(*a, **k)
    )
    lazy = fit_grouped_logistic(x, y, groups, 400, penalty=penalty, C=100)
    assert len(evaluations) > lazy.n_iter  # steps were halved: the objective test decided
    monkeypatch.setattr(logistic, "_safe_steps", lambda step, z_max: np.zeros(400, dtype=bool))
    everywhere = fit_grouped_logistic(x, y, groups, 400, penalty=penalty, C=100)
    for name in ("intercept", "slope", "converged", "separated"):
        np.testing.assert_array_equal(getattr(lazy, name), getattr(everywhere, name))
    assert lazy.n_iter == everywhere.n_iter


def test_the_memo_drops_the_least_recently_used_values_past_its_budget(monkeypatch):
    from iqalign.stats.core import memo as _memo

    monkeypatch.setattr(_memo, "MEMO_BYTES", 200)  # room for two 80-byte values
    computed = []

    def value(name):
        computed.append(name)
        return np.zeros(10)

    with sharing():
        for name in ["a", "b", "a", "c", "a", "b"]:
            remember("test", (name,), lambda name=name: value(name))
    # "a" stays (used most recently before "c" came); "b" was dropped for "c" and redone
    assert computed == ["a", "b", "c", "b"]


def test_a_row_mask_reports_the_first_nonfinite_row_it_keeps():
    from iqalign.errors import ScoresTableError
    from iqalign.stats.core.table import prepare_scores

    frame = pd.DataFrame(
        {"image_id": ["a", "b", "c"], "q_x": [np.nan, 1.0, np.inf], "correct_m": [1, 0, 1]}
    )
    with pytest.raises(
        ScoresTableError, match=r"1 non-finite values \(NaN or inf\) of 2 \(first at image_id='c'\)"
    ):
        prepare_scores(frame, "x", "m", rows=np.array([False, True, True]))
    data = prepare_scores(frame, "x", "m", nonfinite="drop", rows=np.array([False, True, True]))
    assert data.n_rows == 1 and data.n_dropped_nonfinite == 1


def test_progress_counts_jobs_in_one_process_and_columns_with_workers(table):
    settings = AnalysisSettings(n_boot=50, seed=1)
    messages = []
    run_analysis(table, settings=settings, workers=1, progress=messages.append)
    assert [m.split("]")[0] for m in messages] == [f"[{i}/{len(messages)}" for i in range(1, 25)]
    messages.clear()
    run_analysis(table, settings=settings, workers=2, progress=messages.append)
    assert sorted(m.split(" ")[0] for m in messages) == ["[1/3", "[2/3", "[3/3"]
