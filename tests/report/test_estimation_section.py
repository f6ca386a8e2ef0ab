"""The report's "Estimating accuracy without labels" section, and Tables 1-4 without the
accuracy-estimator columns."""

from __future__ import annotations

import json

import pytest

from iqalign.report.estimation_section import (
    estimation_blocks,
    estimation_headline,
    run_estimation,
)
from iqalign.report.run_report import write_run_report
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
    assert (report.html.parent / "figures" / "estimation_m.png").is_file()
    tables = text.split("paper Tables 1–4")[1].split("## ")[0]
    assert "msp_m" not in tables and "Label-free accuracy estimators" not in tables
    assert "tg_maxprob_m" in tables
    assert "accuracy_estimator" not in set(report.summary["family"])


def test_section_ranks_every_estimator_and_names_the_best(run):
    _, table, manifest = run
    section = run_estimation(table, manifest)
    summary = section.result.summary
    # msp is an ingredient of AC, not a Q: no Q-based estimator is built on it
    assert not summary["estimator"].str.contains("q_msp").any()
    assert {"AC", "DoC", "ATC-MC", "ATC-NE", "Q-mean q_sharp", "Q-dist q_sharp"} <= set(
        summary["estimator"]
    )
    best = summary.iloc[0]
    assert f"{best['estimator']} (Q from {best['Q from']}) MAE {best['MAE']:.3f}" in (
        estimation_headline(section)
    )
    figure = next(b for b in estimation_blocks(section) if type(b).__name__ == "Figure")
    assert figure.data.startswith(b"\x89PNG")


def test_a_run_without_clean_images_gets_a_reason_not_a_crash(run):
    _, table, manifest = run
    section = run_estimation(table[table["corruption"] != "none"], manifest)
    assert section.result is None and "clean rows" in section.reason
    assert "Not possible on this run" in estimation_blocks(section)[-1].text
    assert estimation_headline(section).startswith("Label-free accuracy estimation was not")
