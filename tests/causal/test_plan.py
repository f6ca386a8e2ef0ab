from __future__ import annotations

import pytest

from iqalign.causal import load_dag, plan_claim, plan_tests

from .builders import make_dag


def test_conditioning_on_x_is_refused_with_the_proxy_named():
    plan = plan_claim(load_dag("common_corruptions"), "Q _||_ M | X")
    assert not plan.testable and plan.expected is None
    assert "each stratum would hold a single image" in plan.refused
    assert "conditions on X0 (column image_id) instead" in plan.refused


def test_per_image_id_test_expects_dependence_in_common_corruptions():
    plan = plan_claim(load_dag("common_corruptions"), "Q _||_ M | X0")
    assert plan.testable and plan.stratifiers == ("image_id",) and plan.test == "stratified"
    assert plan.stands_for == (("X0", "image_id"),)
    assert plan.expected == "connected" and "possible" in plan.expectation


def test_group_test_maps_corruption_and_severity():
    plan = plan_claim(load_dag("common_corruptions"), "Q _||_ M | C, S")
    assert plan.stratifiers == ("corruption", "severity")
    assert plan.quality_column == "q_*" and plan.performance_column == "correct_*"


def test_latent_and_unmapped_nodes_are_refused():
    assert "Z is latent" in plan_claim(load_dag("shared_features"), "Q _||_ M | Z").refused
    assert "no column stands for H" not in (
        plan_claim(load_dag("nr_iqa"), "Q _||_ M | Y").refused or ""
    )
    unmapped = plan_claim(load_dag("nr_iqa"), "Q _||_ M | H")
    assert "H is latent" in unmapped.refused
    dag = make_dag("X->Q, X->M, W->Q", Q={"column": "q_*"}, M={"column": "correct_*"})
    assert "no column stands for W" in plan_claim(dag, "Q _||_ M | W").refused


def test_dag_without_q_m_columns_is_refused():
    dag = make_dag("X->Q, X->M")
    plan = plan_claim(dag, "Q _||_ M | X")
    assert "no node is mapped to a Q / M column" in plan.refused


def test_claims_not_about_q_and_m_are_refused():
    plan = plan_claim(load_dag("common_corruptions"), "C _||_ S")
    assert "tests claims between Q (quality) and M (performance)" in plan.refused


def test_strata_that_fix_m_are_refused():
    plan = plan_claim(load_dag("baseline"), "Q _||_ M | Y, Yhat")
    assert "M is a function of Y, Yhat" in plan.refused


def test_selection_node_is_conditioned_by_design():
    plan = plan_claim(load_dag("weak_task_guided"), "Q _||_ M | T, Y")
    assert plan.testable and plan.stratifiers == ("label",)
    assert "selection node" in plan.note


@pytest.mark.parametrize(
    "name", ["baseline", "common_corruptions", "weak_task_guided", "shared_features"]
)
def test_plan_has_pooled_and_label_tests(name):
    plans = plan_tests(load_dag(name))
    testable = {p.stratifiers for p in plans if p.testable}
    assert () in testable and ("label",) in testable
    keys = [(p.claim.left | p.claim.right, p.claim.given) for p in plans]
    assert len(keys) == len(set(keys)), "a claim was planned twice"


def test_plan_is_a_frozen_value():
    import dataclasses

    plan = plan_claim(load_dag("baseline"), "Q _||_ M | Y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.stratifiers = ()  # type: ignore[misc]
