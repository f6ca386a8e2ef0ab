"""From a DAG claim to the empirical test that can check it.

The statistics layer never sees nodes, only columns of a scores table. A :class:`TestPlan`
is the bridge: for a claim about the quality node Q and the performance node M, it names
the stratifier columns that stand for the conditioning set, the kind of test (pooled or
stratified), and what the DAG predicts the data will show:

``separated``  Q and M are d-separated given the stratifiers: M should not be predictable
               from Q within strata (a conditional-independence test should not reject);
``connected``  an open path joins them: predictability is possible, not guaranteed (a DAG
               allows a dependence; only a faithful distribution must show it).

Some claims cannot be tested, and the plan says why instead of inventing a proxy:
conditioning on the image X itself leaves one row per stratum; a latent node or a node
with no column cannot be stratified on; a DAG whose Q or M has no column has nothing to
test. Selection nodes need no column: the data set is conditioned on them by design, so
plans are judged with selection nodes conditioned on (and say when that changes the
answer).

Besides the claims a DAG file records, :func:`plan_tests` derives the claims the scores
table can test directly: Q vs M pooled, given each mapped node (label, image ID,
corruption, ...), and given pairs of mapped nodes that share a child (corruption and
severity together: the paper's groups).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

from iqalign.causal.claims import Claim, parse_claim
from iqalign.causal.dsep import Reading, _decide, get_determined, list_readings
from iqalign.scores import (
    PERFORMANCE_PREFIX,
    QUALITY_PREFIX,
    is_performance_column,
    is_quality_column,
)

if TYPE_CHECKING:
    from iqalign.causal.dag import Dag

__all__ = ["PLAN_READING", "TestPlan", "find_qm_nodes", "plan_claim", "plan_tests"]

# The data set is selected on the task (T) by design, so a plan is judged with selection
# nodes conditioned on.
PLAN_READING = Reading("classical", condition_on_selection=True)


@dataclass(frozen=True)
class TestPlan:
    """One claim, the columns that test it, and the outcome the DAG predicts.

    ``stratifiers`` are scores-table columns; a column ending in ``*`` (``pred_*``) is a
    pattern the analysis binds to one model. ``refused`` is ``None`` for a testable claim
    and the reason otherwise.
    """

    __test__ = False  # not a pytest test class, despite the name

    dag: str
    claim: Claim
    origin: str
    quality_column: str | None = None
    performance_column: str | None = None
    stratifiers: tuple[str, ...] = ()
    stands_for: tuple[tuple[str, str], ...] = ()
    test: str | None = None
    separated: bool | None = None
    readings_disagree: bool = False
    refused: str | None = None
    note: str = ""

    @property
    def testable(self) -> bool:
        return self.refused is None

    @property
    def expected(self) -> str | None:
        """``"separated"`` / ``"connected"`` as the DAG predicts; ``None`` when refused."""
        if self.separated is None:
            return None
        return "separated" if self.separated else "connected"

    @property
    def expectation(self) -> str:
        """What the data should show, in words."""
        if not self.testable:
            return f"not testable: {self.refused}"
        where = f"within strata of {', '.join(self.stratifiers)}" if self.stratifiers else "pooled"
        if self.separated:
            return f"no predictability of M from Q {where}"
        return f"predictability of M from Q possible {where} (not guaranteed)"


def find_qm_nodes(dag: Dag) -> tuple[str | None, str | None]:
    """The quality node (column ``q_*``) and performance node (column ``correct_*``), if mapped.

    Parameters
    ----------
    dag
        The DAG.

    Returns
    -------
    tuple[str | None, str | None]
        The names of the nodes mapped to the Q and M columns; ``None`` where no node is.
    """
    quality = [n.name for n in dag.nodes if is_quality_column(n.column or "")]
    performance = [n.name for n in dag.nodes if is_performance_column(n.column or "")]
    return (
        quality[0] if len(quality) == 1 else None,
        performance[0] if len(performance) == 1 else None,
    )


def plan_claim(dag: Dag, claim: Claim | str, origin: str = "user") -> TestPlan:
    """The test plan for one claim about Q and M.

    Parameters
    ----------
    dag
        The DAG whose Q and M nodes the claim names.
    claim
        A :class:`Claim` or its text.
    origin
        Where the claim came from (``"user"``, ``"paper"`` or ``"derived"``), for reports.

    Returns
    -------
    TestPlan
        The columns to test, the expected outcome, or why the claim cannot be tested.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> dag = load_dag("common_corruptions")
    >>> plan = plan_claim(dag, "Q _||_ M | X0")
    >>> plan.stratifiers, plan.expected
    (('image_id',), 'connected')
    >>> plan_claim(dag, "Q _||_ M | X").testable
    False
    """
    if isinstance(claim, str):
        claim = parse_claim(claim)
    dag.check_nodes(claim.nodes, "claim")
    quality, performance = find_qm_nodes(dag)
    base: dict[str, Any] = {"dag": dag.name, "claim": claim, "origin": origin}
    refused = _refuse_nodes(claim, quality, performance)
    if refused:
        return TestPlan(**base, refused=refused)
    assert quality is not None and performance is not None  # _refuse_nodes said so
    base |= {
        "quality_column": dag.node(quality).column,
        "performance_column": dag.node(performance).column,
    }
    stratifiers, stands_for, notes, refused = _strata(dag, claim)
    refused = refused or _refuse_determined(dag, claim, quality, performance)
    if refused:
        return TestPlan(**base, refused=refused)
    q, m = frozenset({quality}), frozenset({performance})
    decision = _decide(dag, q, m, claim.given, PLAN_READING)
    verdicts = {_decide(dag, q, m, claim.given, r).separated for r in list_readings(dag)}
    if len(verdicts) > 1:
        notes.append(
            "the readings (selection conditioned or not, classical or deterministic) disagree"
        )
    return TestPlan(
        **base,
        stratifiers=tuple(stratifiers),
        stands_for=tuple(stands_for),
        test="stratified" if stratifiers else "pooled",
        separated=decision.separated,
        readings_disagree=len(verdicts) > 1,
        note="; ".join(notes),
    )


def _refuse_nodes(claim: Claim, quality: str | None, performance: str | None) -> str | None:
    """Why the statistics layer cannot test ``claim`` at all (no Q/M column, other nodes)."""
    if quality is None or performance is None:
        missing = [name for name, node in (("Q", quality), ("M", performance)) if node is None]
        return (
            f"no node is mapped to a {' / '.join(missing)} column; give the quality node "
            f"column: '{QUALITY_PREFIX}*' and the performance node column: "
            f"'{PERFORMANCE_PREFIX}*' in the DAG file"
        )
    if {claim.left, claim.right} != {frozenset({quality}), frozenset({performance})}:
        return (
            f"the statistics layer tests claims between {quality} (quality) and "
            f"{performance} (performance); this claim is about "
            f"{', '.join(sorted(claim.left))} and {', '.join(sorted(claim.right))}"
        )
    return None


def _strata(
    dag: Dag, claim: Claim
) -> tuple[list[str], list[tuple[str, str]], list[str], str | None]:
    """The columns standing for the conditioning set: (stratifiers, stands_for, notes,
    refusal). Selection nodes need no column: the data set is conditioned on them."""
    stratifiers: list[str] = []
    stands_for: list[tuple[str, str]] = []
    notes: list[str] = []
    for name in sorted(claim.given):
        node = dag.node(name)
        if node.role == "selection":
            notes.append(f"{name} is a selection node: the data set is conditioned on it by design")
            continue
        reason = _refusal(dag, name)
        if reason:
            return stratifiers, stands_for, notes, reason
        stratifiers.append(node.column or "")
        stands_for.append((name, node.column or ""))
    return stratifiers, stands_for, notes, None


def _refuse_determined(dag: Dag, claim: Claim, quality: str, performance: str) -> str | None:
    """Q or M fixed by the conditioning set (deterministic nodes): nothing to predict."""
    fixed = sorted(get_determined(dag, claim.given) & {quality, performance})
    if not fixed:
        return None
    return (
        f"{' and '.join(fixed)} is a function of {', '.join(sorted(claim.given))} "
        "(nodes marked deterministic), so it is constant within every stratum and "
        "there is nothing to predict"
    )


def _refusal(dag: Dag, name: str) -> str | None:
    node = dag.node(name)
    if node.identifies_row:
        proxies = [n.name for n in dag.nodes if n.column == "image_id"]
        instead = (
            f"; the per-image-ID test conditions on {proxies[0]} (column image_id) instead"
            if proxies
            else "; a DAG with the clean source image X0 (column image_id), such as "
            "common_corruptions, supports the per-image-ID test"
        )
        return (
            f"conditioning on {name} itself: each stratum would hold a single image, so Q and M "
            f"are constants within it and nothing can be estimated{instead}"
        )
    if node.role == "latent":
        return f"{name} is latent: no column can stand for it, so no stratum can be formed"
    if node.column is None:
        return (
            f"no column stands for {name}; add 'column: <name>' to node {name} in the DAG "
            "file if a scores-table column measures it"
        )
    return None


def plan_tests(
    dag: Dag, claims: Iterable[Claim | str] | None = None, *, derived: bool = True
) -> list[TestPlan]:
    """Plans for ``claims`` (default: the DAG's recorded claims about Q and M), plus the
    claims the scores table can test directly when ``derived`` is true.

    Parameters
    ----------
    dag
        The DAG.
    claims
        Claims (or their text) to plan; ``None`` plans the DAG's recorded claims.
    derived
        Also plan the claims about Q and M the table can test directly.

    Returns
    -------
    list[TestPlan]
        One plan per claim.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> plans = plan_tests(load_dag("baseline"))
    >>> [(str(p.claim), p.testable) for p in plans][:2]
    [('Q _||_ M | X', False), ('Q !_||_ M', True)]
    """
    plans: list[TestPlan] = []
    seen: set[tuple[frozenset[str], frozenset[str], frozenset[str]]] = set()
    quality, performance = find_qm_nodes(dag)
    if claims is None:
        sources = [(r.claim, "paper") for r in dag.claims if r.criterion == "classical"]
    else:
        sources = [(parse_claim(c) if isinstance(c, str) else c, "user") for c in claims]
    for claim, origin in sources:
        key = (claim.left | claim.right, frozenset[str](), claim.given)
        if key in seen:
            continue
        seen.add(key)
        plans.append(plan_claim(dag, claim, origin))
    if derived and quality and performance:
        for given in _derived_conditioning_sets(dag, quality, performance):
            key = (frozenset({quality, performance}), frozenset(), given)
            if key in seen:
                continue
            seen.add(key)
            separated = _decide(
                dag, frozenset({quality}), frozenset({performance}), given, PLAN_READING
            ).separated
            claim = Claim(frozenset({quality}), frozenset({performance}), given, separated)
            plan = plan_claim(dag, claim, "derived")
            if plan.testable:  # derived claims are offered only where a test can run
                plans.append(plan)
    return plans


def _derived_conditioning_sets(dag: Dag, quality: str, performance: str) -> list[frozenset[str]]:
    mapped = [
        n.name
        for n in dag.nodes
        if n.column
        and n.name not in (quality, performance)
        and n.role not in ("latent", "selection")
        and not n.identifies_row
    ]
    sets: list[frozenset[str]] = [frozenset()]
    sets += [frozenset({name}) for name in mapped]
    graph = dag.graph
    for a, b in combinations(mapped, 2):
        if set(graph.successors(a)) & set(graph.successors(b)):
            sets.append(frozenset({a, b}))
    return sets
