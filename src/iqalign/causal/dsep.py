"""d-separation, D-separation with deterministic nodes, and the paths behind the answer.

Two node sets are *d-separated* by a conditioning set Z when every path between them is
blocked: a path is blocked at a chain (``A -> B -> C``) or fork (``A <- B -> C``) whose
middle node is in Z, or at a collider (``A -> B <- C``) such that neither B nor any
descendant of B is in Z (Pearl 2009, sec. 1.2.3). d-separation implies conditional
independence in every distribution that factorises over the DAG; networkx's
``is_d_separator`` decides it and this module explains it: each path, each step labelled
chain / fork / collider, and why it is open or blocked.

**Deterministic nodes.** If a node is a function of its parents (the paper assumes this
of Q, Ŷ and M), conditioning on Z also fixes every node determined by Z. Geiger, Verma &
Pearl (1990, "Identifying independence in Bayesian networks", Networks 20:507-534) call
the resulting criterion *D-separation*: close Z under functional determination
(``get_determined``), then test. A node determined by Z is a constant given Z and so
independent of everything; that is why "Q _||_ M | X" holds in every paper DAG once Q is a
function of X alone -- and why the empirical tests condition on X0, not X.

**Selection nodes.** A data set collected for one task is conditioned on the selection
node T by design. Judgements can be made with or without conditioning on selection nodes;
:func:`list_readings` gives the readings that differ for a DAG.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from iqalign.errors import QueryError

if TYPE_CHECKING:
    import networkx as nx

    from iqalign.causal.dag import Dag

_Nodes = frozenset[str]  # a set of node names, as the queries hold them

__all__ = [
    "DSeparationJudgement",
    "Path",
    "PathStep",
    "Reading",
    "find_open_paths",
    "get_determined",
    "is_d_separated",
    "judge_d_separation",
    "list_paths",
    "list_readings",
]

Criterion = Literal["classical", "deterministic"]
MAX_PATHS = 5000


@dataclass(frozen=True)
class Reading:
    """How a query is read: the criterion and whether selection nodes are conditioned on."""

    criterion: Criterion = "classical"
    condition_on_selection: bool = False

    def __str__(self) -> str:
        selection = (
            "selection conditioned" if self.condition_on_selection else "selection not conditioned"
        )
        return f"{self.criterion}, {selection}"


@dataclass(frozen=True)
class PathStep:
    """One interior node of a path: its kind on the path, and whether it lets the path through."""

    node: str
    kind: Literal["chain", "fork", "collider"]
    is_open: bool
    reason: str


@dataclass(frozen=True)
class Path:
    """A path between the two sets, with ``arrows[i]`` between ``nodes[i]`` and ``nodes[i+1]``."""

    nodes: tuple[str, ...]
    arrows: tuple[str, ...]
    steps: tuple[PathStep, ...]

    @property
    def is_open(self) -> bool:
        return all(step.is_open for step in self.steps)

    @property
    def blocked_at(self) -> tuple[PathStep, ...]:
        return tuple(step for step in self.steps if not step.is_open)

    def __str__(self) -> str:
        from iqalign.causal.claims import format_name

        parts = [format_name(self.nodes[0])]
        for arrow, node in zip(self.arrows, self.nodes[1:], strict=True):
            parts += [arrow, format_name(node)]
        return " ".join(parts)

    def explain(self) -> str:
        """``Q <- Z -> Yhat -> M: open (fork at Z, not conditioned on; ...)``."""
        if not self.steps:
            return f"{self}: open (a direct edge)"
        relevant = self.steps if self.is_open else self.blocked_at
        state = "open" if self.is_open else "blocked"
        return f"{self}: {state} ({'; '.join(step.reason for step in relevant)})"


@dataclass(frozen=True)
class DSeparationJudgement:
    """The answer to "is ``left`` separated from ``right`` given ``given``?" under a reading.

    ``bool(judgement)`` is ``separated``. ``conditioned`` is the effective conditioning set
    (``given``, plus selection nodes and determined nodes where the reading adds them);
    ``constants`` are query nodes that the conditioning set determines.
    """

    left: frozenset[str]
    right: frozenset[str]
    given: frozenset[str]
    separated: bool
    reading: Reading
    conditioned: frozenset[str]
    determined: frozenset[str]
    constants: frozenset[str]
    paths: tuple[Path, ...]
    truncated: bool = False

    def __bool__(self) -> bool:
        return self.separated

    @property
    def open_paths(self) -> tuple[Path, ...]:
        return tuple(path for path in self.paths if path.is_open)

    def explain(self) -> str:
        """A few lines a person can read: the verdict, then why."""
        from iqalign.causal.claims import Claim

        claim = Claim(self.left, self.right, self.given, self.separated)
        verb = "d-separated" if self.reading.criterion == "classical" else "D-separated"
        head = f"{claim}  [{self.reading}]: {'' if self.separated else 'not '}{verb}"
        lines = [head]
        extra = self.conditioned - self.given
        if extra:
            lines.append(f"  also conditioned on: {', '.join(sorted(extra))}")
        if self.constants:
            verb = "is" if len(self.constants) == 1 else "are"
            lines.append(
                f"  {', '.join(sorted(self.constants))} {verb} determined by the conditioning "
                "set (a constant given it, so independent of everything)"
            )
        shown = self.open_paths if not self.separated else self.paths
        for path in shown:
            lines.append(f"  {path.explain()}")
        if self.truncated:
            lines.append(f"  (only the first {MAX_PATHS} paths were enumerated)")
        return "\n".join(lines)


def list_readings(dag: Dag) -> list[Reading]:
    """The readings worth reporting for ``dag``: classical always; with selection
    conditioned where it has selection nodes; deterministic where it has deterministic nodes.

    Parameters
    ----------
    dag
        The DAG.

    Returns
    -------
    list[Reading]
        The readings, classical first.
    """
    selections = [False, True] if dag.selection_nodes else [False]
    criteria: list[Criterion] = (
        ["classical", "deterministic"] if dag.deterministic_nodes else ["classical"]
    )
    return [Reading(c, s) for c in criteria for s in selections]


def get_determined(dag: Dag, given: Iterable[str]) -> frozenset[str]:
    """``given`` closed under functional determination: every deterministic node whose
    parents are all determined is determined too (Geiger, Verma & Pearl 1990). Parents
    on ``input: false`` edges (they shape the function, they are not its arguments) are
    not waited for.

    Parameters
    ----------
    dag
        The DAG (its ``deterministic`` nodes matter).
    given
        The conditioning set.

    Returns
    -------
    frozenset[str]
        ``given`` and every node it determines.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> sorted(get_determined(load_dag("baseline"), {"X"}))
    ['M', 'Q', 'X', 'Y', 'Yhat']
    """
    determined = set(dag.check_nodes(given, "conditioning set"))
    inputs = {node: set(dag.input_parents(node)) for node in dag.deterministic_nodes}
    changed = True
    while changed:
        changed = False
        for node in dag.deterministic_nodes - determined:
            if inputs[node] <= determined:
                determined.add(node)
                changed = True
    return frozenset(determined)


def judge_d_separation(
    dag: Dag,
    left: Iterable[str],
    right: Iterable[str],
    given: Iterable[str] = (),
    *,
    reading: Reading | None = None,
) -> DSeparationJudgement:
    """Decide and explain whether ``left`` and ``right`` are separated given ``given``.

    Parameters
    ----------
    dag
        The DAG.
    left, right
        The two node sets.
    given
        The conditioning set.
    reading
        How to read the DAG (criterion, selection); default: classical d-separation.

    Returns
    -------
    DSeparationJudgement
        Truthy when separated; records the sets, the reading and the open paths.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> j = judge_d_separation(load_dag("shared_features"), {"Q"}, {"M"}, {"X"})
    >>> j.separated, [str(p) for p in j.open_paths]
    (False, ['Q <- Z -> Yhat -> M'])
    """
    reading = reading or Reading()
    left_set, right_set, given_set = _check_query(dag, left, right, given)
    decision = _decide(dag, left_set, right_set, given_set, reading)
    if decision.left_free and decision.right_free:
        paths, truncated = _enumerate_paths(
            dag, decision.left_free, decision.right_free, decision.z, given_set, decision.determined
        )
    else:
        paths, truncated = (), False
    return DSeparationJudgement(
        left=left_set,
        right=right_set,
        given=given_set,
        separated=decision.separated,
        reading=reading,
        conditioned=decision.z,
        determined=decision.determined,
        constants=decision.constants,
        paths=paths,
        truncated=truncated,
    )


def is_d_separated(
    dag: Dag,
    left: Iterable[str],
    right: Iterable[str],
    given: Iterable[str] = (),
    *,
    criterion: Criterion = "classical",
    condition_on_selection: bool = False,
) -> bool:
    """True when ``left`` and ``right`` are d-separated (or D-separated) given ``given``.

    Parameters
    ----------
    dag
        The DAG.
    left, right
        The two node sets.
    given
        The conditioning set.
    criterion
        ``"classical"`` (d-separation) or ``"deterministic"`` (D-separation, which uses
        the DAG's deterministic nodes).
    condition_on_selection
        Also condition on the DAG's selection nodes (as a data set selected on them is).

    Returns
    -------
    bool
        Whether the sets are separated.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> dag = load_dag("baseline")
    >>> is_d_separated(dag, {"Q"}, {"M"}, {"X"}), is_d_separated(dag, {"Q"}, {"M"}, {"Y"})
    (True, False)
    """
    reading = Reading(criterion, condition_on_selection)
    left_set, right_set, given_set = _check_query(dag, left, right, given)
    return _decide(dag, left_set, right_set, given_set, reading).separated


def list_paths(
    dag: Dag,
    left: Iterable[str],
    right: Iterable[str],
    given: Iterable[str] = (),
    *,
    reading: Reading | None = None,
) -> tuple[Path, ...]:
    """Every path between the sets (interior avoiding both), each marked open or blocked.

    Parameters
    ----------
    dag
        The DAG.
    left, right
        The two node sets.
    given
        The conditioning set.
    reading
        How to read the DAG (criterion, selection); default: classical d-separation.

    Returns
    -------
    tuple[Path, ...]
        Every path between the sets, open or blocked, each step explained.
    """
    return judge_d_separation(dag, left, right, given, reading=reading).paths


def find_open_paths(
    dag: Dag,
    left: Iterable[str],
    right: Iterable[str],
    given: Iterable[str] = (),
    *,
    reading: Reading | None = None,
) -> tuple[Path, ...]:
    """The open paths between the sets; empty exactly when they are separated.

    Parameters
    ----------
    dag
        The DAG.
    left, right
        The two node sets.
    given
        The conditioning set.
    reading
        How to read the DAG (criterion, selection); default: classical d-separation.

    Returns
    -------
    tuple[Path, ...]
        The open paths, each with its steps.
    """
    return judge_d_separation(dag, left, right, given, reading=reading).open_paths


# ------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Decision:
    separated: bool
    z: frozenset[str]
    determined: frozenset[str]
    constants: frozenset[str]
    left_free: frozenset[str]
    right_free: frozenset[str]


def _decide(
    dag: Dag, left: frozenset, right: frozenset, given: frozenset, reading: Reading
) -> _Decision:
    """The verdict alone (no path enumeration): what hot loops call."""
    import networkx as nx

    conditioned = set(given)
    if reading.condition_on_selection:
        conditioned |= dag.selection_nodes - left - right
    determined: frozenset[str] = frozenset()
    if reading.criterion == "deterministic":
        determined = get_determined(dag, conditioned) - frozenset(conditioned)
        conditioned |= determined
    constants = frozenset((left | right) & conditioned - given)
    left_free, right_free = left - conditioned, right - conditioned
    z = frozenset(conditioned) - left_free - right_free
    if not left_free or not right_free:
        separated = True
    else:
        separated = nx.is_d_separator(dag.graph, set(left_free), set(right_free), set(z))
    return _Decision(
        separated, z, determined, constants, frozenset(left_free), frozenset(right_free)
    )


def _check_query(
    dag: Dag, left: Iterable[str] | str, right: Iterable[str] | str, given: Iterable[str] | str
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    left_set = dag.check_nodes(_as_set(left), "left side")
    right_set = dag.check_nodes(_as_set(right), "right side")
    given_set = dag.check_nodes(_as_set(given), "conditioning set")
    if not left_set or not right_set:
        raise QueryError(f"{dag.name}: a d-separation query needs a node on each side")
    for a, b, what in (
        (left_set, right_set, "both sides"),
        (left_set | right_set, given_set, "a side and the conditioning set"),
    ):
        if a & b:
            raise QueryError(
                f"{dag.name}: {', '.join(sorted(a & b))} appears in {what}; "
                "the sets must be disjoint"
            )
    return left_set, right_set, given_set


def _as_set(names: Iterable[str] | str) -> frozenset[str]:
    if isinstance(names, str):
        from iqalign.causal.claims import split_names

        return frozenset(split_names(names))
    return frozenset(names)


def _enumerate_paths(
    dag: Dag, left: _Nodes, right: _Nodes, z: _Nodes, given: _Nodes, determined: _Nodes
) -> tuple[tuple[Path, ...], bool]:
    import networkx as nx

    graph = dag.graph
    skeleton = graph.to_undirected(as_view=True)
    ends = left | right
    descendants = {node: nx.descendants(graph, node) for node in graph}
    paths: list[Path] = []
    truncated = False
    for source in sorted(left):
        for target in sorted(right):
            for nodes in nx.all_simple_paths(skeleton, source, target):
                if any(node in ends for node in nodes[1:-1]):
                    continue
                if len(paths) >= MAX_PATHS:
                    truncated = True
                    break
                paths.append(_describe_path(graph, nodes, z, given, determined, descendants, dag))
    paths.sort(key=lambda p: (not p.is_open, len(p.nodes), str(p)))
    return tuple(paths), truncated


def _describe_path(
    graph: nx.DiGraph,
    nodes: list[str],
    z: _Nodes,
    given: _Nodes,
    determined: _Nodes,
    descendants: dict[str, set[str]],
    dag: Dag,
) -> Path:
    arrows = tuple("->" if graph.has_edge(a, b) else "<-" for a, b in pairwise(nodes))
    steps = []
    for index in range(1, len(nodes) - 1):
        node = nodes[index]
        into_from_left = arrows[index - 1] == "->"
        into_from_right = arrows[index] == "<-"
        if into_from_left and into_from_right:
            steps.append(_collider_step(node, z, descendants))
        else:
            kind: Literal["chain", "fork"] = (
                "chain" if into_from_left or into_from_right else "fork"
            )
            steps.append(_noncollider_step(node, kind, z, given, determined, dag))
    return Path(tuple(nodes), arrows, tuple(steps))


def _noncollider_step(
    node: str,
    kind: Literal["chain", "fork"],
    z: _Nodes,
    given: _Nodes,
    determined: _Nodes,
    dag: Dag,
) -> PathStep:
    latent = "latent " if dag.node(node).role == "latent" else ""
    what = (
        f"chain through {latent}{node}"
        if kind == "chain"
        else f"fork at {node} (a {latent}common cause)"
    )
    if node not in z:
        return PathStep(node, kind, True, f"{what}, not conditioned on")
    if node in given:
        why = "conditioned on"
    elif node in determined:
        parents = ", ".join(sorted(dag.graph.predecessors(node)))
        why = f"determined by the conditioning set (deterministic function of {parents})"
    else:
        why = "a selection node, conditioned on by the data's design"
    return PathStep(node, kind, False, f"{what}, {why}")


def _collider_step(node: str, z: _Nodes, descendants: dict[str, set[str]]) -> PathStep:
    if node in z:
        return PathStep(
            node, "collider", True, f"collider at {node}, opened because {node} is conditioned on"
        )
    hit = sorted(descendants[node] & z)
    if hit:
        return PathStep(
            node,
            "collider",
            True,
            f"collider at {node}, opened because its descendant {', '.join(hit)} is conditioned on",
        )
    return PathStep(
        node, "collider", False, f"collider at {node}, not conditioned on (nor any descendant)"
    )
