"""The conditional independencies a DAG implies among the nodes a data set can hold.

A DAG with latent nodes implies independencies only among its observable nodes
(``observed`` and ``predicted``; latent and selection nodes never appear in the list).
For every non-adjacent pair of observable nodes we list the sets of other observable
nodes that separate the pair and are *minimal* (no proper subset separates):

- ``mode="basis"`` keeps one smallest separator per pair -- the list dagitty prints as
  "testable implications" (one statement per pair); among equally small ones, the first
  in alphabetical order;
- ``mode="all"`` keeps every minimal separator, smallest first.

Pairs that no set of observable nodes separates imply nothing testable and are left out.

**Algorithm.** Every minimal d-separator of u and v lies among the ancestors of u and v
(Tian, Paz & Pearl 1998), and a set separates them exactly when it separates them in the
moral graph of that ancestral set (Lauritzen et al. 1990). Minimal separators of an
undirected graph in which some nodes may not be used (latent ones) can be listed with
polynomial delay by Takata's algorithm (Discrete Appl. Math. 158:1660-1667, 2010), as
extended by van der Zander, Liśkiewicz & Textor ("Separators and adjustment sets in
causal graphs", Artif. Intell. 270:1-40, 2019) -- the method dagitty uses for its
``listMinimalImplications``; :func:`_list_minimal_separators` follows dagitty's
``GraphAnalyzer.listMinimalSeparators``. Selection nodes that the reading conditions on
are forced into every separator, as dagitty does with ``[selected]`` nodes.

D-separation with deterministic nodes is not a separation in a moral graph, so the
``deterministic`` reading keeps the exact subset search (exponential; refused beyond
``MAX_OBSERVABLE`` observable nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from iqalign.causal.claims import Claim
from iqalign.causal.dsep import Reading, _decide
from iqalign.errors import QueryError

if TYPE_CHECKING:
    from iqalign.causal.dag import Dag

__all__ = ["MAX_OBSERVABLE", "list_implied_independencies"]

# Only the subset search of the deterministic reading is limited.
MAX_OBSERVABLE = 18

Progress = Callable[[int, int], None]


def list_implied_independencies(
    dag: Dag,
    *,
    mode: Literal["basis", "all"] = "basis",
    reading: Reading | None = None,
    progress: Progress | None = None,
) -> list[Claim]:
    """Independencies among observable nodes implied by ``dag``, in dagitty notation order.

    ``progress(done, total)`` is called after each pair of nodes, for long runs.

    Parameters
    ----------
    dag
        The DAG.
    mode
        ``"basis"``: one smallest minimal separator per non-adjacent pair (dagitty's
        "testable implications"); ``"all"``: every minimal separator of every pair.
    reading
        How to read the DAG (criterion, selection); default: classical d-separation.
    progress
        Called as ``progress(done, total)``; ``None`` reports nothing.

    Returns
    -------
    list[Claim]
        The implied independencies.

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
    if reading.criterion == "deterministic":
        if len(observable) > MAX_OBSERVABLE:
            raise QueryError(
                f"{dag.name}: {len(observable)} observable nodes; the deterministic reading "
                f"searches subsets and is limited to {MAX_OBSERVABLE}. Use the classical "
                "reading, or mark nodes that no data set holds as latent."
            )
        find = _separators_by_search
    else:
        find = _separators_by_moral_graph
    pairs = _non_adjacent_pairs(dag, observable)
    claims: list[Claim] = []
    for done, (u, v) in enumerate(pairs, start=1):
        found = sorted(find(dag, u, v, reading, mode), key=_separator_order)
        for separator in found[:1] if mode == "basis" else found:
            claims.append(Claim(frozenset({u}), frozenset({v}), separator, True))
        if progress is not None:
            progress(done, len(pairs))
    return claims


def _non_adjacent_pairs(dag: Dag, observable: list[str]) -> list[tuple[str, str]]:
    graph = dag.graph
    return [
        (u, v)
        for u, v in combinations(observable, 2)
        if not (graph.has_edge(u, v) or graph.has_edge(v, u))
    ]


def _separator_order(separator: frozenset[str]) -> tuple[int, tuple[str, ...]]:
    # Size first, then alphabetical: the order in which a subset search meets them.
    return len(separator), tuple(sorted(separator))


def _separators_by_moral_graph(
    dag: Dag, u: str, v: str, reading: Reading, mode: str
) -> list[frozenset[str]]:
    import networkx as nx

    graph = dag.graph
    must = set(dag.selection_nodes) if reading.condition_on_selection else set()
    keep = {u, v} | must
    ancestral = graph.subgraph(set().union(*(nx.ancestors(graph, n) for n in keep)) | keep)
    moral = nx.moral_graph(ancestral)
    observable = set(dag.observable)
    must_not = {n for n in moral if n not in observable and n not in must}
    adjacency = {n: set(moral[n]) for n in moral}
    return _list_minimal_separators(adjacency, u, v, must, must_not)


def _list_minimal_separators(
    adjacency: dict[str, set[str]], x: str, y: str, must: set[str], must_not: set[str]
) -> list[frozenset[str]]:
    """Every minimal x-y separator of an undirected graph that contains ``must`` (left out
    of the result) and avoids ``must_not`` (dagitty ``listMinimalSeparators``)."""

    def real_neighbours(nodes: Iterable[str]) -> set[str]:
        # Neighbours of `nodes`, looking through nodes that may not be used.
        visited = set(nodes) | must
        queue, found = list(nodes), set[str]()
        while queue:
            for w in adjacency[queue.pop()]:
                if w not in visited:
                    visited.add(w)
                    (queue.append if w in must_not else found.add)(w)
        return found

    def component(start: Iterable[str], avoid: set[str]) -> set[str]:
        seen = set(start)
        queue = list(seen)
        while queue:
            for w in adjacency[queue.pop()]:
                if w not in seen and w not in avoid:
                    seen.add(w)
                    queue.append(w)
        return seen

    results: list[frozenset[str]] = []
    # U: nodes that may never join the x side (y and its neighbours).
    u_set = {y} | adjacency[y]

    def search(a_side: set[str], u_set: set[str]) -> None:
        near = real_neighbours(component({y}, real_neighbours(a_side) | must))
        a_star = component({x}, near | must)
        if a_star & u_set:
            return
        candidates = sorted(real_neighbours(a_star) - u_set)
        if not candidates:
            results.append(frozenset(near))
            return
        # Either the next candidate joins the x side, or it is kept out of it for good.
        search(a_star | {candidates[0]}, u_set)
        search(a_star, u_set | {candidates[0]})

    search({x}, u_set)
    return results


def _separators_by_search(
    dag: Dag, u: str, v: str, reading: Reading, mode: str
) -> list[frozenset[str]]:
    """The exact subset search, smallest sets first (exponential in the observable nodes).

    The reference the moral-graph listing is tested against, and the method for the
    deterministic reading.
    """
    others = sorted(node for node in dag.observable if node not in (u, v))
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
    return found
