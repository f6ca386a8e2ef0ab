"""``iqalign dag ...``: output and exit codes (0 yes / 1 no / 2 bad input)."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from iqalign.causal import list_builtin_dags
from iqalign.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_list_names_every_builtin():
    result = run("dag", "list")
    assert result.exit_code == 0
    for name in ("baseline", "shared_features", "weak_task_guided", "common_corruptions"):
        assert name in result.output
    assert "Fig. 10" in result.output


def test_show_text_and_exports():
    result = run("dag", "show", "weak_task_guided")
    assert result.exit_code == 0
    assert "selection" in result.output and "T -> Q" in result.output
    dagitty = run("dag", "show", "weak_task_guided", "--format", "dagitty")
    assert "T [selected]" in dagitty.output and "A [latent]" in dagitty.output
    assert run("dag", "show", "baseline", "-f", "dot").output.startswith("digraph baseline")
    assert "nodes:" in run("dag", "show", "baseline", "-f", "yaml").output


@pytest.mark.parametrize(
    ("dag", "claim", "code", "text"),
    [
        ("baseline", "Q _||_ M | X", 0, "implied"),
        ("shared_features", "Q _||_ M | X", 1, "NOT implied"),
        ("shared_features", "Q !_||_ M | X", 0, "implied"),
        ("weak_task_guided", "Q _||_ M | X, Y", 0, "implied"),
    ],
)
def test_check_exit_codes(dag, claim, code, text):
    result = run("dag", "check", dag, claim)
    assert result.exit_code == code, result.output
    assert text in result.output


def test_check_reading_option():
    assert run("dag", "check", "weak_task_guided", "Q _||_ M | X").exit_code == 1
    assert (
        run("dag", "check", "weak_task_guided", "Q _||_ M | X", "--reading", "selection").exit_code
        == 0
    )
    assert (
        run("dag", "check", "strong_task_guided", "Q _||_ M | X", "-r", "deterministic").exit_code
        == 0
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dag", "check", "nope", "Q _||_ M"), "no DAG 'nope'"),
        (("dag", "check", "baseline", "Q || M"), "cannot parse claim"),
        (("dag", "check", "baseline", "Q _||_ Mx"), "Did you mean: 'M'"),
        (("dag", "paths", "baseline", "Q", "M", "--given", "Z"), "node 'Z'"),
        (("dag", "show", "missing.yaml"), "does not exist"),
    ],
)
def test_bad_input_exits_2_with_message(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_user_file_everywhere(tmp_path):
    path = tmp_path / "mine.dagitty"
    path.write_text("dag { U [latent]\n U -> Q\n U -> M\n X -> Q }")
    assert run("dag", "check", str(path), "Q !_||_ M").exit_code == 0
    assert run("dag", "show", str(path)).exit_code == 0
    assert "M _||_ X" in run("dag", "implied", str(path)).output


def test_paths_lists_open_and_blocked():
    result = run("dag", "paths", "weak_task_guided", "Q", "M", "--given", "X")
    assert result.exit_code == 1
    assert "Q <- T -> Y -> M: open" in result.output
    everything = run("dag", "paths", "weak_task_guided", "Q", "M", "-g", "X,Y", "--all")
    assert everything.exit_code == 0
    assert "blocked" in everything.output and "collider at Y" in everything.output


def test_implied_modes():
    basis = run("dag", "implied", "baseline").output.split()
    assert basis[:5] == ["M", "_||_", "Q", "|", "X"]
    assert len(run("dag", "implied", "common_corruptions", "--all").output.splitlines()) > len(
        run("dag", "implied", "common_corruptions").output.splitlines()
    )


def test_plan_shows_testable_and_refused():
    result = run("dag", "plan", "common_corruptions")
    assert result.exit_code == 0
    assert "image_id" in result.output and "refused:" in result.output
    assert "each stratum would hold a single image" in result.output
    custom = run("dag", "plan", "baseline", "--claim", "Q _||_ M | Y")
    assert "label" in custom.output and "derived" not in custom.output


def test_claims_table_all_reproduced():
    result = run("dag", "claims")
    assert result.exit_code == 0
    assert "claims reproduced" in result.output and " NO " not in result.output


def test_render_and_report(tmp_path):
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed: apt-get install graphviz (.ci/run does)")
    out = tmp_path / "fig.svg"
    assert (
        run("dag", "render", "shared_features", "-o", str(out), "--highlight", "Q M | X").exit_code
        == 0
    )
    assert "#c0392b" in out.read_text()
    bad = run("dag", "render", "baseline", "-o", str(tmp_path / "x.jpg"))
    assert bad.exit_code == 2 and "use one of" in bad.output
    result = run("dag", "report", "-o", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## weak_task_guided" in report and "refused" in report
    assert "(figures/shared_features__Q_indep_M_X.svg)" in report
    assert (tmp_path / "report" / "figures" / "shared_features__Q_indep_M_X.svg").exists()
    assert (tmp_path / "report" / "dags" / "baseline.dagitty").read_text().startswith("dag {")
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") >= 9 and "<?xml" not in html


def test_render_without_dot_exits_1(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = run("dag", "render", "baseline", "-o", str(tmp_path / "b.svg"))
    assert result.exit_code == 1
    assert "apt-get install graphviz" in result.output
    assert (tmp_path / "b.gv").exists()


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("iqalign ")


@pytest.mark.parametrize("name", list_builtin_dags())
def test_every_line_implied_prints_is_accepted_by_check(name):
    # The CLI round trip for the default reading; every minimal separator under every
    # reading is checked through the API in tests/causal/test_implied.py.
    lines = run("dag", "implied", name).output.splitlines()
    assert lines
    for line in lines:
        result = run("dag", "check", name, line)
        assert result.exit_code == 0, (line, result.output)
