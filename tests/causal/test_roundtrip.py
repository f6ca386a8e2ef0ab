"""Round trips: random DAGs with awkward node names through ``iqalign dag show`` and back.

A seeded random generator stands in for a property-testing library (hypothesis is not a
dependency): 50 DAGs whose names hold spaces, dots, leading digits, quotes, backslashes,
unicode, DOT punctuation and operator look-alikes.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from iqalign.causal import Dag, Edge, Node, RecordedClaim, parse_claim, parse_dag, parse_dagitty
from iqalign.cli import app
from iqalign.cli.dag import _yaml_text

PIECES = [
    "a", "Z", "x1", "1", "0", ".", "_", " ", '"', "'", "-", "é", "Ŷ", "中", "ᚠ", "ß",
    ":", "#", ",", "|", "{", "}", "[", "]", ";", "/", "\\", "->", "_||_", "=", "+", "not",
    "graph ", "//", "@", "!",
]  # fmt: skip
ROLES = ["observed", "observed", "latent", "selection", "predicted"]


def _awkward_name(rng: np.random.Generator) -> str:
    while True:
        name = "".join(rng.choice(PIECES) for _ in range(rng.integers(1, 5)))
        # dagitty cannot write a trailing backslash nor the words graph/node.
        if name.strip() and not name.endswith("\\") and name not in ("graph", "node"):
            return name


def _random_dag(rng: np.random.Generator) -> Dag:
    n = int(rng.integers(2, 9))
    names: list[str] = []
    while len(names) < n:
        name = _awkward_name(rng)
        if name not in names:
            names.append(name)
    edges = [
        Edge(names[i], names[j]) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.4
    ] or [Edge(names[0], names[1])]
    nodes = tuple(
        Node(name, role=str(rng.choice(ROLES)), label=str(rng.choice(["", "Ŷ", 'say "x"'])))  # type: ignore[arg-type]
        for name in names
    )
    claim = parse_claim(f"{_q(names[0])} _||_ {_q(names[1])} | {_q(names[-1])}") if n > 2 else None
    claims = (RecordedClaim(claim),) if claim else ()
    return Dag(name="awkward", nodes=nodes, edges=tuple(edges), claims=claims)


def _q(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show(path, fmt: str) -> str:
    result = CliRunner().invoke(app, ["dag", "show", str(path), "-f", fmt])
    assert result.exit_code == 0, result.output
    return result.output


def _shape(dag: Dag, *, dagitty: bool) -> tuple:
    def role(node: Node) -> str:
        # dagitty has latent and selected; a predicted node is an observed one there.
        return "observed" if dagitty and node.role == "predicted" else node.role

    nodes = {n.name: (role(n), n.display) for n in dag.nodes}
    return nodes, set(dag.graph.edges)


@pytest.mark.parametrize("seed", range(40))
def test_random_awkward_dags_round_trip_through_show(seed, tmp_path):
    dag = _random_dag(np.random.default_rng(seed))
    path = tmp_path / "awkward.yaml"
    path.write_text(_yaml_text(dag.to_dict()), encoding="utf-8")
    assert parse_dag(path.read_text(encoding="utf-8")).to_dict() == dag.to_dict()

    again = parse_dag(_show(path, "yaml"))
    assert again.to_dict() == dag.to_dict()
    assert _shape(parse_dagitty(_show(path, "dagitty")), dagitty=True) == _shape(dag, dagitty=True)


@pytest.mark.parametrize("seed", range(10))
def test_implied_lines_of_awkward_dags_are_accepted_by_check(seed, tmp_path):
    dag = _random_dag(np.random.default_rng(1000 + seed))
    path = tmp_path / "awkward.yaml"
    path.write_text(_yaml_text(dag.to_dict()), encoding="utf-8")
    lines = CliRunner().invoke(app, ["dag", "implied", str(path), "--all"]).output.splitlines()
    for line in lines:
        if line.startswith("("):  # "(no testable independence ...)"
            continue
        result = CliRunner().invoke(app, ["dag", "check", str(path), line])
        assert result.exit_code == 0, (line, result.output)
