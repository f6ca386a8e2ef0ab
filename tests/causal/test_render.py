from __future__ import annotations

import shutil

import pytest

from iqalign.causal import GraphvizNotFoundError, format_dot, load_dag, render_dag


def test_dot_styles_follow_roles():
    dot = format_dot(load_dag("weak_task_guided"))
    assert "A [label=A shape=ellipse style=dashed]" in dot
    assert "T [label=T shape=box]" in dot
    assert 'fillcolor="#dbe9f6"' in dot  # predicted node filled
    assert "peripheries=2" in dot  # deterministic nodes double-bordered
    assert dot.count("->") == len(load_dag("weak_task_guided").edges)


def test_highlight_colours_open_path_edges_only():
    dot = format_dot(load_dag("shared_features"), highlight="Q M | X")
    red = [line.strip() for line in dot.splitlines() if "->" in line and "#c0392b" in line]
    assert sorted(line.split(" [")[0] for line in red) == ["Yhat -> M", "Z -> Q", "Z -> Yhat"]
    assert "1 open path(s)" in dot


def test_dashed_edges_from_file():
    assert "H -> Q [style=dashed]" in format_dot(load_dag("nr_iqa"))


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf", "gv"])
def test_render_formats(tmp_path, suffix):
    if suffix != "gv" and shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed: apt-get install graphviz (.ci/run does)")
    path = render_dag(load_dag("baseline"), tmp_path / f"b.{suffix}")
    assert path.stat().st_size > 100


def test_missing_dot_writes_source_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotFoundError, match=r"apt-get install graphviz.*dot -Tsvg"):
        render_dag(load_dag("baseline"), tmp_path / "b.svg")
    assert (tmp_path / "b.gv").read_text().startswith("digraph baseline")
    assert not (tmp_path / "b.svg").exists()


def test_bad_suffix(tmp_path):
    with pytest.raises(
        ValueError, match=r"cannot render to '.jpg'; use one of .svg, .png, .pdf, .gv"
    ):
        render_dag(load_dag("baseline"), tmp_path / "b.jpg")
