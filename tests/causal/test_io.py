"""Loading DAG files: every bad input produces a message that names the problem and the fix."""

from __future__ import annotations

import textwrap

import pytest

from iqalign.causal import format_dagitty, load_dag, parse_dag, parse_dagitty, to_pgmpy
from iqalign.errors import DagFormatError, DagNotFoundError

GOOD = """
nodes:
  X: {}
  Q: {deterministic: true}
  M: {role: observed}
edges: ["X -> Q", "X -> M"]
implies: ["Q _||_ M | X"]
"""


def _parse(text: str):
    return parse_dag(textwrap.dedent(text), source="dags/bad.yaml")


def test_good_file_parses():
    dag = _parse(GOOD)
    assert dag.node_names == ("X", "Q", "M") and dag.parents("Q") == ("X",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "nodes: {A: {}, B: {}, C: {}}\nedges: ['A -> B', 'B -> C', 'C -> A']",
            r"dags/bad.yaml: edges: the graph has a cycle A -> B -> C -> A",
        ),
        (
            "nodes: {T: {}, Yhat: {}}\nedges: ['T -> Yhat2']",
            r"""dags/bad.yaml: edges\[0\] "T -> Yhat2": node 'Yhat2' is not declared; nodes are \['T', 'Yhat'\]. Did you mean: 'Yhat'\?""",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: ['A -> B', 'A -> B']",
            r'dags/bad.yaml: edges\[1\] "A -> B": duplicate edge',
        ),
        ("nodes: {A: {}, B: {}}\nedges: ['A -> A']", r"self-loop on 'A'"),
        (
            "nodes: {A: {role: hidden}, B: {}}\nedges: ['A -> B']",
            r"dags/bad.yaml: nodes.A.role: unknown role 'hidden'; choose one of \['observed', 'latent', 'predicted', 'selection'\]",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: ['A -> B']\nimplies: ['A || B']",
            r"dags/bad.yaml: implies\[0\]: cannot parse claim 'A \|\| B': no '_\|\|_' or '!_\|\|_' operator",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: ['A -> B']\nnot_implies: ['A _||_ C']",
            r"""dags/bad.yaml: not_implies\[0\] 'A _\|\|_ C': names undeclared node\(s\) \['C'\]""",
        ),
        ("nodes: {}\nedges: []", r"dags/bad.yaml: nodes: the DAG declares no nodes"),
        ("", r"dags/bad.yaml: expected a YAML mapping with 'nodes' and 'edges', got NoneType"),
        ("nodes: {A: {}\nedges: [", r"dags/bad.yaml: not valid YAML at line \d+"),
        ("nodes: {A: {}}\nedges: ['A -> B'", r"dags/bad.yaml: not valid YAML at line 2"),
        (
            "nodes: {A: {}, B: {}}\nedge: ['A -> B']",
            r"dags/bad.yaml: edge: unknown field; Did you mean: 'edges'",
        ),
        (
            "nodes: {A: {rol: latent}, B: {}}\nedges: ['A -> B']",
            r"nodes.A.rol: unknown field; Did you mean: 'role'",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: ['A => B']",
            r"edges\[0\]: cannot read 'A => B'; write an edge as 'A -> B'",
        ),
        (
            "nodes: {A: {deterministic: true}, B: {}}\nedges: ['A -> B']",
            r"nodes.A.deterministic: 'A' has no parents",
        ),
        (
            "nodes: {A: {deterministic: 'yes'}, B: {}}\nedges: ['A -> B']",
            r"nodes.A.deterministic: expected true or false",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: [{edge: 'A -> B', style: dotted}]",
            r"unknown style 'dotted'; choose one of \['solid', 'dashed'\]",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: [{edge: 'A -> B', input: 'no'}]",
            r"edges\[0\].input: expected true or false, got 'no'",
        ),
        (
            "nodes: {A: {deterministic: false}, B: {deterministic: true}}\n"
            "edges: [{edge: 'A -> B', input: false}]",
            r"nodes.B.deterministic: 'B' has no parents that are inputs of it",
        ),
        (
            "nodes: {A: {}, B: {}}\nedges: ['A -> B']\nunder_selection: {implys: []}",
            r"under_selection.implys: unknown field; use 'implies' or 'not_implies'",
        ),
    ],
)
def test_bad_input_messages(text, message):
    with pytest.raises(DagFormatError, match=message):
        _parse(text)


def test_unknown_builtin_suggests_close_names():
    with pytest.raises(DagNotFoundError, match=r"no DAG 'basline'. Did you mean: 'baseline'\?"):
        load_dag("basline")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(DagNotFoundError, match=r"does not exist"):
        load_dag(tmp_path / "mine.yaml")


def test_user_files_load_by_path(tmp_path):
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(GOOD)
    assert load_dag(yaml_file).name == "mine"
    dagitty_file = tmp_path / "fig.dagitty"
    dagitty_file.write_text("dag {\n U [latent]\n U -> Q\n U -> M\n}\n")
    dag = load_dag(str(dagitty_file))
    assert dag.name == "fig" and dag.node("U").role == "latent"
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: {A: {}}\nedges: ['A -> B']")
    with pytest.raises(DagFormatError, match=rf"{bad}: edges\[0\]"):
        load_dag(bad)


def test_dagitty_import_features():
    dag = parse_dagitty(
        """dag {
        A [pos="0,0"]
        U [latent]
        T [selected,label="task"]
        A -> {B C} -> D
        U -> B; U -> C
        D <- T
        }"""
    )
    assert set(dag.graph.edges) == {
        ("A", "B"),
        ("A", "C"),
        ("B", "D"),
        ("C", "D"),
        ("U", "B"),
        ("U", "C"),
        ("T", "D"),
    }
    assert dag.node("T").role == "selection" and dag.node("T").label == "task"
    assert "T [selected" in format_dagitty(dag)


def test_pgmpy_export_keeps_latents():
    model = to_pgmpy(load_dag("latent_features"))
    assert set(model.latents) == {"A", "Z_Yhat", "Z_Q"}
    assert set(model.edges()) == set(load_dag("latent_features").graph.edges)
