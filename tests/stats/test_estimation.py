"""Label-free accuracy estimation: each estimator against a transcription of its paper's
definition (written here, in numpy, independently of the code under test), the protocol's
Q maps against scikit-learn fitted directly, and the protocol's honesty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqalign.errors import ScoresTableError
from iqalign.stats.estimation import QColumn, describe_q_columns, estimate_accuracy

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


# ---- transcriptions of the papers' definitions (reference code, not ours) -----------


def ref_atc(src_score, src_correct, tgt_score):
    """Garg et al. 2022, eq. (1): t with E_S[1{s < t}] = E_S[1{error}] (searched over the
    source scores), then ATC = E_T[1{s >= t}]."""
    error = 1.0 - np.mean(src_correct)
    candidates = np.append(np.unique(src_score), np.inf)
    gaps = [abs(np.mean(src_score < t) - error) for t in candidates]
    t = candidates[int(np.argmin(gaps))]
    return np.mean(tgt_score >= t)


def ref_doc(src_conf, src_correct, tgt_conf):
    """Guillory et al. 2021: acc_T ~ acc_S - (AC_S - AC_T)."""
    return np.mean(src_correct) - (np.mean(src_conf) - np.mean(tgt_conf))


@pytest.fixture(scope="module")
def table():
    return scored_table()


@pytest.fixture(scope="module")
def result(table):
    return estimate_accuracy(table, models=["m"], n_boot=50, seed=3)


def test_ac_doc_atc_match_the_papers_definitions(table, result):
    source, target = split(table, result)
    clean = source[source["corruption"] == "none"]
    groups = result.groups
    checked = 0
    for (c, s), part in target[target["corruption"] != "none"].groupby(["corruption", "severity"]):
        row = groups[(groups["corruption"] == c) & (groups["severity"] == s)].set_index("estimator")
        conf, ne = part["q_tg_maxprob_m"].to_numpy(), -part["q_tg_entropy_m"].to_numpy()
        src_conf, src_ne = clean["q_tg_maxprob_m"].to_numpy(), -clean["q_tg_entropy_m"].to_numpy()
        y = clean["correct_m"].to_numpy()
        assert row.loc["AC", "estimate"] == pytest.approx(conf.mean(), abs=1e-12)
        assert row.loc["DoC", "estimate"] == pytest.approx(ref_doc(src_conf, y, conf), abs=1e-12)
        assert row.loc["ATC-MC", "estimate"] == pytest.approx(ref_atc(src_conf, y, conf))
        assert row.loc["ATC-NE", "estimate"] == pytest.approx(ref_atc(src_ne, y, ne))
        assert row.loc["AC", "true_accuracy"] == pytest.approx(part["correct_m"].mean())
        checked += 1
    assert checked == 9


def test_atc_threshold_reproduces_source_accuracy():
    from iqalign.stats.estimators import atc_estimate, fit_atc_threshold

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        score, correct = rng.random(n), rng.random(n) < 0.6
        t = fit_atc_threshold(score, correct)
        assert atc_estimate(score, t) == pytest.approx(np.mean(correct))
        assert atc_estimate(score, t) == pytest.approx(ref_atc(score, correct, score))


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


def test_q_dist_is_sklearn_isotonic_on_quantile_bins(table, result):
    from sklearn.isotonic import IsotonicRegression

    source, target = split(table, result)
    edges = np.unique(np.quantile(source["q_sharp"], np.linspace(0, 1, 65)))
    held_out = "fog"
    fit_on = source[source["corruption"] != held_out]
    bins = np.searchsorted(edges[1:-1], fit_on["q_sharp"], side="right")
    per_bin = fit_on.assign(bin=bins).groupby("bin")["correct_m"].agg(["mean", "size"])
    iso = IsotonicRegression(increasing="auto", out_of_bounds="clip", y_min=0, y_max=1)
    iso.fit(per_bin.index.to_numpy(), per_bin["mean"], per_bin["size"])
    part = target[(target["corruption"] == held_out) & (target["severity"] == 2)]
    expected = iso.predict(np.searchsorted(edges[1:-1], part["q_sharp"], side="right")).mean()
    got = result.groups.set_index(["estimator", "corruption", "severity"])
    assert got.loc[("Q-dist q_sharp", held_out, 2), "estimate"] == pytest.approx(expected)


def test_target_labels_never_reach_an_estimate(table, result):
    flipped = table.copy()
    target = ~flipped["image_id"].isin(result.source_ids)
    flipped.loc[target, "correct_m"] = 1 - flipped.loc[target, "correct_m"]
    again = estimate_accuracy(flipped, models=["m"], n_boot=0, source_ids=result.source_ids)
    np.testing.assert_allclose(again.groups["estimate"], result.groups["estimate"])
    assert not np.allclose(again.groups["true_accuracy"], result.groups["true_accuracy"])


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


def test_bootstrap_group_means_match_a_direct_resample(table, result):
    from iqalign.stats._estimation_design import bootstrap_group_means, build_design

    design = build_design(table, "loco", 0.5, np.random.default_rng(0))
    values = table["correct_m"].to_numpy(float)[design.pair_row]
    point, boot = bootstrap_group_means(design, [values], 5, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    pairs = pd.DataFrame({"tid": design.pair_tid, "g": design.pair_group, "v": values})
    for b in range(5):
        draw = rng.integers(0, design.n_target_ids, design.n_target_ids)
        picked = pd.DataFrame({"tid": draw}).merge(pairs, on="tid")
        np.testing.assert_allclose(
            boot[b, :, 0], picked.groupby("g")["v"].mean(), rtol=1e-6
        )  # float32
    np.testing.assert_allclose(point[:, 0], pairs.groupby("g")["v"].mean(), atol=1e-12)


def test_summary_ranks_by_mae_with_intervals(result):
    s = result.summary
    assert list(s["MAE"]) == sorted(s["MAE"]) and list(s["rank"]) == list(range(1, len(s) + 1))
    assert (s["MAE_ci_low"] <= s["MAE_ci_high"]).all()
    errors = result.groups.groupby("estimator")["error"].apply(lambda e: e.abs().mean())
    np.testing.assert_allclose(s.set_index("estimator")["MAE"], errors.loc[s["estimator"]])


def test_mixtures_protocol_predicts_each_variant(table):
    result = estimate_accuracy(table, protocol="mixtures", n_boot=0, p_values=[0.1, 0.5])
    variants = result.groups[result.groups["estimator"] == "AC"]
    assert list(variants["variant"]) == ["pc=0.1", "pc=0.5"]
    assert (variants["n_images"] == result.n_target_ids).all()


def test_estimator_family_columns_are_not_q_and_other_model_is_labelled():
    frame = pd.DataFrame(columns=["q_msp_a", "q_doc_a", "q_tg_maxprob_b", "q_tv"])
    cols = {q.column: q for q in describe_q_columns(frame, None, ["a", "b"])}
    assert cols["q_msp_a"].family == "accuracy_estimator"
    assert cols["q_tg_maxprob_b"] == QColumn("q_tg_maxprob_b", "tg_maxprob", "unknown", "b")
    assert cols["q_tv"].source_model is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[t["corruption"] != "none"], "clean rows"),
        (lambda t: t[t["image_id"] == "id000"], "both parts must be non-empty"),
        (lambda t: t.drop(columns="severity"), "'severity'"),
    ],
)
def test_bad_tables_get_a_clear_error(table, change, message):
    with pytest.raises(ScoresTableError, match=message):
        estimate_accuracy(change(table), n_boot=0)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_monotone_map_is_sklearns_isotonic_regression(sign):
    from sklearn.isotonic import IsotonicRegression

    from iqalign.stats.estimators import fit_monotone_map

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=300), 1)  # ties on purpose
    y = np.clip(0.5 + sign * 0.2 * x + rng.normal(0, 0.2, x.size), 0, 1)
    w = rng.integers(1, 5, x.size).astype(float)
    ref = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(x, y, w)
    mine = fit_monotone_map(x, y, w)
    grid = np.linspace(-4, 4, 101)
    assert mine.increasing == ref.increasing_
    np.testing.assert_allclose(mine(grid), ref.predict(grid), atol=1e-12)


def test_mixtures_protocol_uses_a_runs_scored_variant_rows(table, result):
    # A run scored with --mixture: its variant rows (one per image ID and p_c) are the
    # targets; the grid rows (variant empty) stay the source of the Q maps.
    rng = np.random.default_rng(4)
    grid = table.assign(variant=None)
    variants = []
    for p_c in (0.2, 0.6):
        pick = table.groupby("image_id").sample(1, random_state=int(rng.integers(1000)))
        variants.append(pick.assign(variant=f"pc={p_c}"))
    scored = pd.concat([grid, *variants], ignore_index=True)
    got = estimate_accuracy(scored, protocol="mixtures", n_boot=0, source_ids=result.source_ids)
    target = pd.concat(variants)
    target = target[~target["image_id"].isin(result.source_ids)]
    expected = target.groupby("variant")["correct_m"].mean()
    ac = got.groups[got.groups["estimator"] == "AC"].set_index("variant")
    np.testing.assert_allclose(ac["true_accuracy"], expected.loc[ac.index])
    np.testing.assert_allclose(
        ac["estimate"], target.groupby("variant")["q_tg_maxprob_m"].mean().loc[ac.index]
    )
    assert "scored variant rows" in " ".join(got.notes)
