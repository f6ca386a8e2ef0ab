from __future__ import annotations

import shutil

import pytest

from iqalign.causal import list_builtin_dags, load_dag
from iqalign.report.causal_report import write_causal_report

from .browser import open_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed: apt-get install graphviz (.ci/run does)")
    return write_causal_report(tmp_path_factory.mktemp("causal"))


def test_every_claim_reproduced_and_written(report):
    recorded = sum(len(load_dag(name).claims) for name in list_builtin_dags())
    assert report.total == recorded and report.reproduced == recorded
    assert report.missing_dot is None
    text = report.markdown.read_text()
    for name in list_builtin_dags():
        assert f"## {name}:" in text
    csv = (report.html.parent / "claims.csv").read_text().splitlines()
    assert csv[0] == "dag,claim,reading,paper says,graph gives,ok" and len(csv) == recorded + 1
    # Both shipped readings of Fig. 6, side by side, with the rows where they differ.
    assert "## Fig. 6: 2 readings" in text and "| weak_task_guided_collider | differ |" in text
    assert "DIFFER" in text


def test_renders_in_headless_chromium(report):
    page = open_report(report.html)
    assert page["title"] == "iqalign causal report"
    assert len(page["figures"]) >= 30
    assert [name for name, ok in page["figures"] if not ok] == []
    assert page["errors"] == []


def test_without_dot_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = write_causal_report(tmp_path, ["baseline"])
    assert "Graphviz's 'dot' was not found" in result.missing_dot
    assert result.reproduced == result.total == 4
