"""Checking claims against a DAG, under every reading that can change the answer.

A claim ("Q _||_ M | X") is *implied* by a DAG under a reading when the d-separation
verdict agrees with it: separated for an independence claim, connected for a dependence
claim. (A connected pair is dependent in a *faithful* distribution; the DAG allows the
dependence but does not force it.)

The three readings a DAG file can record claims under (``criterion`` in the file):

``classical``      d-separation, selection nodes not conditioned on (the paper's reading)
``selection``      d-separation, every selection node conditioned on (the data set is
                   selected on them)
``deterministic``  D-separation: the conditioning set is closed under the nodes marked
                   ``deterministic``
"""

from __future__ import annotations

from dataclasses import dataclass

from iqalign.causal.claims import Claim, parse_claim
from iqalign.causal.dag import Dag, RecordedClaim
from iqalign.causal.dsep import DSeparationJudgement, Reading, judge_d_separation, list_readings

__all__ = [
    "READING_OF_CRITERION",
    "ClaimCheck",
    "RecordedClaimResult",
    "VariantComparison",
    "check_claim",
    "check_recorded_claims",
    "compare_variants",
]

READING_OF_CRITERION: dict[str, Reading] = {
    "classical": Reading("classical", False),
    "selection": Reading("classical", True),
    "deterministic": Reading("deterministic", False),
}


@dataclass(frozen=True)
class ClaimCheck:
    """A claim and the DAG's verdict on it under each applicable reading.

    ``bool(check)`` is whether the DAG implies the claim under the classical reading.
    """

    dag: str
    claim: Claim
    judgements: tuple[DSeparationJudgement, ...]

    def judgement(self, reading: Reading | None = None) -> DSeparationJudgement:
        reading = reading or Reading()
        for judgement in self.judgements:
            if judgement.reading == reading:
                return judgement
        raise ValueError(f"{self.dag}: no judgement under reading {reading}")

    def is_implied(self, reading: Reading | None = None) -> bool:
        """True when the DAG's separation verdict agrees with the claim under ``reading``."""
        return self.judgement(reading).separated == self.claim.independent

    def __bool__(self) -> bool:
        return self.is_implied()

    @property
    def readings_disagree(self) -> bool:
        return len({j.separated for j in self.judgements}) > 1

    def explain(self) -> str:
        lines = []
        for judgement in self.judgements:
            verdict = "implied" if judgement.separated == self.claim.independent else "NOT implied"
            lines.append(f"[{judgement.reading}] {self.claim}: {verdict}")
            lines += ["  " + line for line in judgement.explain().splitlines()[1:]]
        return "\n".join(lines)


@dataclass(frozen=True)
class RecordedClaimResult:
    """One claim recorded in a DAG file, checked under the reading it was recorded for."""

    dag: str
    recorded: RecordedClaim
    judgement: DSeparationJudgement

    @property
    def holds(self) -> bool:
        return self.judgement.separated == self.recorded.claim.independent


def check_claim(dag: Dag, claim: Claim | str) -> ClaimCheck:
    """Check ``claim`` against ``dag`` under every reading in :func:`list_readings`.

    Parameters
    ----------
    dag
        The DAG the claim is about.
    claim
        A :class:`Claim` or its text (``"Q _||_ M | X"``, parsed by :func:`parse_claim`).

    Returns
    -------
    ClaimCheck
        Truthy when ``dag`` implies the claim under the classical reading; holds the
        judgement under every reading.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> check = check_claim(load_dag("weak_task_guided"), "Q _||_ M | X")
    >>> [(str(j.reading), j.separated) for j in check.judgements]
    [('classical, selection not conditioned', False), ('classical, selection conditioned', True), \
('deterministic, selection not conditioned', False), ('deterministic, selection conditioned', True)]
    """
    if isinstance(claim, str):
        claim = parse_claim(claim)
    judgements = tuple(
        judge_d_separation(dag, claim.left, claim.right, claim.given, reading=reading)
        for reading in list_readings(dag)
    )
    return ClaimCheck(dag.name, claim, judgements)


def check_recorded_claims(dag: Dag) -> list[RecordedClaimResult]:
    """Every claim the DAG file records, checked under its own reading.

    Parameters
    ----------
    dag
        A DAG whose file records claims (``claims:`` in the YAML schema).

    Returns
    -------
    list[RecordedClaimResult]
        One result per recorded claim, in file order: what the file says and what the
        DAG implies.
    """
    results = []
    for recorded in dag.claims:
        claim = recorded.claim
        judgement = judge_d_separation(
            dag,
            claim.left,
            claim.right,
            claim.given,
            reading=READING_OF_CRITERION[recorded.criterion],
        )
        results.append(RecordedClaimResult(dag.name, recorded, judgement))
    return results


@dataclass(frozen=True)
class VariantComparison:
    """One query under one reading, decided in each of several readings of a figure."""

    claim: Claim
    criterion: str
    separated: dict[str, bool]

    @property
    def differs(self) -> bool:
        return len(set(self.separated.values())) > 1


def compare_variants(dags: list[Dag]) -> list[VariantComparison]:
    """Every claim any of ``dags`` records, decided in each of them under each reading.

    Shows where two encodings of one figure (weak_task_guided: T a fork; its collider
    variant: Q -> T <- Y) part ways. Claims naming a node some variant lacks are skipped.

    Parameters
    ----------
    dags
        The variants of one figure (e.g. a group from :func:`list_variant_groups`).

    Returns
    -------
    list[VariantComparison]
        One row per (claim, reading): the answer in each DAG.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> fork, collider = load_dag("weak_task_guided"), load_dag("weak_task_guided_collider")
    >>> rows = compare_variants([fork, collider])
    >>> [(str(r.claim), r.criterion, r.separated) for r in rows if r.differs][0]
    ('Q _||_ M | X', 'classical', {'weak_task_guided': False, 'weak_task_guided_collider': True})
    """
    claims = list(dict.fromkeys(r.claim.as_independence() for dag in dags for r in dag.claims))
    criteria = ["classical"]
    if any(dag.selection_nodes for dag in dags):
        criteria.append("selection")
    if any(dag.deterministic_nodes for dag in dags):
        criteria.append("deterministic")
    rows = []
    for claim in claims:
        if any(claim.nodes - set(dag.node_names) for dag in dags):
            continue
        for criterion in criteria:
            reading = READING_OF_CRITERION[criterion]
            separated = {
                dag.name: judge_d_separation(
                    dag, claim.left, claim.right, claim.given, reading=reading
                ).separated
                for dag in dags
            }
            rows.append(VariantComparison(claim, criterion, separated))
    return rows
