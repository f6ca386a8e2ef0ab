"""The report's "Estimating accuracy without labels" section, and Tables 1-4 without the
accuracy-estimator columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iqalign.report.estimation_section import (
    EstimationSection,
    estimation_blocks,
    estimation_headline,
    estimation_section,
)
from iqalign.report.run_report import write_run_report
from iqalign.scores import ScoredRun
from iqalign.stats.runner.analysis import AnalysisSettings, EstimationRequest, run_analysis
from tests.stats.test_estimation import scored_table


def _entry(metric, family, source):
    return {"metric": metric, "family": family, "higher_is_better": metric != "tg_entropy",
            "source_model": source}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    table = scored_table(n_ids=40, seed=2)
    table["q_msp_m"] = table["q_tg_maxprob_m"]  # the duplicate the tables must not list
    (path / "shards").mkdir()
    table.to_parquet(path / "shards" / "part-00000.parquet")
    columns = {
        "q_tg_maxprob_m": _entry("tg_maxprob", "strong_tg", "m"),
        "q_tg_entropy_m": _entry("tg_entropy", "strong_tg", "m"),
        "q_msp_m": _entry("msp", "accuracy_estimator", "m"),
        "q_sharp": _entry("sharp", "classic_nr", None),
    }
    (path / "manifest.json").write_text(json.dumps({"columns": columns, "seed": 0}))
    return path, table, {"columns": columns}


def test_report_has_the_section_and_tables_without_msp(run):
    path, _, _ = run
    report = write_run_report(path, dags=["baseline"], n_boot=20)
    text = report.markdown.read_text()
    assert "## Estimating accuracy without labels" in text
    assert "Estimating accuracy without labels (held-out corruptions" in text  # summary
    assert "m, clean track" in text and "m, shifts track" in text
    assert (report.html.parent / "figures" / "estimation_m.png").is_file()
    tables = text.split("paper Tables 1–4")[1].split("## ")[0]
    assert "msp_m" not in tables and "Label-free accuracy estimators" not in tables
    assert "tg_maxprob_m" in tables
    assert "accuracy_estimator" not in set(report.summary["family"])


def run_estimation(table, manifest) -> EstimationSection:
    """The section from the runner's estimation job (as the report gets it)."""
    metrics = ScoredRun.from_table(table, manifest).metrics
    analysis = run_analysis(
        table, metrics, settings=AnalysisSettings(pooled=False, groups=False, stratified_by=()),
        estimation=EstimationRequest(manifest), workers=1,
    )  # fmt: skip
    return estimation_section(analysis.estimation)


def test_section_ranks_within_each_track_and_compares_like_with_like(run):
    _, table, manifest = run
    section = run_estimation(table, manifest)
    summary = section.result.summary
    # msp is an ingredient of AC, not a Q: no Q-based estimator is built on it
    assert not summary["estimator"].str.contains("q_msp").any()
    clean = set(summary.loc[summary["track"] == "clean", "estimator"])
    assert clean == {"AC", "DoC", "ATC-MC", "ATC-NE"}
    shifts = set(summary.loc[summary["track"] == "shifts", "estimator"])
    assert {"Q-mean q_sharp", "Q-dist q_sharp", "DoC-reg", "ATC-MC (all source)"} <= shifts
    headline = estimation_headline(section)
    for track in ("clean", "shifts"):
        best = summary[summary["track"] == track].iloc[0]
        assert f"m, {track} track: " in headline and best["estimator"] in headline
    blocks = estimation_blocks(section)
    figure = next(b for b in blocks if type(b).__name__ == "Figure")
    assert figure.data.startswith(b"\x89PNG")
    captions = [b.caption for b in blocks if type(b).__name__ == "Table"]
    assert any("m, clean track" in c for c in captions)
    assert any("m, shifts track" in c for c in captions)


def _summary(best_ci, baseline_ci):
    return pd.DataFrame({
        "model": "m", "track": "shifts", "estimator": ["Q-mean q_x", "DoC-reg"],
        "kind": ["Q mean", "confidence"], "MAE": [0.05, 0.09],
        "MAE_ci_low": [best_ci[0], baseline_ci[0]], "MAE_ci_high": [best_ci[1], baseline_ci[1]],
    })  # fmt: skip


def test_a_best_estimator_is_named_only_when_its_interval_separates():
    class Result:  # only what the headline reads
        def __init__(self, summary):
            self.summary = summary

    apart = estimation_headline(EstimationSection(Result(_summary((0.03, 0.07), (0.08, 0.1)))))
    assert (
        "Q-mean q_x (MAE 0.050 [0.030, 0.070]) beats the best baseline from the literature" in apart
    )
    close = estimation_headline(EstimationSection(Result(_summary((0.03, 0.085), (0.08, 0.1)))))
    assert "beats" not in close and "not distinguishable at this size" in close


def test_a_run_without_clean_images_gets_a_reason_not_a_crash(run):
    _, table, manifest = run
    section = run_estimation(table[table["corruption"] != "none"], manifest)
    assert section.result is None and "clean rows" in section.reason
    assert "Not possible on this run" in estimation_blocks(section)[-1].text
    assert estimation_headline(section).startswith("Label-free accuracy estimation was not")


def test_the_report_renders_the_runners_estimation_and_runs_none_itself(run, monkeypatch):
    import iqalign.stats.estimation.accuracy as estimation

    calls = []
    original = estimation.estimate_accuracy

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(estimation, "estimate_accuracy", counted)
    path, _, _ = run
    # one process: a forked worker's call would be counted in its own copy
    report = write_run_report(path, dags=["baseline"], n_boot=20, workers=1,
                              out_dir=path / "counted")  # fmt: skip
    assert len(calls) == 1  # the runner's job; the report only renders it
    assert (report.analysis_dir / "estimation_summary.csv").is_file()
    assert "## Estimating accuracy without labels" in report.markdown.read_text()
