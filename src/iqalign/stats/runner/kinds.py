"""The registry of analysis kinds: the one place the runner learns what a kind does.

A :class:`Kind` says everything the runner needs about one kind of analysis: its name,
the tables it writes, how it plans its jobs (per pair, per DAG and pair, or once per
run), the call that computes a job, and how a result becomes rows of its tables. The
planner, the workers, the progress messages and the result tables all read
:data:`KINDS`; adding a kind is one :func:`register` call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from iqalign.errors import DegenerateDataError, IqalignError
from iqalign.scores import CLEAN, MetricInfo, performance_column

if TYPE_CHECKING:
    from iqalign.stats.runner.analysis import AnalysisSettings, SharedTable

__all__ = [
    "KINDS",
    "MARGINAL",
    "NO_METRIC",
    "EstimationRequest",
    "Job",
    "Kind",
    "RunContext",
    "register",
    "table_names",
]

#: The ``by`` of a test given nothing (marginal independence): a value a CSV reads back.
MARGINAL = "(marginal)"
GROUP_COLUMNS: tuple[str, ...] = ("corruption", "severity")
UNIT = "image_id"
#: The "pair" of a job that concerns the whole run (estimation): no model, no metric.
NO_METRIC = MetricInfo("", "", "", None, None)
Scope = Literal["pair", "dag", "run"]


@dataclass(frozen=True)
class Job:
    """One analysis of one pair: ``reason`` is set when it cannot run on this table."""

    analysis: str
    model: str
    metric: MetricInfo
    by: str = ""
    dag: str = ""
    reason: str | None = None

    @property
    def description(self) -> str:
        kind = KINDS[self.analysis]
        where = kind.where(self) if kind.where else ""
        if kind.scope == "run":
            return f"{self.analysis}{where}"
        return f"{self.analysis}{where}: {self.metric.column} vs {performance_column(self.model)}"


@dataclass(frozen=True)
class EstimationRequest:
    """Ask the runner for label-free accuracy estimation (leave one corruption out) on
    the run: ``manifest`` gives the metric and model records, ``run_dir`` the saved
    log-probabilities (if any)."""

    manifest: Mapping[str, Any] | None = None
    run_dir: Path | None = None
    n_boot: int = 200
    protocol: str = "loco"


@dataclass(frozen=True)
class RunContext:
    """What every job of a run reads (the runner builds it; workers inherit it by fork)."""

    shared: SharedTable
    settings: AnalysisSettings
    dags: Sequence[Any] = ()
    estimation: EstimationRequest | None = None

    def dag(self, name: str) -> Any:
        return next(d for d in self.dags if d.name == name)


Plan = Callable[[RunContext, str, MetricInfo, Any], list[Job]]
Frames = Callable[[Job, Any], list[tuple[str, pd.DataFrame]]]


@dataclass(frozen=True)
class Kind:
    """One kind of analysis.

    ``plan(context, model, metric, dag)`` gives its jobs: called per pair (``scope``
    ``"pair"``), per DAG and pair (``"dag"``, after every pair's jobs) or once with no
    pair (``"run"``, last). ``call(context, job)`` computes a job (an
    :class:`~iqalign.errors.IqalignError` becomes a failure); ``frames(job, value)``
    gives ``(table, rows)`` for each of ``tables``. Rows of a pair or DAG kind get the
    pair's key columns. ``finish`` post-processes a whole table (``{table: function}``);
    ``files`` gives a job's separate files (``{file stem: rows}``); ``where`` the words
    after the kind's name in progress messages.
    """

    name: str
    tables: tuple[str, ...]
    plan: Plan
    call: Callable[[RunContext, Job], Any]
    frames: Frames
    scope: Scope = "pair"
    where: Callable[[Job], str] | None = None
    finish: Mapping[str, Callable[[pd.DataFrame], pd.DataFrame]] = field(default_factory=dict)
    files: Callable[[Job, Any], dict[str, pd.DataFrame]] | None = None


#: Every kind, in the order its tables are written and its jobs are planned.
KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind; the runner plans, runs and saves it from then on."""
    KINDS[kind.name] = kind
    return kind


def table_names() -> tuple[str, ...]:
    """Every table of the registered kinds, then ``failures``."""
    names = [table for kind in KINDS.values() for table in kind.tables]
    return (*dict.fromkeys(names), "failures")


# -- planning: the reason a job cannot run on this table, or None ----------------------


def _missing(shared: SharedTable, columns: Sequence[str]) -> str | None:
    absent = [c for c in columns if c not in shared.columns]
    if not absent:
        return None
    return f"the scores table has no column {', '.join(map(repr, absent))}"


def _groups_reason(shared: SharedTable) -> str | None:
    reason = _missing(shared, [*GROUP_COLUMNS, UNIT])
    if reason is None and not shared.has_corrupted:
        reason = (
            f"the table has only clean rows (corruption == {CLEAN!r}); the group analysis "
            "compares (corruption, severity) groups: score with corruptions "
            "(iqalign score --corruptions all)"
        )
    return reason


def _mixture_reason(shared: SharedTable) -> str | None:
    reason = _missing(shared, ["corruption", "severity", UNIT])
    if reason is None and not (shared.has_clean and shared.has_corrupted):
        reason = "the p_c mixtures need both clean and corrupted rows of the same image IDs"
    return reason


def _plan_pooled(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    if not ctx.settings.pooled:
        return []
    return [Job("pooled", model, info, reason=_missing(ctx.shared, [UNIT]))]


def _plan_groups(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    if not ctx.settings.groups:
        return []
    return [Job("groups", model, info, reason=_groups_reason(ctx.shared))]


def _plan_stratified(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    from iqalign.stats.analyses.stratified import parse_by

    return [
        Job("stratified", model, info, by, reason=_missing(ctx.shared, parse_by(by)))
        for by in ctx.settings.stratified_by
    ]


def _plan_citest(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    from iqalign.stats.analyses.stratified import parse_by

    return [
        Job("citest", model, info, by or MARGINAL, reason=_missing(ctx.shared, parse_by(by)))
        for by in ctx.settings.ci_by
    ]


def _plan_verdicts(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    if not dag.applies_to.accepts(info.family, info.source_model, model):
        return []
    return [Job("verdicts", model, info, dag=dag.name)]


def _plan_mixtures(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    if not ctx.settings.mixtures:
        return []
    return [Job("mixtures", model, info, reason=_mixture_reason(ctx.shared))]


def _plan_estimation(ctx: RunContext, model: str, info: MetricInfo, dag: Any) -> list[Job]:
    return [] if ctx.estimation is None else [Job("estimation", "", NO_METRIC)]


# -- calls: each job calls one public function with the run's settings -----------------


def _call_pooled(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.predictability import predictability

    s = ctx.settings
    return predictability(
        ctx.shared.frame, job.metric.column, performance_column(job.model), penalty=s.penalty,
        C=s.C, n_boot=s.n_boot, alpha=s.alpha, seed=s.seed, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_groups(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.groups import group_correlations

    s = ctx.settings
    return group_correlations(
        ctx.shared.frame, job.metric.column, performance_column(job.model), n_boot=s.n_boot,
        alpha=s.alpha, seed=s.seed, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_stratified(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.stratified import stratified_cv

    s = ctx.settings
    return stratified_cv(
        ctx.shared.frame, job.metric.column, performance_column(job.model), job.by,
        n_folds=s.folds, penalty=s.penalty, C=s.C, per_stratum=s.per_stratum, seed=s.seed,
        nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_citest(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.citests import ci_test

    s = ctx.settings
    by = "" if job.by == MARGINAL else job.by
    return ci_test(
        ctx.shared.frame, job.metric.column, performance_column(job.model), by, test=s.test,
        alpha=s.alpha, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_verdicts(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.verdicts import run_verdicts_with

    s = ctx.settings
    return run_verdicts_with(
        ctx.dag(job.dag), ctx.shared.frame, job.metric.column, performance_column(job.model),
        test=s.test, alpha=s.alpha, margin=s.margin, run_test=ctx.shared.remembered_ci_test,
    )  # fmt: skip


def _call_mixtures(ctx: RunContext, job: Job) -> Any:
    from iqalign.stats.analyses.mixtures import mixture_predictability

    s = ctx.settings
    return mixture_predictability(
        ctx.shared.frame, job.metric.column, performance_column(job.model), penalty=s.penalty,
        C=s.C, n_boot=min(s.n_boot, s.mixture_boot), seed=s.seed,
    )  # fmt: skip


def _call_estimation(ctx: RunContext, job: Job) -> Any:
    from iqalign.scores import ScoredRun
    from iqalign.stats.estimation.accuracy import estimate_accuracy

    request = ctx.estimation
    assert request is not None  # planned only when asked for
    # the caller's table (estimation codes its own columns) with the manifest's records;
    # the saved log-probabilities are read from run_dir, if given
    run = ScoredRun.from_table(ctx.shared.table, request.manifest, request.run_dir)
    try:
        result = estimate_accuracy(
            run, protocol=request.protocol, n_boot=request.n_boot, seed=ctx.settings.seed
        )
    except ValueError as err:
        if isinstance(err, IqalignError):
            raise
        # a protocol the data cannot support (numpy/pandas say so with a ValueError) is a
        # failure of this job like any other, never a failed report
        raise DegenerateDataError(str(err)) from None
    if result.summary.empty:
        raise DegenerateDataError("no estimator could be fitted: " + "; ".join(result.notes))
    return result


# -- frames: a result as rows of its tables --------------------------------------------


def _format_skipped(skipped: Any) -> str:
    if not isinstance(skipped, dict):
        return str(skipped)
    parts = [f"{reason} {count}" for reason, count in skipped.items() if count]
    return ", ".join(parts) or "none"


def _stratified_frames(job: Job, result: Any) -> list[tuple[str, pd.DataFrame]]:
    frame = result.to_frame().drop(columns=["per_stratum"], errors="ignore")
    frame["skipped"] = frame["skipped"].map(_format_skipped)
    return [("stratified", frame)]


def _per_stratum_files(job: Job, result: Any) -> dict[str, pd.DataFrame]:
    if getattr(result, "per_stratum", None) is None:
        return {}
    return {
        f"per_stratum_{job.model}_{job.metric.name}_{job.by.replace(',', '_')}": result.per_stratum
    }


def _citest_frames(job: Job, result: Any) -> list[tuple[str, pd.DataFrame]]:
    frame = result.to_frame()
    frame["by"] = job.by  # MARGINAL rather than an empty cell
    return [("citests", frame)]


def _holm_per_pair(citests: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjust the CI tests of each pair together (the family of one analysis)."""
    if citests.empty:
        return citests
    from iqalign.stats.analyses.citests import holm_adjust

    citests = citests.copy()
    citests["p_holm"] = float("nan")
    for _, index in citests.groupby(["model", "metric"], sort=False).groups.items():
        citests.loc[index, "p_holm"] = holm_adjust(citests.loc[index, "p_value"].to_numpy())
    return citests


def _register_builtins() -> None:
    for kind in (
        Kind("pooled", ("pooled",), _plan_pooled, _call_pooled,
             lambda job, r: [("pooled", r.to_frame())]),
        Kind("groups", ("correlations", "groups"), _plan_groups, _call_groups,
             lambda job, r: [("correlations", r.correlations), ("groups", r.groups)]),
        Kind("stratified", ("stratified",), _plan_stratified, _call_stratified,
             _stratified_frames, where=lambda job: f" within {job.by}", files=_per_stratum_files),
        Kind("citest", ("citests",), _plan_citest, _call_citest, _citest_frames,
             where=lambda job: f" given {job.by}", finish={"citests": _holm_per_pair}),
        Kind("verdicts", ("verdicts",), _plan_verdicts, _call_verdicts,
             lambda job, r: [("verdicts", r.rows)], scope="dag",
             where=lambda job: f" of {job.dag}"),
        Kind("mixtures", ("mixtures",), _plan_mixtures, _call_mixtures,
             lambda job, r: [("mixtures", r.variants)]),
        # last: its tables come after the analyses' (the file names of iqalign estimate)
        Kind("estimation", ("estimation_summary", "estimation_groups"), _plan_estimation,
             _call_estimation, lambda job, r: [("estimation_summary", r.summary),
                                               ("estimation_groups", r.groups)],
             scope="run", where=lambda job: ": accuracy without labels"),
    ):  # fmt: skip
        register(kind)


_register_builtins()
