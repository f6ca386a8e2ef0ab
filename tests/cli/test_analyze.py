"""``iqalign simulate`` and ``iqalign analyze`` end to end, exit codes, atomic outputs."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from iqalign.cli import app
from iqalign.cli.analyze import write_atomic

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
    assert written == {
        "pooled.csv",
        "groups.csv",
        "correlations.csv",
        "stratified.csv",
        "citests.csv",
        "verdicts.csv",
        "mixtures.csv",
        "summary.json",
        "per_stratum_image_id.csv",
        "per_stratum_label.csv",
        "per_stratum_corruption_severity.csv",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pooled"]["n_ids_test"] == 24 and summary["skipped_analyses"] == {}
    assert len(pd.read_csv(out / "stratified.csv")) == 3
    assert len(pd.read_csv(out / "citests.csv")) == 4  # marginal + 3 stratifications


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
    assert "skipped 5-fold CV within one_image_per_stratum: no usable fold" in result.output
    skipped = json.loads((tmp_path / "o" / "summary.json").read_text())["skipped_analyses"]
    assert list(skipped) == ["5-fold CV within one_image_per_stratum"]
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
