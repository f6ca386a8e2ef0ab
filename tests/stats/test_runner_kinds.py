"""The runner's registry of kinds is its only dispatch; outcomes are typed; estimation is
one of its kinds."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

from iqalign import stats
from iqalign.errors import DegenerateDataError
from iqalign.stats.runner import kinds
from iqalign.stats.runner.analysis import AnalysisSettings, EstimationRequest, run_analysis
from iqalign.stats.runner.outcomes import Failure, Result

ONLY_TOY = AnalysisSettings(pooled=False, groups=False, stratified_by=())


@pytest.fixture(scope="module")
def table():
    return stats.simulate_scores("common_corruptions", n_ids=30, n_labels=5, seed=3)


def _toy_call(context: kinds.RunContext, job: kinds.Job) -> float:
    column = context.shared.frame[job.metric.column]
    if job.by == "refuse":
        raise DegenerateDataError("the toy refuses")
    return float(column.mean())


def _toy_kind() -> kinds.Kind:
    def plan(context, model, info, dag):
        return [kinds.Job("toy", model, info, by) for by in ("mean", "refuse")]

    def frames(job, value):
        return [("toy", pd.DataFrame({"by": [job.by], "mean_q": [value]}))]

    return kinds.Kind("toy", ("toy",), plan, _toy_call, frames, where=lambda j: f" {j.by}")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_registered_kind_is_planned_run_and_saved(table, tmp_path, monkeypatch, workers):
    monkeypatch.setitem(kinds.KINDS, "toy", _toy_kind())
    messages: list[str] = []
    result = run_analysis(table, settings=ONLY_TOY, workers=workers, progress=messages.append)
    assert result.toy["mean_q"].tolist() == pytest.approx([table["q_sim"].mean()])
    assert result.toy[["model", "metric", "by"]].values.tolist() == [["sim", "sim", "mean"]]
    failures = result.failures[["analysis", "by", "reason"]].values.tolist()
    assert failures == [["toy", "refuse", "the toy refuses"]]
    outcomes = [r.outcome for r in result.results]
    assert outcomes[0] == Result(pytest.approx(table["q_sim"].mean()))
    assert outcomes[1] == Failure("the toy refuses")
    if workers == 1:
        assert messages[0] == "[1/2] toy mean: q_sim vs correct_sim"
    out = result.save(tmp_path / "analysis")
    assert pd.read_csv(out / "toy.csv")["mean_q"].tolist() == pytest.approx([table["q_sim"].mean()])
    assert pd.read_csv(out / "failures.csv")["analysis"].tolist() == ["toy"]


def test_estimation_is_a_kind_whose_tables_are_saved_with_the_others(table, tmp_path):
    result = run_analysis(table, settings=ONLY_TOY, estimation=EstimationRequest(n_boot=10))
    assert isinstance(result.estimation, Result)
    assert result.estimation_summary.equals(result.estimation.value.summary)
    out = result.save(tmp_path / "analysis")
    summary = pd.read_csv(out / "estimation_summary.csv")
    assert list(summary.columns) == list(result.estimation.value.summary.columns)
    assert (out / "estimation_groups.csv").is_file()


def test_an_estimation_failure_is_a_row_of_failures(table, tmp_path):
    corrupted = table[table["corruption"] != "none"]
    result = run_analysis(corrupted, settings=ONLY_TOY, estimation=EstimationRequest())
    assert isinstance(result.estimation, Failure)
    out = result.save(tmp_path / "analysis")
    failures = pd.read_csv(out / "failures.csv", keep_default_na=False)
    row = failures[failures["analysis"] == "estimation"].iloc[0]
    assert "clean" in row["reason"] and row["model"] == "" and row["metric"] == ""
    assert not (out / "estimation_summary.csv").exists()


def test_without_a_request_nothing_is_estimated(table):
    assert run_analysis(table, settings=ONLY_TOY).estimation is None


def test_the_ci_test_cache_is_not_part_of_run_verdicts():
    from iqalign.stats.analyses.verdicts import run_verdicts
    from iqalign.stats.core import memo as _memo

    assert "run_test" not in inspect.signature(run_verdicts).parameters
    assert not hasattr(_memo, "share_in_this_process")  # the runner uses sharing()


def test_every_kind_the_runner_knows_is_in_the_registry():
    from iqalign.stats.runner.analysis import ANALYSES, TABLES

    assert tuple(kinds.KINDS) == ANALYSES
    assert kinds.table_names() == TABLES
    for kind in kinds.KINDS.values():
        assert set(kind.tables) <= set(TABLES) and kind.scope in ("pair", "dag", "run")
