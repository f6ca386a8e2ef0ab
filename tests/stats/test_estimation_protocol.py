"""The estimation protocol's honesty: nothing held out reaches a fit, estimators are
ranked within what they saw, the two-way bootstrap is the one described, the run is read
through the scores contract (registry names that differ from column slugs, old runs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from iqalign.scores import read_run
from iqalign.stats.estimation.accuracy import (
    EstimationData,
    Estimator,
    estimate_accuracy,
)
from tests.stats.test_estimation import CORRUPTIONS, scored_table

VALUE_COLUMNS = ("q_tg_maxprob_m", "q_tg_entropy_m", "q_sharp")


@pytest.fixture(scope="module")
def table():
    return scored_table(n_ids=60, seed=4)


@pytest.fixture(scope="module")
def result(table):
    return estimate_accuracy(table, models=["m"], n_boot=100, seed=3)


def _perturbed(table, source_ids, held_out, rng):
    """Every value and label of the held-out corruption's source rows, and every target
    label, replaced by something else."""
    moved = table.copy()
    target = ~moved["image_id"].isin(source_ids)
    held = ~target & (moved["corruption"] == held_out)
    for column in VALUE_COLUMNS:
        moved.loc[held, column] = rng.permutation(moved[column].to_numpy())[: held.sum()]
    moved.loc[held, "q_sharp"] *= 10.0  # far outside: it would move every bin edge
    moved.loc[held, "correct_m"] = 1 - moved.loc[held, "correct_m"]
    moved.loc[target, "correct_m"] = 1 - moved.loc[target, "correct_m"]
    return moved


@pytest.mark.parametrize("held_out", CORRUPTIONS)
def test_nothing_held_out_moves_a_held_out_estimate(table, result, held_out):
    rng = np.random.default_rng(len(held_out))
    moved = _perturbed(table, result.source_ids, held_out, rng)
    again = estimate_accuracy(moved, models=["m"], n_boot=0, source_ids=result.source_ids)
    key = ["estimator", "corruption", "severity"]
    before = result.groups.set_index(key)["estimate"]
    after = again.groups.set_index(key)["estimate"].loc[before.index]
    mine = before.index.get_level_values("corruption") == held_out
    np.testing.assert_array_equal(after[mine].to_numpy(), before[mine].to_numpy())
    # the perturbation has teeth: the folds that may learn from those rows do move, and so
    # does every truth
    shifts = result.groups.set_index(key)["track"].eq("shifts").to_numpy()
    assert not np.allclose(after[~mine & shifts], before[~mine & shifts])
    assert not np.allclose(again.groups["true_accuracy"], result.groups["true_accuracy"])


def test_a_builder_never_sees_a_target_label(table):
    seen = {}

    def peeking(data: EstimationData, model: str) -> list[Estimator]:
        labels = data.labels(model)
        seen["source"] = labels[data.design.is_source]
        seen["target"] = labels[data.design.pair_row]
        return []

    estimate_accuracy(table, n_boot=0, builders=[peeking])
    assert np.isin(seen["source"], (0.0, 1.0)).all() and np.isnan(seen["target"]).all()


def test_ranks_are_within_a_track_and_every_interval_holds_both_points(result):
    s = result.summary
    assert set(s["track"]) == {"clean", "shifts"}
    for _, part in s.groupby(["model", "track"]):
        assert list(part["rank"]) == list(range(1, len(part) + 1))
        assert list(part["MAE"]) == sorted(part["MAE"])
    assert set(s.loc[s["track"] == "clean", "estimator"]) == {"AC", "DoC", "ATC-MC", "ATC-NE"}
    assert s.loc[s["estimator"].str.startswith("Q-"), "track"].eq("shifts").all()
    for point in ("MAE", "MAE_bias_corrected"):
        assert (s["MAE_ci_low"] <= s[point]).all() and (s[point] <= s["MAE_ci_high"]).all()
    assert "max_ci_low" not in s.columns  # a bootstrap of a maximum is not reliable
    errors = result.groups.groupby("estimator")["error"].apply(lambda e: e.abs().mean())
    np.testing.assert_allclose(s.set_index("estimator")["MAE"], errors.loc[s["estimator"]])


def test_the_bootstrap_resamples_corruptions_jointly_with_target_ids(table):
    # a direct transcription: draw the same ID counts and corruption counts, rebuild each
    # resample's rows with pandas, and average AC's absolute error over the drawn groups
    from iqalign.stats.estimation._design import build_design, draw_resamples

    result = estimate_accuracy(table, n_boot=5, seed=11, builders=None)
    rng = np.random.default_rng(11)
    design = build_design(table, "loco", 0.5, rng)
    ids, folds = draw_resamples(design, 5, rng)
    target = table[~table["image_id"].isin(design.source_ids) & (table["corruption"] != "none")]
    codes = {name: k for k, name in enumerate(sorted(target["image_id"].unique()))}
    for b in range(5):
        weight = target["image_id"].map(codes).map(lambda k, b=b: ids[b, k])
        drawn = target.assign(w=weight)
        drawn = drawn.assign(conf=drawn["q_tg_maxprob_m"] * drawn["w"],
                             acc=drawn["correct_m"] * drawn["w"])  # fmt: skip
        sums = drawn.groupby(["corruption", "severity"])[["conf", "acc", "w"]].sum()
        means = sums[["conf", "acc"]].div(sums["w"], axis=0)
        count = dict(zip(design.fold_names, folds[b], strict=True))
        fold_weight = means.index.get_level_values(0).map(count)
        expected = np.average((means["conf"] - means["acc"]).abs(), weights=fold_weight)
        assert result.resampled[("m", "AC")][b] == pytest.approx(expected, rel=1e-5)


def test_bootstrap_group_means_match_a_direct_resample(table):
    from iqalign.stats.estimation._design import bootstrap_group_means, build_design

    design = build_design(table, "loco", 0.5, np.random.default_rng(0))
    values = table["correct_m"].to_numpy(float)[design.pair_row]
    rng = np.random.default_rng(9)
    counts = np.stack([np.bincount(rng.integers(0, design.n_target_ids, design.n_target_ids),
                                   minlength=design.n_target_ids) for _ in range(5)])  # fmt: skip
    point, boot = bootstrap_group_means(design, [values], counts.astype(float))
    pairs = pd.DataFrame({"tid": design.pair_tid, "g": design.pair_group, "v": values})
    for b in range(5):
        picked = pd.DataFrame({"tid": np.repeat(np.arange(design.n_target_ids), counts[b])})
        picked = picked.merge(pairs, on="tid")
        np.testing.assert_allclose(boot[b, :, 0], picked.groupby("g")["v"].mean(), rtol=1e-6)
    np.testing.assert_allclose(point[:, 0], pairs.groupby("g")["v"].mean(), atol=1e-12)


def test_mixtures_protocol_predicts_each_variant(table):
    result = estimate_accuracy(table, protocol="mixtures", n_boot=20, p_values=[0.1, 0.5])
    variants = result.groups[result.groups["estimator"] == "AC"]
    assert list(variants["variant"]) == ["pc=0.1", "pc=0.5"]
    assert (variants["n_images"] == result.n_target_ids).all()
    assert result.n_folds == 1 and result.summary["MAE_ci_high"].notna().all()


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


def _write_run(folder, table, columns, models):
    (folder / "shards").mkdir(parents=True)
    table.iloc[: len(table) // 2].to_parquet(folder / "shards" / "part-00000.parquet")
    table.iloc[len(table) // 2 :].to_parquet(folder / "shards" / "part-00001.parquet")
    manifest = {"format": "iqalign-scores/1", "status": "complete", "columns": columns,
                "models": models}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _entry(metric, family, source, higher=True):
    return {"metric": metric, "family": family, "higher_is_better": higher,
            "source_model": source}  # fmt: skip


def timm_run(folder):
    """A run as 'iqalign score --models timm:resnet50,vit' writes it: the manifest names
    the models by registry name, the columns by slug."""
    base = scored_table(n_ids=40, seed=6)
    slug, other = "timm_resnet50", "vit"
    table = pd.DataFrame({
        "image_id": base["image_id"], "label": base["label"], "corruption": base["corruption"],
        "severity": base["severity"], f"pred_{slug}": base["label"],
        f"correct_{slug}": base["correct_m"], f"q_tg_maxprob_{slug}": base["q_tg_maxprob_m"],
        f"q_tg_entropy_{slug}": base["q_tg_entropy_m"],
        f"q_tg_maxprob_{other}": base["q_tg_maxprob_m"].sample(frac=1, random_state=0).values,
        "q_sharp": base["q_sharp"], f"q_msp_{slug}": base["q_tg_maxprob_m"],
    })  # fmt: skip
    columns = {
        f"q_tg_maxprob_{slug}": _entry("tg_maxprob", "strong_tg", "timm:resnet50"),
        f"q_tg_entropy_{slug}": _entry("tg_entropy", "strong_tg", "timm:resnet50", False),
        f"q_tg_maxprob_{other}": _entry("tg_maxprob", "strong_tg", "vit"),
        "q_sharp": _entry("sharp", "classic_nr", None),
        f"q_msp_{slug}": _entry("msp", "accuracy_estimator", "timm:resnet50"),
    }
    models = {
        "timm:resnet50": {"task_model": True, "pred_column": f"pred_{slug}",
                          "correct_column": f"correct_{slug}"},
        "vit": {"task_model": False, "pred_column": None, "correct_column": None},
    }  # fmt: skip
    return _write_run(folder, table, columns, models)


def test_a_model_whose_registry_name_differs_from_its_slug_keeps_its_baselines(tmp_path):
    run = read_run(timm_run(tmp_path / "run"))
    assert run.models["timm_resnet50"].name == "timm:resnet50"
    result = estimate_accuracy(run, n_boot=20)
    s = result.summary.set_index("estimator")
    assert {"AC", "DoC", "ATC-MC", "ATC-NE", "DoC-reg", "ATC-MC (all source)"} <= set(s.index)
    assert s.loc["Q-mean q_tg_maxprob_timm_resnet50", "Q from"] == "same model"
    assert s.loc["Q-mean q_tg_maxprob_vit", "Q from"] == "other model"
    assert s.loc["Q-mean q_sharp", "Q from"] == "image"
    assert not any("score with" in note for note in result.notes)
    # the old scoring-time MSP column is read, named in a note, and never a Q
    assert not s.index.str.contains("q_msp").any()
    assert any("q_msp_timm_resnet50" in note and "ignored" in note for note in result.notes)


def test_old_runs_with_scoring_time_estimator_columns_still_read(table):
    old = table.assign(q_msp_m=table["q_tg_maxprob_m"], q_atc_m=0.5, q_atc_ne_m=0.4,
                       q_doc_m=table["q_tg_maxprob_m"] - 0.1)  # fmt: skip
    result = estimate_accuracy(old, n_boot=0)
    assert not result.summary["estimator"].str.contains("q_msp|q_atc|q_doc").any()
    note = next(n for n in result.notes if "ignored" in n)
    assert "4 scoring-time" in note and "q_atc_ne_m" in note


def test_a_plugged_in_builder_adds_a_row_in_its_track(table):
    from iqalign.stats.estimation.accuracy import BUILDERS

    def constant(data: EstimationData, model: str) -> list[Estimator]:
        # the source accuracy of the clean images, predicted for every target set
        fit = data.fit_rows("clean", 0)
        level = float(data.labels(model)[fit].mean())
        values = np.column_stack([np.ones(data.design.pair_row.size)] * 2)
        maps = [lambda means: means[..., 0] * level] * data.design.n_folds
        return [Estimator(model, "clean accuracy", "clean", "constant", values, maps, None)]

    result = estimate_accuracy(table, n_boot=10, builders=[*BUILDERS, constant])
    row = result.summary.set_index("estimator").loc["clean accuracy"]
    assert row["track"] == "clean" and row["Q from"] == "same model"
    source = table[table["image_id"].isin(result.source_ids) & (table["corruption"] == "none")]
    got = result.groups[result.groups["estimator"] == "clean accuracy"]["estimate"]
    np.testing.assert_allclose(got, source["correct_m"].mean())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"track": "all"}, "track must be one of"),
        ({"values": np.zeros(3)}, "values must have shape"),
        ({"maps": [np.sqrt]}, "maps for 3 folds"),
    ],
)
def test_a_malformed_estimator_is_named(table, change, message):
    def broken(data: EstimationData, model: str) -> list[Estimator]:
        fields = {"model": model, "name": "broken", "track": "clean", "kind": "x",
                  "values": np.zeros(data.design.pair_row.size)} | change  # fmt: skip
        return [Estimator(**fields)]

    with pytest.raises(ValueError, match=message):
        estimate_accuracy(table, n_boot=0, builders=[broken])


def test_confidence_estimators_find_their_columns_by_the_manifests_role(tmp_path):
    """AC, DoC and ATC read the column the manifest calls the model's ``confidence``,
    whatever the metric's name; a column that only bears the name is not read."""
    folder = timm_run(tmp_path / "run")
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["columns"]["q_tg_maxprob_timm_resnet50"]
    entry.update(metric="my_msp", role="confidence")
    manifest["columns"]["q_sharp"]["role"] = "quality"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    run = read_run(folder)
    assert run.metrics["q_tg_maxprob_timm_resnet50"].metric == "my_msp"
    s = estimate_accuracy(run, n_boot=0).summary.set_index("estimator")
    assert {"AC", "DoC", "ATC-MC"} <= set(s.index)
    entry.update(role="quality")  # the name alone: no confidence column any more
    (folder / "manifest.json").write_text(json.dumps(manifest))
    s = estimate_accuracy(read_run(folder), n_boot=0).summary.set_index("estimator")
    assert "AC" not in s.index and "ATC-NE" in s.index
