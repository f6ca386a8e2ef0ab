"""Label-free accuracy estimation: each estimator against a transcription of its paper's
definition (written here, in numpy, independently of the code under test) or against the
authors' code, and the protocol's Q maps against scikit-learn fitted directly.
(The protocol's honesty -- leakage, tracks, the run reader -- is in
test_estimation_protocol.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqalign.errors import ScoresTableError
from iqalign.stats.estimation.accuracy import estimate_accuracy

CORRUPTIONS = ("blur", "fog", "noise")


def scored_table(n_ids: int = 60, seed: int = 0) -> pd.DataFrame:
    """clean + 3 corruptions x 3 severities per image; one model 'm'; MSP, entropy and a
    quality column that falls with severity; correctness drawn from a group-dependent rate."""
    rng = np.random.default_rng(seed)
    cells = [("none", 0)] + [(c, s) for c in CORRUPTIONS for s in (1, 2, 3)]
    rows = []
    for i in range(n_ids):
        for k, (c, s) in enumerate(cells):
            level = 0.9 - 0.12 * s - 0.03 * k % 5
            correct = rng.random() < level
            msp = np.clip(level + rng.normal(0, 0.15) + 0.1 * correct, 0.01, 1.0)
            rows.append({
                "image_id": f"id{i:03d}", "label": i % 7, "corruption": c, "severity": s,
                "q_tg_maxprob_m": msp, "q_tg_entropy_m": -np.log(msp) + rng.random(),
                "q_sharp": 3.0 - s + rng.normal(0, 0.8), "correct_m": int(correct),
            })  # fmt: skip
    return pd.DataFrame(rows)


def split(table: pd.DataFrame, result) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = table["image_id"].isin(result.source_ids)
    return table[source], table[~source]


def estimates(result, name: str) -> pd.DataFrame:
    return result.groups[result.groups["estimator"] == name].set_index(["corruption", "severity"])


# ---- transcriptions of the papers' definitions and the authors' code (not ours) -------


def ref_atc(src_score, src_correct, tgt_score):
    """Garg et al. 2022, eq. (1): t with E_S[1{s < t}] = E_S[1{error}] (searched over the
    source scores), then ATC = E_T[1{s >= t}]."""
    error = 1.0 - np.mean(src_correct)
    candidates = np.append(np.unique(src_score), np.inf)
    gaps = [abs(np.mean(src_score < t) - error) for t in candidates]
    t = candidates[int(np.argmin(gaps))]
    return np.mean(tgt_score >= t)


def authors_find_atc_threshold(scores, labels):
    """saurabhgarg1996/ATC_code, ATC_helper.py, find_ATC_threshold (transcribed)."""
    sorted_idx = np.argsort(scores)
    sorted_scores, sorted_labels = scores[sorted_idx], labels[sorted_idx]
    fp, fn = np.sum(labels == 0), 0.0
    min_fp_fn, thres = np.abs(fp - fn), 0.0
    for i in range(len(labels)):
        if sorted_labels[i] == 0:
            fp -= 1
        else:
            fn += 1
        if np.abs(fp - fn) < min_fp_fn:
            min_fp_fn, thres = np.abs(fp - fn), sorted_scores[i]
    return min_fp_fn, thres


def ref_doc(src_conf, src_correct, tgt_conf):
    """Guillory et al. 2021: acc_T ~ acc_S - (AC_S - AC_T)."""
    return np.mean(src_correct) - (np.mean(src_conf) - np.mean(tgt_conf))


@pytest.fixture(scope="module")
def table():
    return scored_table()


@pytest.fixture(scope="module")
def result(table):
    return estimate_accuracy(table, models=["m"], n_boot=50, seed=3)


def test_clean_track_ac_doc_atc_match_the_papers_definitions(table, result):
    source, target = split(table, result)
    clean = source[source["corruption"] == "none"]
    src_conf, src_ne = clean["q_tg_maxprob_m"].to_numpy(), -clean["q_tg_entropy_m"].to_numpy()
    y = clean["correct_m"].to_numpy()
    checked = 0
    for (c, s), part in target[target["corruption"] != "none"].groupby(["corruption", "severity"]):
        conf, ne = part["q_tg_maxprob_m"].to_numpy(), -part["q_tg_entropy_m"].to_numpy()
        got = {name: estimates(result, name).loc[(c, s), "estimate"]
               for name in ("AC", "DoC", "ATC-MC", "ATC-NE")}  # fmt: skip
        assert got["AC"] == pytest.approx(conf.mean(), abs=1e-12)
        assert got["DoC"] == pytest.approx(ref_doc(src_conf, y, conf), abs=1e-12)
        assert got["ATC-MC"] == pytest.approx(ref_atc(src_conf, y, conf))
        assert got["ATC-NE"] == pytest.approx(ref_atc(src_ne, y, ne))
        assert estimates(result, "AC").loc[(c, s), "true_accuracy"] == pytest.approx(
            part["correct_m"].mean()
        )
        checked += 1
    assert checked == 9
    assert set(result.groups.query("estimator == 'AC'")["track"]) == {"clean"}


def test_shifts_track_fits_on_every_source_row_but_the_held_out_corruption(table, result):
    from sklearn.linear_model import LinearRegression

    source, target = split(table, result)
    for held_out in CORRUPTIONS:
        fit = source[source["corruption"] != held_out]
        conf, ne, y = fit["q_tg_maxprob_m"], -fit["q_tg_entropy_m"], fit["correct_m"]
        groups = fit.groupby(["corruption", "severity"])[["q_tg_maxprob_m", "correct_m"]].mean()
        line = LinearRegression().fit(groups[["q_tg_maxprob_m"]], groups["correct_m"])
        for s in (1, 2, 3):
            part = target[(target["corruption"] == held_out) & (target["severity"] == s)]
            tc, tn = part["q_tg_maxprob_m"].to_numpy(), -part["q_tg_entropy_m"].to_numpy()
            got = {name: estimates(result, name).loc[(held_out, s), "estimate"]
                   for name in ("DoC (all source)", "ATC-MC (all source)",
                                "ATC-NE (all source)", "DoC-reg")}  # fmt: skip
            assert got["DoC (all source)"] == pytest.approx(ref_doc(conf, y, tc), abs=1e-12)
            assert got["ATC-MC (all source)"] == pytest.approx(ref_atc(conf.to_numpy(), y, tc))
            assert got["ATC-NE (all source)"] == pytest.approx(ref_atc(ne.to_numpy(), y, tn))
            expected = np.clip(line.predict(pd.DataFrame({"q_tg_maxprob_m": [tc.mean()]})), 0, 1)
            assert got["DoC-reg"] == pytest.approx(expected[0], abs=1e-12)


def test_atc_threshold_reproduces_source_accuracy():
    from iqalign.stats.estimation.estimators import atc_estimate, fit_atc_threshold

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        score, correct = rng.random(n), rng.random(n) < 0.6
        t = fit_atc_threshold(score, correct)
        assert atc_estimate(score, t) == pytest.approx(np.mean(correct))
        assert atc_estimate(score, t) == pytest.approx(ref_atc(score, correct, score))


@pytest.mark.parametrize("n", [5, 20, 300])
def test_atc_threshold_is_the_score_after_the_authors_one(n):
    # The authors' find_ATC_threshold balances errors above against correct ones below and
    # returns the last score it moved below; their get_ATC_acc counts it with ">=", so on
    # the source it reports one image too many. Ours is the next source score: the same
    # split, counted as the paper's equation defines it.
    from iqalign.stats.estimation.estimators import atc_estimate, fit_atc_threshold

    rng = np.random.default_rng(n)
    for _ in range(20):
        score, correct = rng.random(n), (rng.random(n) < 0.7).astype(int)
        if correct.all() or not correct.any():
            continue
        _, theirs = authors_find_atc_threshold(score, correct)
        ours = fit_atc_threshold(score, correct)
        assert ours == np.sort(score)[np.searchsorted(np.sort(score), theirs) + 1]
        assert np.mean(score >= theirs) == pytest.approx(np.mean(correct) + 1 / n)
        assert atc_estimate(score, ours) == pytest.approx(np.mean(correct))


def test_q_mean_is_sklearn_isotonic_fitted_without_the_held_out_corruption(table, result):
    from sklearn.isotonic import IsotonicRegression

    source, target = split(table, result)
    per_group = source.groupby(["corruption", "severity"])[["q_sharp", "correct_m"]].mean()
    got = result.groups[result.groups["estimator"] == "Q-mean q_sharp"]
    for held_out in CORRUPTIONS:
        fit_on = per_group[per_group.index.get_level_values(0) != held_out]
        iso = IsotonicRegression(increasing="auto", out_of_bounds="clip", y_min=0, y_max=1)
        iso.fit(fit_on["q_sharp"], fit_on["correct_m"])
        tgt = target[target["corruption"] == held_out].groupby("severity")["q_sharp"].mean()
        mine = got[got["corruption"] == held_out].set_index("severity")["estimate"]
        np.testing.assert_allclose(mine.loc[tgt.index], iso.predict(tgt.to_numpy()), atol=1e-12)


@pytest.mark.parametrize("held_out", CORRUPTIONS)
def test_q_dist_is_sklearn_isotonic_on_bins_of_the_fitting_rows(table, result, held_out):
    from sklearn.isotonic import IsotonicRegression

    source, target = split(table, result)
    fit_on = source[source["corruption"] != held_out]
    edges = np.unique(np.quantile(fit_on["q_sharp"], np.linspace(0, 1, 65)))
    bins = np.searchsorted(edges[1:-1], fit_on["q_sharp"], side="right")
    per_bin = fit_on.assign(bin=bins).groupby("bin")["correct_m"].agg(["mean", "size"])
    iso = IsotonicRegression(increasing="auto", out_of_bounds="clip", y_min=0, y_max=1)
    iso.fit(per_bin.index.to_numpy(), per_bin["mean"], per_bin["size"])
    got = estimates(result, "Q-dist q_sharp")
    for s in (1, 2, 3):
        part = target[(target["corruption"] == held_out) & (target["severity"] == s)]
        bins = np.searchsorted(edges[1:-1], part["q_sharp"], side="right")
        assert got.loc[(held_out, s), "estimate"] == pytest.approx(iso.predict(bins).mean())


def test_sorted_quantiles_equal_numpy_bit_for_bit():
    from iqalign.stats.estimation._base import SortedSource
    from iqalign.stats.estimation._q import sorted_quantiles

    rng = np.random.default_rng(0)
    levels = np.linspace(0, 1, 65)
    for n in (1, 2, 3, 10, 97, 1000):
        values = np.round(rng.normal(size=n), 1 if n > 50 else 6)  # ties in the large ones
        held = rng.random(n) < 0.3
        held[0] = False
        order = np.argsort(values, kind="stable")
        positions = np.flatnonzero(held[order])
        ordered = SortedSource(values[order], order, (positions,))
        expected = np.quantile(values[~held], levels)
        np.testing.assert_array_equal(sorted_quantiles(ordered, 0, levels), expected)


def test_a_perfectly_calibrated_model_makes_ac_and_doc_exact():
    # In every group of the target IDs, images at confidence c are correct in exactly a
    # fraction c of cases, so AC equals the group's accuracy (known by construction).
    levels = np.array([0.25, 0.5, 0.75, 1.0])
    rows = []
    for g, (c, s) in enumerate([("none", 0), ("fog", 1), ("fog", 2), ("blur", 1)]):
        weights = np.roll([1, 2, 3, 4], g)  # each group its own confidence mix
        conf = np.repeat(np.repeat(levels, 4), np.repeat(weights, 4))
        correct = np.concatenate(
            [
                np.tile(np.arange(4) < round(lv * 4), w)
                for lv, w in zip(levels, weights, strict=True)
            ]
        )
        ids = [f"id{i}" for i in range(conf.size)]
        rows.append(pd.DataFrame({"image_id": ids, "corruption": c, "severity": s,
                                  "q_tg_maxprob_m": conf, "correct_m": correct.astype(int)}))  # fmt: skip
    target = pd.concat(rows, ignore_index=True)
    source = target[target["corruption"] == "none"].assign(image_id=lambda f: "s" + f.image_id)
    table = pd.concat([source, target], ignore_index=True)
    result = estimate_accuracy(table, n_boot=0, source_ids=source["image_id"].unique())
    known = {("fog", 1): (levels * np.roll([1, 2, 3, 4], 1)).sum() / 10}
    ac = result.groups[result.groups["estimator"].isin(["AC", "DoC"])]
    np.testing.assert_allclose(ac["estimate"], ac["true_accuracy"], atol=1e-12)
    fog1 = ac[(ac["corruption"] == "fog") & (ac["severity"] == 1)]["estimate"]
    np.testing.assert_allclose(fog1, known[("fog", 1)], atol=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_monotone_map_is_sklearns_isotonic_regression(sign):
    from sklearn.isotonic import IsotonicRegression

    from iqalign.stats.estimation.estimators import fit_monotone_map

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=300), 1)  # ties on purpose
    y = np.clip(0.5 + sign * 0.2 * x + rng.normal(0, 0.2, x.size), 0, 1)
    w = rng.integers(1, 5, x.size).astype(float)
    ref = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(x, y, w)
    mine = fit_monotone_map(x, y, w)
    grid = np.linspace(-4, 4, 101)
    assert mine.increasing == ref.increasing_
    np.testing.assert_allclose(mine(grid), ref.predict(grid), atol=1e-12)


def test_linear_map_is_numpys_least_squares_clipped():
    from iqalign.stats.estimation.estimators import fit_linear_map

    rng = np.random.default_rng(2)
    x = rng.random(12)
    y = 0.2 + 0.7 * x + rng.normal(0, 0.05, x.size)
    slope, intercept = np.polyfit(x, y, 1)
    line = fit_linear_map(x, y)
    assert (line.slope, line.intercept) == pytest.approx((slope, intercept), abs=1e-12)
    np.testing.assert_allclose(line(np.array([-5.0, 0.5, 5.0])), [0.0, intercept + slope / 2, 1.0])
    flat = fit_linear_map(np.ones(3), np.array([0.2, 0.4, 0.6]))
    assert flat(np.array([9.0]))[0] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[t["corruption"] != "none"], "clean rows"),
        (lambda t: t[t["image_id"] == "id000"], "both parts must be non-empty"),
        (lambda t: t.drop(columns="severity"), "'severity'"),
        (lambda t: t.drop(columns="correct_m"), "no correctness column"),
    ],
)
def test_bad_tables_get_a_clear_error(table, change, message):
    with pytest.raises(ScoresTableError, match=message):
        estimate_accuracy(change(table), n_boot=0)
