"""Every built-in DAG file loads, validates, reproduces its recorded claims and renders."""

from __future__ import annotations

import shutil

import pytest

from iqalign.causal import (
    check_recorded_claims,
    dag_to_dict,
    format_dagitty,
    list_builtin_dags,
    load_dag,
    parse_dag,
    parse_dagitty,
    render_dag,
)
from iqalign.errors import DagFormatError

BUILTINS = list_builtin_dags()
PAPER_DAGS = {
    "baseline",
    "nr_iqa",
    "fr_iqa",
    "latent_features",
    "shared_features",
    "strong_task_guided",
    "strong_task_guided_two_models",
    "weak_task_guided",
    "weak_task_guided_collider",
    "common_corruptions",
}


def test_every_paper_dag_is_built_in():
    assert set(BUILTINS) >= PAPER_DAGS


@pytest.mark.parametrize("name", BUILTINS)
def test_recorded_claims_hold(name):
    dag = load_dag(name)
    assert dag.claims, f"{name} records no claim"
    failures = [str(r.recorded.claim) for r in check_recorded_claims(dag) if not r.holds]
    assert failures == []


@pytest.mark.parametrize("name", BUILTINS)
def test_file_has_paper_reference_and_q_m(name):
    dag = load_dag(name)
    assert dag.paper.get("figure") and dag.title
    assert dag.node("Q").column == "q_*"
    assert dag.node("M").column == "correct_*"


@pytest.mark.parametrize("name", BUILTINS)
def test_yaml_and_dagitty_round_trip(name):
    import yaml

    dag = load_dag(name)
    again = parse_dag(
        yaml.safe_dump(dag_to_dict(dag), allow_unicode=True, sort_keys=False), name=name
    )
    assert again.nodes == dag.nodes and again.edges == dag.edges and again.claims == dag.claims
    from_dagitty = parse_dagitty(format_dagitty(dag))
    assert set(from_dagitty.graph.edges) == set(dag.graph.edges)
    assert from_dagitty.nodes_with_role("latent") == dag.nodes_with_role("latent")
    assert from_dagitty.selection_nodes == dag.selection_nodes


@pytest.mark.parametrize("name", BUILTINS)
def test_renders_svg(name, tmp_path):
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed: apt-get install graphviz (.ci/run does)")
    path = render_dag(load_dag(name), tmp_path / f"{name}.svg", highlight="Q M | X")
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "Q" in text and "M" in text


def test_paper_claims_as_stated_in_spec():
    """SPEC section 2, claim by claim, independent of what the files record."""
    from iqalign.causal import is_d_separated as sep

    assert sep(load_dag("baseline"), "Q", "M", "X")
    assert not sep(load_dag("baseline"), "Q", "M", "Y")
    assert sep(load_dag("nr_iqa"), "Q", "M", "X")
    assert sep(load_dag("fr_iqa"), "Q", "M", "X")
    assert sep(load_dag("latent_features"), "Q", "M", "X")
    assert not sep(load_dag("shared_features"), "Q", "M", "X")
    assert not sep(load_dag("strong_task_guided"), "Q", "M", "X")
    weak = load_dag("weak_task_guided")
    assert not sep(weak, "Q", "M", "X")
    assert sep(weak, "Q", "M", {"X", "Y"})
    assert sep(weak, "Q", "M", "X", condition_on_selection=True)
    collider = load_dag("weak_task_guided_collider")  # sec. 6: T a selected collider
    assert not sep(collider, "Q", "M", "X", condition_on_selection=True)
    assert sep(collider, "Q", "M", {"X", "Y"}, condition_on_selection=True)
    assert sep(load_dag("common_corruptions"), "Q", "M", "X")
    assert not sep(load_dag("strong_task_guided_two_models"), "Q", "M", "X")


def test_applies_to_ties_dags_to_metric_families():
    strong = load_dag("strong_task_guided").applies_to
    assert strong.accepts("strong_tg", "lite0", "lite0") and not strong.accepts(
        "strong_tg", "lite1", "lite0"
    )
    two = load_dag("strong_task_guided_two_models").applies_to
    assert two.accepts("strong_tg", "lite1", "lite0") and not two.accepts(
        "strong_tg", "lite0", "lite0"
    )
    baseline = load_dag("baseline").applies_to
    assert baseline.accepts("classic_nr", None, "lite0") and not baseline.accepts(
        "strong_tg", "lite0", "lite0"
    )
    assert load_dag("common_corruptions").applies_to.accepts("zsclip", "clip:ViT-B-32", "lite0")


def test_applies_to_validation():
    with pytest.raises(
        DagFormatError, match=r"applies_to.families: unknown family 'nr'; choose from"
    ):
        parse_dag("applies_to: {families: [nr]}\nnodes: {A: {}, B: {}}\nedges: ['A -> B']")
    with pytest.raises(DagFormatError, match=r"applies_to.q_source: unknown value 'same'"):
        parse_dag("applies_to: {q_source: same}\nnodes: {A: {}, B: {}}\nedges: ['A -> B']")


def test_fig6_readings_are_listed_and_differ_where_the_paper_is_ambiguous():
    from iqalign.causal import compare_variants, list_variant_groups

    groups = list_variant_groups()
    assert list(groups) == ["weak_task_guided"]
    members = groups["weak_task_guided"]
    for dag in members:
        assert dag.paper["figure"] == "Fig. 6" and dag.paper["follows"]
    differ = {(str(r.claim), r.criterion) for r in compare_variants(members) if r.differs}
    assert ("Q _||_ M | X", "classical") in differ and ("Q _||_ M | X", "selection") in differ
    assert not any(claim == "Q _||_ M | X, Y" for claim, _ in differ)


@pytest.mark.parametrize(("name", "given"), [("nr_iqa", {"X"}), ("fr_iqa", {"X", "X0"})])
def test_fig8_h_is_not_an_input_of_q(name, given):
    """The caption: H "is not used directly in the calculation of Q". Read as drawn (H an
    input of the deterministic Q), X would never determine Q."""
    from dataclasses import replace

    from iqalign.causal import get_determined, is_d_separated

    dag = load_dag(name)
    (h_edge,) = [e for e in dag.edges if e.source == "H"]
    assert not h_edge.input and h_edge.style == "dashed"
    assert "Q" in get_determined(dag, given)
    assert is_d_separated(dag, "Q", "H", given, criterion="deterministic")
    as_drawn = replace(dag, edges=tuple(replace(e, input=True) for e in dag.edges))
    assert "Q" not in get_determined(as_drawn, given)
    assert not is_d_separated(as_drawn, "Q", "H", given, criterion="deterministic")
