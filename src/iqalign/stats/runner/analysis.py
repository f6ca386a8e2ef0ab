"""The analysis runner: plan -> jobs -> results tables, for one pair or a whole run.

``iqalign analyze`` (one Q and one M), ``iqalign report`` (every pair of a run) and the
notebooks all call :func:`run_analysis`. It works in three steps:

1. **plan** (:func:`plan_jobs`): every (task model, quality column) pair gets the
   analyses its :class:`AnalysisSettings` ask for -- the pooled test, the group
   correlations, stratified cross-validation per stratifier, conditional-independence
   tests per stratifier, the p_c mixtures -- and, for each DAG, the verdicts of its claims
   on the pairs the DAG models (``applies_to``: the metric family, and whether Q comes
   from M's own model). A job the table cannot support (a missing column, no corrupted
   rows for the group analysis) is planned with the reason it cannot run;
2. **jobs**: each job calls one public function of :mod:`iqalign.stats` with the same
   settings (``seed``, ``alpha``, ``n_boot``, ...). One failure policy: a job that raises
   an :class:`~iqalign.errors.IqalignError` (undefined on these data, refused for its
   size) is listed in ``failures`` with its reason; it never stops the others;
3. **results**: one table per kind of result, each row keyed by the pair (``model``,
   ``metric``, ``family``, ``higher_is_better``, ``q_model``, ``same_model``) and, for
   verdicts, the ``dag``. :meth:`AnalysisResult.save` writes them in the layout
   documented in ``docs/architecture.md``.

What pairs have in common is computed once per table (:class:`SharedTable`): the key
columns are coded once, so every analysis stratifies on integer codes; the numbers are
those of calling each function on its own, with the same seed.

Orientation is never flipped: ``higher_is_better`` travels with every row, the fitted
slope's sign is reported, and the AUC of a negative quality signal is below 0.5.

Examples
--------
>>> from iqalign.stats import simulate_scores
>>> table = simulate_scores("common_corruptions", n_ids=30, seed=0)
>>> result = run_analysis(table, settings=AnalysisSettings(n_boot=50))
>>> result.pooled[["model", "metric"]].values.tolist()
[['sim', 'sim']]
>>> result.failures[["analysis", "by"]].values.tolist()  # 30 labels with 76 rows each
[['stratified', 'label']]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from iqalign.errors import IqalignError, ParameterError, ScoresTableError
from iqalign.files import write_atomic
from iqalign.scores import CLEAN, MetricInfo, ScoredRun, performance_column
from iqalign.stats.runner.kinds import (
    KINDS,
    MARGINAL,
    NO_METRIC,
    EstimationRequest,
    Job,
    RunContext,
    table_names,
)
from iqalign.stats.runner.outcomes import Failure, JobResult, Outcome, Result

__all__ = [
    "ANALYSES",
    "MARGINAL",
    "TABLES",
    "AnalysisResult",
    "AnalysisSettings",
    "EstimationRequest",
    "Failure",
    "Job",
    "JobResult",
    "Outcome",
    "Result",
    "SharedTable",
    "plan_jobs",
    "run_analysis",
]

#: The built-in kinds and their tables (the registry, :data:`iqalign.stats.runner.kinds.KINDS`,
#: is what the runner reads; these name what it holds out of the box).
ANALYSES: tuple[str, ...] = tuple(KINDS)
TABLES: tuple[str, ...] = table_names()
#: Key columns coded once per table (strings hashed once, not once per analysis).
CODED_COLUMNS: tuple[str, ...] = ("image_id", "label", "corruption")
Progress = Callable[[str], None]
FAILURE_COLUMNS: tuple[str, ...] = ("analysis", "by", "dag", "reason")


@dataclass(frozen=True)
class AnalysisSettings:
    """Every knob of a run of analyses; each one reaches every analysis that has it.

    ``stratified_by`` and ``ci_by`` list stratifier specs (``"corruption,severity"``
    combines columns; ``""`` in ``ci_by`` is the marginal test). ``nonfinite="drop"`` on
    purpose: a whole run reports the rows it dropped rather than stop at one NaN; the
    library functions and ``iqalign analyze`` raise unless told to drop.
    """

    n_boot: int = 1000
    seed: int = 0
    alpha: float = 0.05
    penalty: str = "l2"
    C: float = 1.0
    folds: int = 5
    test: str = "score"
    margin: float | None = None
    nonfinite: Literal["raise", "drop"] = "drop"
    pooled: bool = True
    groups: bool = True
    stratified_by: tuple[str, ...] = ("image_id", "label")
    ci_by: tuple[str, ...] = ()
    mixtures: bool = False
    mixture_boot: int = 200
    per_stratum: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnalysisResult:
    """Every table of the analysis, by name (``result.pooled`` is
    ``result.tables["pooled"]``: one row per pair, per pair and stratifier, or per pair
    and DAG claim); ``results`` keeps each job's :class:`JobResult` (its value for
    printing, or its failure)."""

    tables: dict[str, pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)
    results: list[JobResult] = field(default_factory=list)
    files: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"{type(self).__name__!r} has no table or attribute {name!r}")

    @property
    def per_stratum(self) -> dict[str, pd.DataFrame]:
        """The per-stratum tables (``--per-stratum``), by ``<model>_<metric>_<by>``."""
        prefix = "per_stratum_"
        return {k.removeprefix(prefix): f for k, f in self.files.items() if k.startswith(prefix)}

    @property
    def estimation(self) -> Outcome | None:
        """The label-free estimation's outcome (``None``: it was not asked for)."""
        return next((r.outcome for r in self.results if r.job.analysis == "estimation"), None)

    def succeeded(self) -> list[JobResult]:
        """The jobs that gave a value."""
        return [r for r in self.results if r.ok]

    def save(self, out_dir: str | Path) -> Path:
        """Write each table that has rows as ``<name>.csv`` (``failures.csv`` always), each
        job's own files (``per_stratum_<model>_<metric>_<by>.csv`` when asked for), and
        ``analysis.json`` (settings, row counts, time)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frames = {k: f for k, f in self.tables.items() if k == "failures" or not f.empty}
        frames.update(self.files)
        for name, frame in frames.items():
            write_atomic(out / f"{name}.csv", partial(_frame_to_csv, frame))
        rows = {name: len(frame) for name, frame in self.tables.items()}
        info = {**self.settings, "rows": rows}
        text = json.dumps(info, indent=2, default=str)
        write_atomic(out / "analysis.json", lambda path: path.write_text(text, encoding="utf-8"))
        return out


def _frame_to_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


class SharedTable:
    """A scores table validated and coded once for every job of a run.

    Key columns (``image_id``, ``label``, ``corruption``) become categoricals (on a
    shallow copy: the caller's table is untouched), so each analysis's stratum coding
    reads integer codes instead of hashing millions of strings. ``pd.factorize`` gives a
    categorical the codes its values would get (order of appearance, or sorted), so the
    splits, folds and resamples -- and every number -- are those of the plain table.
    """

    def __init__(
        self, table: pd.DataFrame, metrics: Mapping[str, MetricInfo], models: Sequence[str]
    ) -> None:
        self.table = table  # as the caller gave it (estimation codes its own columns)
        self.frame = _coded(table)
        self.metrics = dict(metrics)
        self.models = list(models)
        self.columns = set(map(str, self.frame.columns))
        corruption = self.frame["corruption"] if "corruption" in self.columns else None
        self.has_corrupted = corruption is not None and bool((corruption != CLEAN).any())
        self.has_clean = corruption is not None and bool((corruption == CLEAN).any())
        self._ci_tests: dict[tuple, Any] = {}
        self.ci_test_hits = 0

    def remembered_ci_test(
        self, frame: pd.DataFrame, q: str, m: str, by: Sequence[str], **options: Any
    ) -> Any:
        """:func:`~iqalign.stats.ci_test` on this table, run once per distinct request:
        DAGs that plan the same claim for a pair (given ``label``, given ``image_id``, ...)
        share its result, or its error."""
        from iqalign.stats.analyses.citests import ci_test

        key = (q, m, tuple(by), tuple(sorted(options.items())))
        if key not in self._ci_tests:
            try:
                self._ci_tests[key] = ci_test(frame, q, m, by, **options)
            except IqalignError as err:
                # kept without its traceback: the frames would keep the test's arrays
                # (hundreds of MB at 3.8M rows) alive for the rest of the run
                self._ci_tests[key] = err.with_traceback(None)
                err.__context__ = err.__cause__ = None
        else:
            self.ci_test_hits += 1
        outcome = self._ci_tests[key]
        if isinstance(outcome, IqalignError):
            raise outcome
        return outcome

    def forget_ci_tests(self) -> None:
        """Drop the remembered CI tests (each names its Q column: the runner calls this
        when a column's jobs are done)."""
        self._ci_tests.clear()


def _coded(table: pd.DataFrame) -> pd.DataFrame:
    frame = table.copy(deep=False)
    for name in CODED_COLUMNS:
        if name in frame and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            if frame[name].isna().any():
                continue  # left as it is: the analysis that stratifies on it says why
            frame[name] = pd.Categorical(frame[name])
    return frame


def run_analysis(
    table: ScoredRun | pd.DataFrame,
    metrics: Mapping[str, MetricInfo] | None = None,
    *,
    models: Sequence[str] | None = None,
    dags: Iterable[Any] = (),
    settings: AnalysisSettings | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    estimation: EstimationRequest | None = None,
) -> AnalysisResult:
    """Run every planned analysis on every (model, metric) pair and every DAG's claims.

    The numbers do not depend on ``workers``.

    Parameters
    ----------
    table
        A :class:`~iqalign.scores.ScoredRun` or a scores table.
    metrics
        The quality columns' records, keyed by column; ``None``: the run's (a DataFrame's:
        every ``q_*`` column, family unknown, so a DAG that names families raises).
    models
        The model slugs to analyse; ``None``: every ``correct_*`` column.
    dags
        The DAGs (names, paths or loaded) whose claims get verdicts.
    settings
        The analyses' settings; ``None``: :class:`AnalysisSettings` defaults.
    progress
        Told about each finished job; ``None`` reports nothing.
    workers
        Processes that share the quality columns; ``None``: one per usable CPU core.
    estimation
        Label-free accuracy estimation as one more job (tables ``estimation_summary``,
        ``estimation_groups``; a failure: a row of ``failures``); ``None``: none.

    Returns
    -------
    AnalysisResult
        Every table and the failures, one row per failed job with its reason.
    """
    from iqalign.stats.runner.workers import Work, run_batches

    started = time.perf_counter()
    settings = settings or AnalysisSettings()
    dags = _load_dags(dags)
    table, metrics, models = _pairs_of(table, metrics, models, dags)
    _check_pairs(table, metrics, models)
    shared = SharedTable(table, metrics, models)
    context = RunContext(shared, settings, dags, estimation)
    jobs = plan_jobs(shared, dags, settings, estimation=estimation)
    batches = _column_batches(jobs)
    n_workers = _worker_count(workers, len(batches))
    done, ci_hits = run_batches(Work(context, jobs), batches, n_workers, progress)
    results = [done[index] for index in range(len(jobs))]
    run_info = _run_info(models, metrics, dags, results, n_workers, ci_hits, started)
    return _collect(results, {**settings.to_dict(), **run_info})


def _run_info(
    models: list[str], metrics: Mapping[str, MetricInfo], dags: list[Any],
    results: list[JobResult], n_workers: int, ci_hits: int, started: float,
) -> dict[str, Any]:  # fmt: skip
    """What the run did, for the settings record: pairs, jobs, workers, seconds."""
    seconds: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    for result in results:
        seconds[result.job.analysis] += result.seconds
    return {
        "models": models,
        "metrics": list(metrics),
        "dags": [dag.name for dag in dags],
        # the (model, metric) pairs' and DAGs' jobs; a run-level job (estimation) shows
        # in seconds_by_analysis only, so a report's settings line reads as it did
        "jobs": sum(KINDS[r.job.analysis].scope != "run" for r in results),
        "workers": n_workers,
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_by_analysis": {k: round(v, 2) for k, v in seconds.items() if v},
        "ci_tests_shared": ci_hits,
    }


def _column_batches(jobs: Sequence[Job]) -> list[list[int]]:
    """Job indices grouped by quality column: one column's jobs (every task model, every
    DAG) run in one process, which computes the column's ranks once for all of them (a
    job of the whole run, with no column, is a batch of its own)."""
    batches: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        batches.setdefault(job.metric.column, []).append(index)
    return list(batches.values())


def _worker_count(workers: int | None, n_batches: int) -> int:
    if workers is not None and workers < 1:
        raise ParameterError(f"workers must be at least 1, got {workers!r}")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if not sys.platform.startswith("linux"):
        # the workers inherit the table by fork, which only Linux makes safe for numpy's
        # and the system's libraries (macOS: Accelerate); elsewhere everything runs here
        return 1
    return max(1, min(workers, n_batches))


def _check_pairs(
    table: pd.DataFrame, metrics: Mapping[str, MetricInfo], models: Sequence[str]
) -> None:
    if len(table) == 0:
        raise ScoresTableError("the scores table is empty (0 rows); nothing to analyse")
    if not models or not metrics:
        raise ScoresTableError(
            f"the scores table has {len(models)} performance (correct_<model>) and "
            f"{len(metrics)} quality (q_<metric>) columns; an analysis needs at least one "
            "of each"
        )
    missing = [c for c in [*metrics, *map(performance_column, models)] if c not in table]
    if missing:
        from iqalign.stats.core.table import resolve_column

        resolve_column(table, missing[0])  # raises with the close names


def _pairs_of(
    table: ScoredRun | pd.DataFrame,
    metrics: Mapping[str, MetricInfo] | None,
    models: Sequence[str] | None,
    dags: Sequence[Any],
) -> tuple[pd.DataFrame, dict[str, MetricInfo], list[str]]:
    """The table, metric records and task models to pair (the run's, unless given)."""
    run = table if isinstance(table, ScoredRun) else ScoredRun.from_table(table)
    picky = [dag.name for dag in dags if dag.applies_to.families]
    if metrics is None and not isinstance(table, ScoredRun) and picky:
        # without records every family is "unknown": these DAGs would plan no verdict
        raise ParameterError(
            f"DAG(s) {picky} apply to named metric families, but no metric records were "
            "given, so none of their claims would be tested; pass the run's records: "
            "run_analysis(iqalign.read_run(RUN_DIR), dags=...) or metrics=run.metrics"
        )
    metrics = dict(metrics) if metrics is not None else dict(run.metrics)
    return run.table, metrics, list(models) if models is not None else run.model_slugs


def _load_dags(dags: Iterable[Any]) -> list[Any]:
    from iqalign.causal import load_dag

    return [load_dag(dag) if isinstance(dag, str | Path) else dag for dag in dags]


def plan_jobs(
    shared: SharedTable,
    dags: Sequence[Any],
    settings: AnalysisSettings,
    *,
    estimation: EstimationRequest | None = None,
) -> list[Job]:
    """Every job of the run: pair by pair (each pair kind of the registry in turn), then
    DAG by DAG and pair by pair, then the jobs of the whole run (see the module docs)."""
    context = RunContext(shared, settings, dags, estimation)
    pairs = [(model, info) for model in shared.models for info in shared.metrics.values()]
    kinds = list(KINDS.values())
    jobs: list[Job] = []
    for model, info in pairs:
        for kind in (k for k in kinds if k.scope == "pair"):
            jobs += kind.plan(context, model, info, None)
    for dag in dags:
        for model, info in pairs:
            for kind in (k for k in kinds if k.scope == "dag"):
                jobs += kind.plan(context, model, info, dag)
    for kind in (k for k in kinds if k.scope == "run"):
        jobs += kind.plan(context, "", NO_METRIC, None)
    return jobs


def pair_key(model: str, info: MetricInfo) -> dict[str, Any]:
    """The columns that name a pair in every table."""
    return {
        "model": model,
        "metric": info.name,
        "family": info.family,
        "higher_is_better": info.higher_is_better,
        "q_model": info.source_model or "",
        "same_model": info.is_from_model(model),
    }


def _collect(results: list[JobResult], settings: dict[str, Any]) -> AnalysisResult:
    """One table per name of the registry's kinds (and ``failures``), in job order."""
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in table_names()}
    files: dict[str, pd.DataFrame] = {}
    for done in results:
        job, outcome = done.job, done.outcome
        key = pair_key(job.model, job.metric)
        if isinstance(outcome, Failure):
            values = (job.analysis, job.by, job.dag, outcome.reason)
            row = {**key, **dict(zip(FAILURE_COLUMNS, values, strict=True))}
            parts["failures"].append(pd.DataFrame([row]))
            continue
        kind = KINDS[job.analysis]
        row_key = {} if kind.scope == "run" else ({"dag": job.dag, **key} if job.dag else key)
        for name, frame in kind.frames(job, outcome.value):
            parts[name].append(_with_key(frame, row_key) if row_key else frame)
        if kind.files:
            files.update(kind.files(job, outcome.value))
    tables = {name: _concat(frames) for name, frames in parts.items()}
    if tables["failures"].empty:
        tables["failures"] = pd.DataFrame(columns=[*pair_key("", NO_METRIC), *FAILURE_COLUMNS])
    for kind in KINDS.values():
        for name, finish in kind.finish.items():
            tables[name] = finish(tables[name])
    return AnalysisResult(tables, settings=settings, results=results, files=files)


def _with_key(frame: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for position, (name, value) in enumerate(key.items()):
        if name in frame.columns:
            frame = frame.drop(columns=[name])
        frame.insert(position, name, value)
    return frame


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
