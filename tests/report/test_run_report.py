"""The run report on a synthetic run folder: every section, every figure, in Chromium."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from iqalign.report.run_report import write_run_report
from iqalign.scores import ScoredRun, read_run
from iqalign.stats import simulate_scores
from iqalign.stats.runner.analysis import AnalysisSettings, run_analysis

from .browser import open_report


def _make_run(path):
    """Two task models; a classic metric, strong-TG metrics from each model, an entropy."""
    rng = np.random.default_rng(0)
    table = simulate_scores("common_corruptions", n_ids=40, n_labels=8, seed=0)
    table = table.rename(
        columns={"correct_sim": "correct_a", "pred_sim": "pred_a", "q_sim": "q_tg_maxlogit_a"}
    )
    table["correct_b"] = np.where(
        rng.random(len(table)) < 0.8, table["correct_a"], 1 - table["correct_a"]
    )
    table["pred_b"] = table["pred_a"]
    table["q_tg_entropy_b"] = -table["q_tg_maxlogit_a"] + rng.normal(scale=0.5, size=len(table))
    table["q_piqe"] = rng.normal(size=len(table))  # no relation to M
    shards = path / "shards"
    shards.mkdir(parents=True)
    table.to_parquet(shards / "part-00000.parquet")
    columns = {
        "q_tg_maxlogit_a": {
            "metric": "tg_maxlogit",
            "family": "strong_tg",
            "higher_is_better": True,
            "source_model": "a",
        },
        "q_tg_entropy_b": {
            "metric": "tg_entropy",
            "family": "strong_tg",
            "higher_is_better": False,
            "source_model": "b",
        },
        "q_piqe": {
            "metric": "piqe",
            "family": "classic_nr",
            "higher_is_better": False,
            "source_model": None,
            "implementation": "pyiqa 0.1.16",
            "reference": "pyiqa",
        },
    }
    (path / "manifest.json").write_text(
        json.dumps({"columns": columns, "seed": 0, "versions": {"iqalign": "test"}})
    )
    return table


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    _make_run(path)
    return path


@pytest.fixture(scope="module")
def report(run):
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed: apt-get install graphviz (.ci/run does)")
    return write_run_report(
        run,
        dags=[
            "baseline",
            "strong_task_guided",
            "strong_task_guided_two_models",
            "common_corruptions",
        ],
        n_boot=100,
    )


def test_read_run_and_metric_infos(run):
    infos = read_run(run).metrics
    assert set(infos) == {"q_tg_maxlogit_a", "q_tg_entropy_b", "q_piqe"}
    assert infos["q_tg_entropy_b"].higher_is_better is False
    assert infos["q_piqe"].source_model is None and infos["q_piqe"].family == "classic_nr"


def test_unknown_columns_are_not_guessed(run):
    infos = ScoredRun.from_table(read_run(run).table).metrics  # without its manifest
    assert {i.family for i in infos.values()} == {"unknown"}
    assert {i.higher_is_better for i in infos.values()} == {None}


def test_dags_are_tested_on_the_pairs_they_model(run):
    analysis = run_analysis(
        read_run(run),
        dags=["baseline", "strong_task_guided", "strong_task_guided_two_models"],
        settings=AnalysisSettings(n_boot=50),
    )
    pairs = analysis.verdicts.groupby("dag")[["model", "metric"]].apply(
        lambda f: sorted(set(map(tuple, f.values)))
    )
    assert pairs["baseline"] == [("a", "piqe"), ("b", "piqe")]
    assert pairs["strong_task_guided"] == [("a", "tg_maxlogit_a"), ("b", "tg_entropy_b")]
    assert pairs["strong_task_guided_two_models"] == [("a", "tg_entropy_b"), ("b", "tg_maxlogit_a")]
    assert len(analysis.pooled) == 6 and set(analysis.stratified["by"]) == {"image_id", "label"}


def test_orientation_is_reported_not_flipped(run):
    analysis = run_analysis(read_run(run), settings=AnalysisSettings(n_boot=50))
    entropy = analysis.pooled[
        (analysis.pooled["metric"] == "tg_entropy_b") & (analysis.pooled["model"] == "a")
    ].iloc[0]
    assert entropy["higher_is_better"] == False  # noqa: E712 - numpy bool
    assert entropy["raw_auc_score"] < 0.5 and entropy["slope_sign"] < 0
    assert entropy["auc_score"] > 0.5  # the fitted model reads the negative signal correctly


def test_report_sections_and_files(report):
    text = report.markdown.read_text()
    for heading in (
        "## Summary",
        "paper Tables 1–4",
        "paper Fig. 3/5/7",
        "paper Fig. 20",
        "### strong_task_guided:",
        "## Run metadata",
    ):
        assert heading in text
    assert "Strong task-guided Q from a different classifier than M" in text
    assert "claims no column can test" in text and "each stratum would hold a single image" in text
    assert "Every tested claim predicts a dependence" in text
    assert "Small run: 40 source images" in text and "disattenuated r" in text
    for name in ("pooled", "correlations", "groups", "stratified", "verdicts", "failures"):
        assert (report.analysis_dir / f"{name}.csv").exists()
    verdicts = pd.read_csv(report.analysis_dir / "verdicts.csv")
    assert set(verdicts["verdict"]) <= {"consistent", "contradicted", "inconclusive", "not tested"}
    assert report.summary.iloc[0]["family"] == "strong_tg"
    # whose code computed each Q (older manifests without the field say so)
    assert "Quality metrics: whose code computed each column" in text
    assert "pyiqa 0.1.16" in text and "not recorded" in text


def test_report_renders_in_headless_chromium(report):
    page = open_report(report.html)
    assert page["title"].startswith("iqalign report")
    names = [name for name, _ in page["figures"]]
    assert {"groups_a", "groups_b", "stratified_a", "stratified_b"} <= set(names)
    assert any(name.startswith("strong_task_guided__") for name in names)
    assert [name for name, ok in page["figures"] if not ok] == []
    assert page["errors"] == []


def test_a_dag_that_predicts_independence_can_be_contradicted(run, tmp_path):
    from iqalign.report.run_report import _falsifiability

    dag = tmp_path / "label_only.yaml"
    dag.write_text(
        "nodes: {X0: {column: image_id}, Y: {column: label}, Q: {column: 'q_*'}, M: {column: 'correct_*'}}\n"
        "edges: ['X0 -> Y', 'Y -> Q', 'Y -> M']\n"
        "implies: ['Q _||_ M | Y']\n"
    )
    analysis = run_analysis(
        read_run(run),
        dags=[str(dag)],
        settings=AnalysisSettings(n_boot=50),
    )
    rows = analysis.verdicts[analysis.verdicts["claim"] == "Q _||_ M | Y"]
    assert len(rows) == 6 and set(rows["expected"]) == {"separated"}
    # q_tg_maxlogit_a drives correct_a in the synthetic run: that independence claim fails.
    strong = rows[(rows["model"] == "a") & (rows["metric"] == "tg_maxlogit_a")]
    assert strong["verdict"].item() == "contradicted"
    assert _falsifiability(analysis).startswith(
        "6 tested (claim, model, metric) rows predict independence"
    )


def test_report_of_a_single_table_file(tmp_path):
    table = simulate_scores("common_corruptions", n_ids=12, seed=1)
    path = tmp_path / "scores.parquet"
    table.to_parquet(path)
    result = write_run_report(path, dags=["common_corruptions"], n_boot=20)
    assert result.html == tmp_path / "scores-report" / "report.html" and result.html.exists()
    assert "No manifest.json" in result.markdown.read_text()


def test_misspelt_dag_fails_before_any_analysis(run, monkeypatch):
    import iqalign.report.run_report as run_report
    from iqalign.errors import DagNotFoundError

    monkeypatch.setattr(run_report, "run_analysis", lambda *a, **k: pytest.fail("analysed first"))
    with pytest.raises(DagNotFoundError, match=r"no DAG 'basline'. Did you mean: 'baseline'"):
        write_run_report(run, dags=["basline"])
