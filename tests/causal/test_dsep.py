"""d-separation: agreement with pgmpy, the local Markov property, explanations, D-separation."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from iqalign.causal import (
    Reading,
    find_open_paths,
    get_determined,
    is_d_separated,
    judge_d_separation,
    list_builtin_dags,
    load_dag,
    to_pgmpy,
)
from iqalign.errors import NodeNotFoundError, QueryError

from .builders import make_dag, random_dag, random_query

DETERMINISTIC = Reading("deterministic")


def _pgmpy_separated(model, x, y, given):
    return not model.is_dconnected(x, y, observed=sorted(given), include_latents=True)


@pytest.mark.parametrize("name", list_builtin_dags())
def test_agrees_with_pgmpy_on_paper_dags(name):
    from itertools import combinations

    dag = load_dag(name)
    model = to_pgmpy(dag)
    assert set(model.latents) == set(dag.nodes_with_role("latent"))
    names = dag.node_names
    checked = 0
    for x, y in combinations(names, 2):
        rest = [n for n in names if n not in (x, y)]
        for size in range(0, 3):
            for given in combinations(rest, size):
                assert is_d_separated(dag, {x}, {y}, set(given)) == _pgmpy_separated(
                    model, x, y, given
                ), (name, x, y, given)
                checked += 1
    assert checked > 50


def test_agrees_with_pgmpy_on_random_dags():
    rng = np.random.default_rng(20261126)
    disagreements = []
    for trial in range(250):
        dag = random_dag(rng, int(rng.integers(4, 10)), float(rng.uniform(0.15, 0.6)))
        model = to_pgmpy(dag)
        for _ in range(4):
            x, y, given = random_query(rng, dag)
            ours = is_d_separated(dag, {x}, {y}, given)
            if ours != _pgmpy_separated(model, x, y, given):
                disagreements.append((trial, x, y, sorted(given)))
    assert disagreements == []


def test_local_markov_property_on_random_dags():
    rng = np.random.default_rng(7)
    for _ in range(200):
        dag = random_dag(rng, int(rng.integers(3, 10)), float(rng.uniform(0.2, 0.7)))
        graph = dag.graph
        for node in graph:
            parents = set(graph.predecessors(node))
            others = set(graph) - nx.descendants(graph, node) - parents - {node}
            if others:
                assert is_d_separated(dag, {node}, others, parents)


def test_open_paths_exist_exactly_when_connected_on_random_dags():
    rng = np.random.default_rng(11)
    for _ in range(200):
        dag = random_dag(rng, int(rng.integers(3, 9)), float(rng.uniform(0.2, 0.6)))
        x, y, given = random_query(rng, dag)
        judgement = judge_d_separation(dag, {x}, {y}, given)
        assert bool(judgement.open_paths) == (not judgement.separated)
        for path in judgement.paths:
            assert path.nodes[0] == x and path.nodes[-1] == y
            assert len(path.steps) == len(path.nodes) - 2


def test_step_kinds_and_reasons():
    chain = make_dag("A->B, B->C")
    fork = make_dag("B->A, B->C")
    collider = make_dag("A->B, C->B, B->D")
    (path,) = find_open_paths(chain, "A", "C")
    assert [s.kind for s in path.steps] == ["chain"] and str(path) == "A -> B -> C"
    (path,) = find_open_paths(fork, "A", "C")
    assert path.steps[0].kind == "fork" and "common cause" in path.steps[0].reason
    assert is_d_separated(collider, "A", "C")
    (path,) = find_open_paths(collider, "A", "C", {"D"})
    assert path.steps[0].kind == "collider"
    assert "descendant D is conditioned on" in path.steps[0].reason
    (path,) = find_open_paths(collider, "A", "C", {"B"})
    assert "opened because B is conditioned on" in path.steps[0].reason
    blocked = judge_d_separation(chain, "A", "C", "B")
    assert blocked.separated and not blocked.paths[0].is_open
    assert "B, conditioned on" in blocked.paths[0].blocked_at[0].reason


def test_shared_features_open_path_is_the_fork_at_z():
    judgement = judge_d_separation(load_dag("shared_features"), "Q", "M", "X")
    assert [str(p) for p in judgement.open_paths] == ["Q <- Z -> Yhat -> M"]
    assert (
        judgement.open_paths[0].steps[0].reason
        == "fork at Z (a latent common cause), not conditioned on"
    )


def test_d_separation_with_deterministic_z_hand_case():
    """Issue 2's hand case: Z deterministic closes Q <- Z -> Yhat -> M given X."""
    shared = load_dag("shared_features")
    assert not is_d_separated(shared, "Q", "M", "X", criterion="deterministic")
    data = shared.to_dict()
    data["nodes"]["Z"]["deterministic"] = True
    import yaml

    from iqalign.causal import parse_dag

    z_deterministic = parse_dag(yaml.safe_dump(data, allow_unicode=True))
    assert is_d_separated(z_deterministic, "Q", "M", "X", criterion="deterministic")
    assert not is_d_separated(z_deterministic, "Q", "M", "X")  # classical ignores the flag
    judgement = judge_d_separation(z_deterministic, "Q", "M", "X", reading=DETERMINISTIC)
    assert {"Z", "Q", "Yhat", "M"} <= judgement.determined
    assert judgement.constants == {"Q", "M"}


def test_deterministic_strong_task_guided_and_baseline():
    strong = load_dag("strong_task_guided")
    assert not is_d_separated(strong, "Q", "M", "X")
    assert is_d_separated(strong, "Q", "M", "X", criterion="deterministic")
    assert get_determined(load_dag("baseline"), {"X"}) == {"X", "Y", "Yhat", "Q", "M"}
    # Determination needs every parent: Y alone determines nothing else in the baseline.
    assert get_determined(load_dag("baseline"), {"Y"}) == {"Y"}


def test_deterministic_collider_is_opened_by_determination():
    # A -> D <- B with D = f(A, B); D -> E. Given A and B, D is fixed; conditioning on a
    # function of A and B cannot open anything between A and B beyond A and B themselves.
    dag = make_dag("A->D, B->D, D->E, C->A", D={"deterministic": True})
    assert is_d_separated(dag, "C", "B", set())
    # Classical: conditioning on E (descendant of collider D) opens C-A-D-B.
    assert not is_d_separated(dag, "C", "B", {"E"})
    # Deterministic: D determined by {A, B} only; given E and A, path C - A is blocked at A.
    assert is_d_separated(dag, "C", "B", {"E", "A"}, criterion="deterministic")


def test_selection_conditioning_blocks_the_task_fork():
    weak = load_dag("weak_task_guided")
    free = judge_d_separation(weak, "Q", "M", "X")
    selected = judge_d_separation(weak, "Q", "M", "X", reading=Reading("classical", True))
    assert [str(p) for p in free.open_paths] == ["Q <- T -> Y -> M"]
    assert selected.separated and "T" in selected.conditioned
    assert "selection node" in selected.paths[0].steps[0].reason


def test_query_errors_name_the_problem():
    dag = load_dag("baseline")
    with pytest.raises(NodeNotFoundError, match=r"node 'Mx'.*Did you mean: 'M'"):
        is_d_separated(dag, "Q", "Mx", "X")
    with pytest.raises(QueryError, match="appears in a side and the conditioning set"):
        is_d_separated(dag, "Q", "M", {"Q"})
    with pytest.raises(QueryError, match="a node on each side"):
        is_d_separated(dag, set(), "M")
