"""The dagitty reader against dagitty itself.

``data/dagitty_models.json`` holds real model strings from dagitty's R and JS tests,
dagitty.net's example DAGs (as dagitty.net exports them), pgmpy's tests and docs, and the
cases issue 13 named, each with its source. For every string the file also holds how
dagitty's own JavaScript parser read it (``make_dagitty_models.js`` beside it, run on
jtextor/dagitty 7a65777): its canonical DAG (``<->`` as a latent node ``L<i>``), or its
error. Cases iqalign refuses carry the reason the refusal must give.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iqalign.causal import format_dagitty, parse_dag, parse_dagitty
from iqalign.errors import DagFormatError

CASES = [
    case
    for case in json.loads((Path(__file__).parent / "data" / "dagitty_models.json").read_text())
    if "text" in case
]


def _expected(described: dict) -> tuple[dict, set]:
    roles = {}
    for name, flags in described["nodes"].items():
        role = "selection" if flags["selected"] else "latent" if flags["latent"] else "observed"
        roles[name] = (role, flags["label"])
    edges = {(a, b) for a, b, kind in described["edges"]}
    assert all(kind == 1 for _, _, kind in described["edges"])
    return roles, edges


def test_the_table_is_big_enough():
    read = [c for c in CASES if "refused" not in c]
    assert len(CASES) >= 20 and len(read) >= 20
    assert len({c["source"].split(" ")[0] for c in CASES}) >= 3  # dagitty, pgmpy, issue


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["text"][:40])
def test_real_model_strings(case):
    if "refused" in case:
        with pytest.raises(DagFormatError, match=case["refused"]):
            parse_dag(case["text"], source="model")
        return
    dag = parse_dag(case["text"], source="model")
    roles, edges = _expected(case["dagitty"]["canonical"])
    for extra in case.get("ignore_nodes", []):  # see the case's "deviation"
        roles.pop(extra)
    assert {n.name: (n.role, n.label) for n in dag.nodes} == roles, case["source"]
    assert set(dag.graph.edges) == edges, case["source"]


def test_statements_dagitty_refuses_are_refused_here_too():
    for case in CASES:
        if "error" in case.get("dagitty", {}):
            assert "refused" in case, case["source"]


def test_bom_and_comments_before_the_header():
    plain = parse_dagitty("dag { a -> b /* block */ b -> c }")
    for prefix in ("\ufeff", "// exported from dagitty.net\n", "# comment\n", "/* x */ "):
        dag = parse_dag(prefix + "dag { a -> b /* block */ b -> c }")
        assert set(dag.graph.edges) == set(plain.graph.edges)


@pytest.mark.parametrize(
    ("text", "roles", "note"),
    [
        ("dag { X [latent]\n X [selected]\n X -> y }", {"X": "selection"}, "latent and selected"),
        ("dag { X [l] X [u] X -> y }", {"X": "latent"}, ""),
        ("dag { X [e] Y [o] Z [a] X -> Y Z -> Y }", {"X": "observed"}, "dagitty adjusted: Z"),
        ("x <-> y", {"L1": "latent"}, "x <-> y read as a latent common cause L1"),
        ("dag { L1 -> a  a <-> b }", {"L1": "observed", "L2": "latent"}, "L2 -> a, b"),
    ],
)
def test_attribute_merging_and_notes(text, roles, note):
    dag = parse_dagitty(text)
    assert {name: dag.node(name).role for name in roles} == roles
    assert note in dag.description


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dag { -> a b }", r"line 1, column 7: '->' has no node before it"),
        ("dag { A -> }", r"'->' at line 1, column 9 has no node after it"),
        ("dag { X [latent, adjusted] X -> Y }", r"both latent and adjusted"),
        ('dag { X [label="a"] X [label="b"] X -> Y }', r"two labels, 'a' and 'b'"),
        (
            "dag { A [latnet] ; A -> B }",
            r"unknown dagitty attribute 'latnet'; did you mean 'latent'",
        ),
        ("dag { A -> B -> A }", r"cycle A -> B -> A"),
        ("dag { a -- b }", r"'a -- b' is undirected; .*a -> S <- b"),
        ("dag { a @-> b }", r"PAG edge mark"),
        ("pag { a @-> b }", r"'pag' graph cannot be read"),
        ('dag { bb="0,0" a -> b }', r"bb='0,0': expected four numbers"),
        ('dag { a [pos="x"] a -> b }', r"pos='x': expected two numbers"),
        ('dag { "open -> b }', r"line 1, column 7: unterminated string"),
        ("dag { a -> b ", r"line 1, column 12: the graph must end with its closing '}', found 'b'"),
        ("dag { a -> b } c", r"must end with its closing '}', found 'c'"),
        ("dag { a -> {b c }", r"not closed"),
        ("dag { graph -> b }", r"cannot be named 'graph'"),
        ("dag { a -> b ! }", r"line 1, column 14: cannot read dagitty text at '!"),
    ],
)
def test_dagitty_errors_say_where_and_what_to_do(text, message):
    with pytest.raises(DagFormatError, match=message):
        parse_dagitty(text)


def test_dagitty_writes_what_it_reads_with_awkward_names():
    text = 'dag {\n  "carry matches" [latent]\n  EDN1.3 [selected,label="Ŷ \\"hat\\""]\n  "carry matches" -> EDN1.3\n}'
    dag = parse_dagitty(text)
    assert dag.node("EDN1.3").label == 'Ŷ "hat"'
    assert format_dagitty(dag) == text


def test_a_dag_without_edges_is_a_dag(tmp_path):
    """dagitty reads ``dag { a b c }``; with no edge every pair is d-separated given any set
    (networkx agrees), and ``iqalign dag check`` answers instead of refusing."""
    import networkx as nx
    from typer.testing import CliRunner

    from iqalign.causal import check_claim, list_implied_independencies
    from iqalign.cli import app

    dag = parse_dag("dag { a b c }", source="model")
    assert dag.edges == () and {n.name for n in dag.nodes} == {"a", "b", "c"}
    graph = nx.DiGraph()
    graph.add_nodes_from("abc")
    for x, y, z in (("a", "b", {"c"}), ("a", "c", set()), ("b", "c", {"a"})):
        assert nx.is_d_separator(graph, {x}, {y}, z)
        assert check_claim(dag, f"{x} _||_ {y}" + (f" | {next(iter(z))}" if z else "")).is_implied()
    assert len(list_implied_independencies(dag)) >= 3
    (tmp_path / "no_edges.dagitty").write_text("dag { a b c }")
    result = CliRunner().invoke(
        app, ["dag", "check", str(tmp_path / "no_edges.dagitty"), "a _||_ b | c"]
    )
    assert result.exit_code == 0 and "implied" in result.output, result.output
