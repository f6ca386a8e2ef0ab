"""The conditional independencies a DAG implies among the nodes a data set can hold.

A DAG with latent nodes implies independencies only among its observable nodes
(``observed`` and ``predicted``; latent and selection nodes never appear in the list).
For every non-adjacent pair of observable nodes we search the subsets of the other
observable nodes, smallest first, for sets that separate the pair:

- ``mode="basis"`` keeps one smallest separator per pair -- the list dagitty prints as
  "testable implications" (one statement per pair);
- ``mode="all"`` keeps every *minimal* separator (no proper subset separates).

Pairs that no set of observable nodes separates imply nothing testable and are left out.
The search is exact; it is exponential in the number of observable nodes, which is fine
for DAGs of the paper's size and refused (with a message) beyond ``MAX_OBSERVABLE``.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Literal

from iqalign.causal.claims import Claim
from iqalign.causal.dsep import Reading, _decide
from iqalign.errors import QueryError

if TYPE_CHECKING:
    from iqalign.causal.dag import Dag

__all__ = ["MAX_OBSERVABLE", "list_implied_independencies"]

MAX_OBSERVABLE = 18


def list_implied_independencies(
    dag: Dag,
    *,
    mode: Literal["basis", "all"] = "basis",
    reading: Reading | None = None,
) -> list[Claim]:
    """Independencies among observable nodes implied by ``dag``, in dagitty notation order.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> [str(c) for c in list_implied_independencies(load_dag("baseline"))][:3]
    ['M _||_ Q | X', 'M _||_ X | Y, Yhat', 'Q _||_ Y | X']
    """
    if mode not in ("basis", "all"):
        raise QueryError(f"mode must be 'basis' or 'all', got {mode!r}")
    reading = reading or Reading()
    observable = sorted(dag.observable)
    if len(observable) > MAX_OBSERVABLE:
        raise QueryError(
            f"{dag.name}: {len(observable)} observable nodes; the exact search is limited to "
            f"{MAX_OBSERVABLE}. Mark nodes that no data set holds as latent."
        )
    graph = dag.graph
    claims: list[Claim] = []
    for u, v in combinations(observable, 2):
        if graph.has_edge(u, v) or graph.has_edge(v, u):
            continue
        others = [node for node in observable if node not in (u, v)]
        found: list[frozenset[str]] = []
        for size in range(len(others) + 1):
            for subset in combinations(others, size):
                candidate = frozenset(subset)
                if any(sep <= candidate for sep in found):
                    continue
                decision = _decide(dag, frozenset({u}), frozenset({v}), candidate, reading)
                if decision.separated:
                    found.append(candidate)
            if found and mode == "basis":
                break
        for separator in found[:1] if mode == "basis" else found:
            claims.append(Claim(frozenset({u}), frozenset({v}), separator, True))
    return claims
