"""Small named graphs and random DAGs for the causal tests (networkx test style)."""

from __future__ import annotations

import numpy as np

from iqalign.causal import Dag, Edge, Node


def make_dag(edges: str, *, name: str = "test", **node_attrs: dict) -> Dag:
    """``make_dag("A->B, B->C", B={"deterministic": True})``."""
    pairs = [
        tuple(part.strip() for part in edge.split("->"))
        for edge in edges.split(",")
        if edge.strip()
    ]
    names = list(dict.fromkeys(n for pair in pairs for n in pair))
    nodes = tuple(Node(n, **node_attrs.get(n, {})) for n in names)
    return Dag(name=name, nodes=nodes, edges=tuple(Edge(a, b) for a, b in pairs))


def random_dag(rng: np.random.Generator, n_nodes: int, p_edge: float, p_latent: float = 0.2) -> Dag:
    """A random DAG over V0..Vn-1: edges only from lower to higher index (acyclic by construction)."""
    names = [f"V{i}" for i in range(n_nodes)]
    edges = [
        Edge(names[i], names[j])
        for i in range(n_nodes)
        for j in range(i + 1, n_nodes)
        if rng.random() < p_edge
    ]
    if not edges:
        edges = [Edge(names[0], names[1])]
    roles = ["latent" if rng.random() < p_latent else "observed" for _ in names]
    nodes = tuple(Node(n, role=r) for n, r in zip(names, roles, strict=True))
    return Dag(name="random", nodes=nodes, edges=tuple(edges))


def random_query(rng: np.random.Generator, dag: Dag) -> tuple[str, str, set[str]]:
    names = list(dag.node_names)
    x, y = rng.choice(names, size=2, replace=False)
    rest = [n for n in names if n not in (x, y)]
    given = {n for n in rest if rng.random() < 0.3}
    return str(x), str(y), given
