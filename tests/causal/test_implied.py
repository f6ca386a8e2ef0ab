from __future__ import annotations

from itertools import combinations

import pytest

from iqalign.causal import (
    Reading,
    is_d_separated,
    list_builtin_dags,
    list_implied_independencies,
    load_dag,
)


def test_baseline_basis():
    claims = [str(c) for c in list_implied_independencies(load_dag("baseline"))]
    assert claims == [
        "M _||_ Q | X",
        "M _||_ X | Y, Yhat",
        "Q _||_ Y | X",
        "Q _||_ Yhat | X",
        "Y _||_ Yhat | X",
    ]


@pytest.mark.parametrize("name", list_builtin_dags())
@pytest.mark.parametrize("mode", ["basis", "all"])
def test_listed_independencies_hold_are_minimal_and_observable(name, mode):
    dag = load_dag(name)
    hidden = set(dag.nodes_with_role("latent", "selection"))
    claims = list_implied_independencies(dag, mode=mode)
    assert claims
    for claim in claims:
        assert not (claim.nodes & hidden), f"{claim} names a latent or selection node"
        assert is_d_separated(dag, claim.left, claim.right, claim.given)
        for smaller in (
            combinations(sorted(claim.given), len(claim.given) - 1) if claim.given else []
        ):
            assert not is_d_separated(dag, claim.left, claim.right, set(smaller)), (
                f"{claim} not minimal"
            )


@pytest.mark.parametrize("name", list_builtin_dags())
def test_all_mode_contains_basis(name):
    dag = load_dag(name)
    basis = set(list_implied_independencies(dag))
    assert basis <= set(list_implied_independencies(dag, mode="all"))


def test_pairs_without_observable_separator_are_left_out():
    from .builders import make_dag

    # Q and M share the latent U: no observable set separates them.
    dag = make_dag("U->Q, U->M, X->Q", U={"role": "latent"})
    claims = [str(c) for c in list_implied_independencies(dag)]
    assert claims == ["M _||_ X"]
    # In shared_features the fork at Z can be blocked through the observable Yhat.
    shared = [str(c) for c in list_implied_independencies(load_dag("shared_features"))]
    assert "M _||_ Q | X, Yhat" in shared


def test_selection_reading_adds_independencies():
    weak = load_dag("weak_task_guided")
    free = {str(c) for c in list_implied_independencies(weak)}
    selected = {
        str(c) for c in list_implied_independencies(weak, reading=Reading("classical", True))
    }
    assert "M _||_ Q | X" not in free
    assert "M _||_ Q | X" in selected
