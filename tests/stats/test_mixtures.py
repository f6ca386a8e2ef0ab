"""p_c mixtures: every image once, the asked-for share corrupted, seeded, complete or refused."""

import numpy as np
import pytest

from iqalign.errors import ScoresTableError
from iqalign.stats import make_mixture, mixture_predictability, simulate_scores


@pytest.fixture(scope="module")
def table():
    return simulate_scores("common_corruptions", n_ids=400, seed=9)


def test_variant_keeps_every_image_once_and_corrupts_a_fraction(table):
    variant = make_mixture(table, 0.2, seed=1)
    assert len(variant) == 400 and variant["image_id"].is_unique
    corrupted = variant[variant["corruption"] != "none"]
    assert len(corrupted) == 80
    assert (
        set(corrupted["severity"]) <= {1, 2, 3}
        and (variant.loc[variant["corruption"] == "none", "severity"] == 0).all()
    )
    assert corrupted["corruption"].nunique() > 10  # uniform over the 15 types
    # each row is a real row of the table (same scores)
    merged = variant.merge(table, on=["image_id", "corruption", "severity"], suffixes=("", "_t"))
    np.testing.assert_array_equal(merged["q_sim"], merged["q_sim_t"])


def test_variants_are_seeded(table):
    a, b = make_mixture(table, 0.05, seed=3), make_mixture(table, 0.05, seed=3)
    assert a.equals(b)
    assert not a.equals(make_mixture(table, 0.05, seed=4))
    assert (make_mixture(table, 0.0, seed=3)["corruption"] == "none").all()


def test_missing_rows_are_refused_with_an_example(table):
    without_fog = table[table["corruption"] != "fog"]
    with pytest.raises(ScoresTableError, match="corruption='fog'"):
        make_mixture(without_fog, 1.0, corruptions=["fog"], seed=0)
    with pytest.raises(ScoresTableError, match="no corrupted rows"):
        make_mixture(table[table["corruption"] == "none"], 0.1)
    with pytest.raises(ValueError, match="p_c must be in"):
        make_mixture(table, 1.5)


def test_mixture_predictability_summarises_variants(table):
    r = mixture_predictability(table, "sim", "sim", p_values=(0.05, 0.1, 0.2), n_boot=30, seed=0)
    assert r.n_variants == 3 and list(r.variants["p_c"]) == [0.05, 0.1, 0.2]
    assert r.variants["n_corrupted"].tolist() == [20, 40, 80]
    assert r.mean_auc_score == pytest.approx(r.variants["auc_score"].mean())
    assert (r.variants["auc_ci_low"] <= r.variants["auc_score"]).all()
    again = mixture_predictability(table, "sim", "sim", p_values=(0.1,), n_boot=30, seed=0)
    assert again.variants["p_c"].tolist() == [0.1]
