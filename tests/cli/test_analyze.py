"""``iqalign simulate`` and ``iqalign analyze`` end to end, exit codes, atomic outputs."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from iqalign.cli import app
from iqalign.cli.analyze import write_atomic
from iqalign.stats.runner.analysis import MARGINAL, TABLES

runner = CliRunner()


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    path = tmp_path_factory.mktemp("scores") / "sim.parquet"
    result = runner.invoke(
        app,
        [
            "simulate",
            "common_corruptions",
            "--ids",
            "120",
            "--labels",
            "20",
            "--out",
            str(path),
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "9120 rows" in result.output
    return path


def test_simulate_writes_a_readable_table(scores):
    table = pd.read_parquet(scores)
    assert len(table) == 120 * 76 and {"q_sim", "correct_sim", "pred_sim"} <= set(table.columns)
    assert not list(scores.parent.glob(".*.tmp"))


def test_analyze_prints_and_writes_everything(scores, tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(scores),
            "--q",
            "sim",
            "--m",
            "sim",
            "--dag",
            "common_corruptions",
            "--by",
            "image_id",
            "--by",
            "label",
            "--by",
            "corruption,severity",
            "--out",
            str(out),
            "--n-boot",
            "50",
            "--per-stratum",
            "--mixtures",
        ],
    )
    assert result.exit_code == 0, result.output
    for title in (
        "Pooled predictability",
        "Group level",
        "Stratified cross-validation",
        "Conditional independence",
        "Verdicts for DAG common_corruptions",
        "Mixtures",
    ):
        assert title in result.output
    written = {p.name for p in out.iterdir()}
    by = ("image_id", "label", "corruption_severity")
    per_stratum = {f"per_stratum_sim_sim_{b}.csv" for b in by}
    analyses = {f"{name}.csv" for name in TABLES if not name.startswith("estimation_")}
    # iqalign analyze does not ask for estimation: its tables are the report's
    assert written == analyses | {"analysis.json"} | per_stratum
    info = json.loads((out / "analysis.json").read_text())
    assert info["rows"]["failures"] == 0 and info["n_boot"] == 50 and info["seed"] == 0
    assert pd.read_csv(out / "pooled.csv")["n_ids_test"].tolist() == [24]
    assert len(pd.read_csv(out / "stratified.csv")) == 3
    citests = pd.read_csv(out / "citests.csv")  # the marginal test + 3 stratifications
    assert citests["by"].tolist() == [MARGINAL, "image_id", "label", "corruption,severity"]


def test_an_undefined_analysis_is_reported_and_the_rest_runs(scores, tmp_path):
    table = pd.read_parquet(scores)
    table["one_image_per_stratum"] = table["image_id"].astype(str)
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    result = runner.invoke(
        app,
        [
            "analyze",
            str(path),
            "--q",
            "q_sim",
            "--m",
            "correct_sim",
            "--by",
            "one_image_per_stratum",
            "--n-boot",
            "20",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "not possible stratified one_image_per_stratum: no usable fold" in result.output
    failures = pd.read_csv(tmp_path / "o" / "failures.csv")
    assert failures[["analysis", "by"]].values.tolist() == [["stratified", "one_image_per_stratum"]]
    assert "Pooled predictability" in result.output  # the other analyses still ran
    one_class = table.assign(correct_sim=1)
    one_class.to_parquet(path)
    result = runner.invoke(
        app, ["analyze", str(path), "--q", "sim", "--m", "sim", "--n-boot", "20"]
    )
    assert result.exit_code == 2
    assert "one class" in result.output and "every analysis was undefined" in result.output


def test_bad_input_exits_2_with_a_message(scores, tmp_path):
    result = runner.invoke(app, ["analyze", str(scores), "--q", "simm", "--m", "sim"])
    assert result.exit_code == 2 and "Did you mean: 'q_sim'" in result.output
    result = runner.invoke(
        app, ["analyze", str(tmp_path / "missing.parquet"), "--q", "sim", "--m", "sim"]
    )
    assert result.exit_code == 2 and "no such Parquet file" in result.output
    result = runner.invoke(
        app,
        [
            "simulate",
            "baseline",
            "--ids",
            "3",
            "--out",
            str(tmp_path / "x.parquet"),
            "--edge",
            "Q -> M=1",
        ],
    )
    assert result.exit_code == 2 and "not an edge" in result.output
    result = runner.invoke(
        app, ["simulate", "no_such_dag", "--ids", "3", "--out", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 2


def test_write_atomic_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.csv"

    def crash(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, crash)
    assert not target.exists() and not list(tmp_path.iterdir())
    write_atomic(target, lambda path: path.write_text("whole"))
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_analyze_and_report_give_the_same_numbers_for_a_pair(scores, tmp_path):
    common = ["--n-boot", "40", "--seed", "3", "--alpha", "0.1"]
    analyzed = runner.invoke(
        app,
        ["analyze", str(scores), "--q", "sim", "--m", "sim", "--by", "image_id", "--by",
         "label", "--out", str(tmp_path / "a"), *common],
    )  # fmt: skip
    assert analyzed.exit_code == 0, analyzed.output
    out = str(tmp_path / "r")
    reported = runner.invoke(
        app, ["report", str(scores), "--dag", "common_corruptions", "-o", out, *common]
    )
    assert reported.exit_code == 0, reported.output
    for name in ("pooled", "correlations", "stratified"):
        ours = pd.read_csv(tmp_path / "a" / f"{name}.csv")
        theirs = pd.read_csv(tmp_path / "r" / "analysis" / f"{name}.csv")
        assert len(ours) > 0
        pd.testing.assert_frame_equal(ours, theirs)
    assert pd.read_csv(tmp_path / "a" / "pooled.csv")["alpha"].tolist() == [0.1]
