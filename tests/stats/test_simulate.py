"""Synthetic tables from DAGs: shape, reproducibility, and the truth they were built with."""

import numpy as np
import pytest

from iqalign.causal import list_builtin_dags
from iqalign.errors import SimulationError
from iqalign.stats import ci_test, simulate_scores

from .conftest import null_dag


@pytest.mark.parametrize("name", list_builtin_dags())
def test_every_builtin_dag_simulates_an_imagenet_c_shaped_table(name):
    table = simulate_scores(name, n_ids=5, seed=0)
    assert len(table) == 5 * 76
    assert {"image_id", "label", "corruption", "severity", "q_sim", "correct_sim"} <= set(
        table.columns
    )
    assert table.groupby("image_id", observed=True).size().eq(76).all()
    assert (table["corruption"] == "none").sum() == 5 and set(table["severity"]) == {
        0,
        1,
        2,
        3,
        4,
        5,
    }
    assert table["correct_sim"].isin([0, 1]).all() and np.isfinite(table["q_sim"]).all()


def test_prediction_column_agrees_with_correctness_and_labels():
    table = simulate_scores("baseline", n_ids=50, n_labels=10, seed=1)
    assert ((table["pred_sim"] == table["label"]) == (table["correct_sim"] == 1)).all()
    assert table.groupby("image_id", observed=True)["label"].nunique().eq(1).all()
    assert table["label"].nunique() == 10


def test_seeded_and_configurable():
    a = simulate_scores("common_corruptions", n_ids=20, seed=3)
    assert a.equals(simulate_scores("common_corruptions", n_ids=20, seed=3))
    assert not a.equals(simulate_scores("common_corruptions", n_ids=20, seed=4))
    iid = simulate_scores(
        "common_corruptions", n_ids=300, layout="iid", metric="clip", model="r34", seed=0
    )
    assert len(iid) == 300 and {"q_clip", "correct_r34", "pred_r34"} <= set(iid.columns)
    assert 0.6 < simulate_scores("baseline", n_ids=200, accuracy=0.7).correct_sim.mean() < 0.8
    notes = a.attrs["iqalign_simulation"]["notes"]
    assert any("X0" in note and "not simulated" in note for note in notes)


def test_edge_strengths_set_the_truth():
    """Strength 0 on X -> Yhat cuts the only path between Q and M in the baseline DAG."""
    cut = simulate_scores("baseline", n_ids=300, strengths={"X -> Yhat": 0.0}, seed=0)
    kept = simulate_scores("baseline", n_ids=300, seed=0)
    assert ci_test(cut, "sim", "sim").p_value > 0.01
    assert ci_test(kept, "sim", "sim").p_value < 1e-6


def test_null_dag_holds_given_the_image_and_fails_marginally():
    table = simulate_scores(null_dag(), n_ids=200, seed=2)
    assert ci_test(table, "sim", "sim", by="image_id").p_value > 0.01
    assert ci_test(table, "sim", "sim").p_value < 1e-6  # connected through X0


def test_bad_settings_are_refused():
    with pytest.raises(SimulationError, match="not an edge"):
        simulate_scores("baseline", n_ids=5, strengths={"Q -> M": 1.0})
    with pytest.raises(SimulationError, match="unknown layout"):
        simulate_scores("baseline", n_ids=5, layout="cifar")
    with pytest.raises(SimulationError, match="accuracy"):
        simulate_scores("baseline", n_ids=5, accuracy=1.0)
    with pytest.raises(SimulationError, match="n_labels"):
        simulate_scores("baseline", n_ids=5, n_labels=1)
