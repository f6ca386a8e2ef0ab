"""The DAG value object: nodes with roles, edges, the paper's claims.

A :class:`Dag` is immutable and validated on construction (no cycles, no undeclared or
duplicate edges, known roles), so every algorithm in :mod:`iqalign.causal` can trust it.
Files and text become a ``Dag`` through :mod:`iqalign.causal.io`.

Node roles
----------
``observed``
    measured or computed for every image (Q, M, Y, X0, ...); may name a ``column``.
``latent``
    never observed (imaging factors A, shared features Z); never appears in a listed
    independence and can never be conditioned on empirically.
``predicted``
    a task model's output (Ŷ): observed, but drawn distinctly.
``selection``
    a selection variable the data set is conditioned on by design (the task T); analyses
    report results with and without conditioning on it.

``deterministic: true`` marks a node that is a function of its parents (the paper assumes
this of Q, Ŷ and M); D-separation (Geiger, Verma & Pearl 1990) uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from iqalign.causal.claims import Claim, format_name
from iqalign.errors import NodeNotFoundError, did_you_mean
from iqalign.scores import FAMILIES, slug

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "CRITERIA",
    "QUALITY_FAMILIES",
    "Q_SOURCES",
    "ROLES",
    "AppliesTo",
    "Dag",
    "Edge",
    "Node",
    "RecordedClaim",
]

Role = Literal["observed", "latent", "predicted", "selection"]
ROLES: tuple[str, ...] = ("observed", "latent", "predicted", "selection")
EDGE_STYLES: tuple[str, ...] = ("solid", "dashed")
# The families of quality metric a scores manifest records for each q_* column; a DAG's
# `applies_to` names the ones whose causal story it tells.
QUALITY_FAMILIES: tuple[str, ...] = FAMILIES
# Where a classifier-based Q comes from, relative to the model that defines M.
Q_SOURCES: tuple[str, ...] = ("any", "same_model", "other_model")
# How a recorded claim is to be read: classical d-separation with selection nodes not
# conditioned on (the paper's reading), with selection nodes conditioned on (the data set
# is selected on them), or D-separation with deterministic nodes.
CRITERIA: tuple[str, ...] = ("classical", "selection", "deterministic")


@dataclass(frozen=True)
class Node:
    """One node of a DAG. ``column`` is the scores-table column that stands for it."""

    name: str
    role: Role = "observed"
    label: str = ""
    deterministic: bool = False
    column: str | None = None
    identifies_row: bool = False
    description: str = ""

    @property
    def display(self) -> str:
        """The label to draw (``Ŷ`` for ``Yhat``); the name when no label is given."""
        return self.label or self.name


@dataclass(frozen=True)
class Edge:
    """A directed edge ``source -> target``; ``dashed`` is drawn dashed, as in the paper.

    ``input=False`` marks a parent that shapes the target's function without being one of
    its arguments (human annotators who calibrated a quality metric, Fig. 8): a cause in
    the DAG, but D-separation's functional determination does not wait for it.
    """

    source: str
    target: str
    style: str = "solid"
    note: str = ""
    input: bool = True

    def __str__(self) -> str:
        return f"{format_name(self.source)} -> {format_name(self.target)}"


@dataclass(frozen=True)
class RecordedClaim:
    """A claim the DAG file records, and the reading under which it must hold."""

    claim: Claim
    criterion: str = "classical"


@dataclass(frozen=True)
class AppliesTo:
    """Which (quality metric, task model) pairs the DAG models.

    ``families`` are quality-metric families (``QUALITY_FAMILIES``; empty = every family);
    ``q_source`` says whether a classifier-based Q must come from the same model that
    defines M (``same_model``, Fig. 4), from a different one (``other_model``), or either.
    """

    families: tuple[str, ...] = ()
    q_source: str = "any"

    def accepts(self, family: str, q_model: str | None, m_model: str) -> bool:
        """Does a Q of ``family`` computed from ``q_model`` (None: from the image alone)
        fit this DAG when M is defined by ``m_model``?

        Examples
        --------
        >>> AppliesTo(("strong_tg",), "same_model").accepts("strong_tg", "lite0", "lite0")
        True
        >>> AppliesTo(("strong_tg",), "same_model").accepts("strong_tg", "lite1", "lite0")
        False

        Models are compared by their column slug, so a registry name (``timm:resnet50``,
        as the manifest records Q's source) matches its column (``correct_timm_resnet50``):

        >>> AppliesTo((), "same_model").accepts("strong_tg", "timm:resnet50", "timm_resnet50")
        True
        """
        if self.families and family not in self.families:
            return False
        if q_model is None:  # q_source constrains classifier-based Q only
            return True
        same = slug(q_model) == slug(m_model)
        if self.q_source == "same_model":
            return same
        if self.q_source == "other_model":
            return not same
        return True


@dataclass(frozen=True)
class Dag:
    """A validated causal DAG. Build with :func:`iqalign.causal.parse_dag` or :func:`load_dag`.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> dag = load_dag("baseline")
    >>> dag.parents("M")
    ('Y', 'Yhat')
    >>> dag.node("Yhat").display
    'Ŷ'
    """

    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    title: str = ""
    description: str = ""
    paper: Mapping[str, str] = field(default_factory=dict)
    claims: tuple[RecordedClaim, ...] = ()
    applies_to: AppliesTo = field(default_factory=AppliesTo)
    source: str = "<memory>"
    # Another reading of the same figure: the name of the DAG this one is a variant of.
    variant_of: str = ""

    def __post_init__(self) -> None:
        from iqalign.causal.validate import validate_dag

        validate_dag(self)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG as a networkx ``DiGraph`` with node attributes (a fresh copy is safe to edit)."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.nodes:
            graph.add_node(node.name, role=node.role, deterministic=node.deterministic)
        graph.add_edges_from((edge.source, edge.target) for edge in self.edges)
        return graph

    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {node.name: node for node in self.nodes}

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(node.name for node in self.nodes)

    def node(self, name: str) -> Node:
        """The node called ``name``; :class:`NodeNotFoundError` with suggestions otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise NodeNotFoundError(self._unknown_node_message(name)) from None

    def check_nodes(self, names: Iterable[str], what: str = "query") -> frozenset[str]:
        """Return ``names`` as a set after checking every one is declared."""
        names = frozenset(names)
        for name in sorted(names):
            if name not in self._by_name:
                raise NodeNotFoundError(self._unknown_node_message(name, what))
        return names

    def _unknown_node_message(self, name: str, what: str = "query") -> str:
        hint = did_you_mean(name, self.node_names)
        return (
            f"{self.name}: {what} names node {name!r}, which the DAG does not declare; "
            f"nodes are {list(self.node_names)}.{hint}"
        )

    def parents(self, name: str) -> tuple[str, ...]:
        self.node(name)
        return tuple(sorted(self.graph.predecessors(name)))

    def input_parents(self, name: str) -> tuple[str, ...]:
        """The parents whose values ``name``'s function takes (``input: false`` edges left out)."""
        return tuple(sorted(e.source for e in self.edges if e.target == name and e.input))

    def children(self, name: str) -> tuple[str, ...]:
        self.node(name)
        return tuple(sorted(self.graph.successors(name)))

    def nodes_with_role(self, *roles: str) -> tuple[str, ...]:
        return tuple(node.name for node in self.nodes if node.role in roles)

    @property
    def observable(self) -> tuple[str, ...]:
        """Nodes a data set can hold: observed and predicted (not latent, not selection)."""
        return self.nodes_with_role("observed", "predicted")

    @property
    def selection_nodes(self) -> frozenset[str]:
        return frozenset(self.nodes_with_role("selection"))

    @property
    def deterministic_nodes(self) -> frozenset[str]:
        return frozenset(node.name for node in self.nodes if node.deterministic)

    def to_dict(self) -> dict[str, Any]:
        """A plain-data view (the YAML schema) of this DAG."""
        from iqalign.causal.io import dag_to_dict

        return dag_to_dict(self)
