"""Every analysis runs on awkward but valid data without a single warning (no silent NaN)."""

import warnings

import numpy as np

from iqalign.stats import (
    ci_test,
    group_correlations,
    mixture_predictability,
    predictability,
    run_verdicts,
    simulate_scores,
    stratified_cv,
)


def test_whole_pipeline_is_warning_free():
    table = simulate_scores("common_corruptions", n_ids=120, n_labels=30, seed=4)
    one_class_image = table["image_id"] == table["image_id"].iloc[0]
    table.loc[one_class_image, "correct_sim"] = 1  # a single-class stratum
    table.loc[table["corruption"] == "fog", "correct_sim"] = 0  # a constant-accuracy scope
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = [
            predictability(table, "sim", "sim", n_boot=50),
            predictability(table, "sim", "sim", n_boot=50, penalty="firth"),
            group_correlations(table, "sim", "sim", n_boot=50),
            stratified_cv(table, "sim", "sim", by="label", per_stratum=True),
            ci_test(table, "sim", "sim", by="image_id"),
            ci_test(table, "sim", "sim", by="image_id", test="cmh"),
            ci_test(table.iloc[: 20 * 76], "sim", "sim", by="image_id", test="lr"),  # slow: small
            run_verdicts("common_corruptions", table, "sim", "sim"),
            mixture_predictability(table, "sim", "sim", p_values=(0.1, 0.2), n_boot=20),
        ]
    for result in results:
        assert result.to_dict()  # JSON-ready: NaN only as None, where a note explains it
    fog = results[2].correlations.query("scope == 'corruption=fog'")
    assert fog["note"].str.len().gt(0).all()
    assert np.isfinite(results[3].mean_auc_score)
