"""Structural validation of a :class:`~iqalign.causal.dag.Dag`.

Every problem is reported as ``source: field: problem`` with the valid choices, so a
user editing ``dags/my_claim.yaml`` can fix the file from the message alone.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from iqalign.errors import DagFormatError, did_you_mean

if TYPE_CHECKING:
    from iqalign.causal.dag import Dag

__all__ = ["validate_dag"]


def validate_dag(dag: Dag) -> None:
    """Raise :class:`DagFormatError` for the first structural problem of ``dag``."""
    _check_nodes(dag)
    _check_edges(dag)
    _check_acyclic(dag)
    _check_applies_to(dag)
    _check_deterministic(dag)
    _check_claims(dag)


def _check_nodes(dag: Dag) -> None:
    from iqalign.causal.dag import ROLES

    where = dag.source
    if not dag.nodes:
        raise DagFormatError(f"{where}: nodes: the DAG declares no nodes; declare at least two")
    names = [node.name for node in dag.nodes]
    for name, count in Counter(names).items():
        if count > 1:
            raise DagFormatError(f"{where}: nodes: node {name!r} is declared {count} times")
    for node in dag.nodes:
        if node.role not in ROLES:
            raise DagFormatError(
                f"{where}: nodes.{node.name}.role: unknown role {node.role!r}; "
                f"choose one of {list(ROLES)}"
            )


def _check_edges(dag: Dag) -> None:
    from iqalign.causal.dag import EDGE_STYLES

    where = dag.source  # no edges is a DAG (dagitty reads 'dag { a b c }'): a _||_ b | c
    names = [node.name for node in dag.nodes]
    declared = set(names)
    seen: set[tuple[str, str]] = set()
    for index, edge in enumerate(dag.edges):
        field = f'edges[{index}] "{edge}"'
        for end in (edge.source, edge.target):
            if end not in declared:
                hint = did_you_mean(end, names, n=2)
                raise DagFormatError(
                    f"{where}: {field}: node {end!r} is not declared; nodes are {names}.{hint}"
                )
        if edge.source == edge.target:
            raise DagFormatError(f"{where}: {field}: self-loop on {edge.source!r}; a DAG has none")
        key = (edge.source, edge.target)
        if key in seen:
            raise DagFormatError(f"{where}: {field}: duplicate edge; remove one of the two")
        seen.add(key)
        if edge.style not in EDGE_STYLES:
            raise DagFormatError(
                f"{where}: {field}: unknown style {edge.style!r}; choose one of {list(EDGE_STYLES)}"
            )


def _check_applies_to(dag: Dag) -> None:
    from iqalign.causal.dag import Q_SOURCES, QUALITY_FAMILIES

    where = dag.source
    for family in dag.applies_to.families:
        if family not in QUALITY_FAMILIES:
            raise DagFormatError(
                f"{where}: applies_to.families: unknown family {family!r}; "
                f"choose from {list(QUALITY_FAMILIES)}"
            )
    if dag.applies_to.q_source not in Q_SOURCES:
        raise DagFormatError(
            f"{where}: applies_to.q_source: unknown value {dag.applies_to.q_source!r}; "
            f"choose one of {list(Q_SOURCES)}"
        )


def _check_deterministic(dag: Dag) -> None:
    for node in dag.nodes:
        if node.deterministic and not any(
            edge.target == node.name and edge.input for edge in dag.edges
        ):
            raise DagFormatError(
                f"{dag.source}: nodes.{node.name}.deterministic: {node.name!r} has no parents "
                "that are inputs of it (edges without 'input: false'), so it cannot be a "
                "function of them; drop 'deterministic' or add its parents"
            )


def _check_claims(dag: Dag) -> None:
    from iqalign.causal.dag import CRITERIA

    names = [node.name for node in dag.nodes]
    for index, recorded in enumerate(dag.claims):
        field = f'claims[{index}] "{recorded.claim}"'
        if recorded.criterion not in CRITERIA:
            raise DagFormatError(
                f"{dag.source}: {field}: unknown criterion {recorded.criterion!r}; "
                f"choose one of {list(CRITERIA)}"
            )
        unknown = sorted(recorded.claim.nodes - set(names))
        if unknown:
            raise DagFormatError(
                f"{dag.source}: {field}: names undeclared node(s) {unknown}; nodes are {names}"
            )


def _check_acyclic(dag: Dag) -> None:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(node.name for node in dag.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in dag.edges)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = " -> ".join([source for source, _ in cycle] + [cycle[0][0]])
    raise DagFormatError(
        f"{dag.source}: edges: the graph has a cycle {path}; a DAG must be acyclic, "
        "remove or reverse one of these edges"
    )
