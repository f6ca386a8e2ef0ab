from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from iqalign.causal import (
    Reading,
    check_claim,
    implied,
    is_d_separated,
    list_builtin_dags,
    list_implied_independencies,
    list_readings,
    load_dag,
    parse_claim,
    parse_dagitty,
)
from iqalign.errors import QueryError

from .builders import random_dag


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


# ------------------------------------------------- against dagitty and the subset search

DAGITTY = json.loads((Path(__file__).parent / "data" / "dagitty_implications.json").read_text())


@pytest.mark.parametrize("case", DAGITTY, ids=lambda c: f"random{c['seed_index']}")
def test_all_mode_equals_dagitty_list_minimal_implications(case):
    """dagitty's listMinimalImplications on 60 random DAGs with latent nodes (recorded)."""
    dag = parse_dagitty(case["text"])
    ours = {
        (frozenset(c.left | c.right), c.given) for c in list_implied_independencies(dag, mode="all")
    }
    theirs = {
        (frozenset((x, y)), frozenset(sep)) for x, y, seps in case["implications"] for sep in seps
    }
    assert ours == theirs


@pytest.mark.parametrize("case", DAGITTY[:20], ids=lambda c: f"random{c['seed_index']}")
def test_basis_is_the_first_smallest_of_dagittys_separators(case):
    dag = parse_dagitty(case["text"])
    ours = {frozenset(c.left | c.right): c.given for c in list_implied_independencies(dag)}
    theirs = {
        frozenset((x, y)): frozenset(min(seps, key=lambda s: (len(s), sorted(s))))
        for x, y, seps in case["implications"]
    }
    assert ours == theirs


def _with_selection(dag, rng):
    nodes = tuple(
        replace(n, role="selection") if n.role == "observed" and rng.random() < 0.15 else n
        for n in dag.nodes
    )
    return replace(dag, nodes=nodes)


@pytest.mark.parametrize("seed", range(8))
def test_answers_unchanged_from_the_subset_search(seed):
    """The moral-graph listing gives what the exhaustive search of subsets gave before,
    including selection nodes conditioned on or not."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        dag = random_dag(rng, int(rng.integers(3, 10)), float(rng.uniform(0.15, 0.6)), 0.25)
        dag = _with_selection(dag, rng)
        for reading in (Reading("classical", False), Reading("classical", True)):
            for u, v in implied._non_adjacent_pairs(dag, sorted(dag.observable)):
                fast = implied._separators_by_moral_graph(dag, u, v, reading, "all")
                slow = implied._separators_by_search(dag, u, v, reading, "all")
                assert sorted(fast, key=implied._separator_order) == slow


def test_large_graphs_are_listed_without_refusal():
    dag = random_dag(np.random.default_rng(3), 40, 0.1, 0.2)
    seen = []
    claims = list_implied_independencies(dag, mode="all", progress=lambda d, t: seen.append(d))
    assert claims and seen[-1] == len(implied._non_adjacent_pairs(dag, sorted(dag.observable)))
    with pytest.raises(QueryError, match="deterministic reading searches subsets"):
        list_implied_independencies(dag, reading=Reading("deterministic"))


@pytest.mark.parametrize("name", list_builtin_dags())
def test_every_printed_line_is_a_claim_the_dag_implies(name):
    dag = load_dag(name)
    for reading in list_readings(dag):
        for claim in list_implied_independencies(dag, mode="all", reading=reading):
            assert check_claim(dag, parse_claim(str(claim))).is_implied(reading)
