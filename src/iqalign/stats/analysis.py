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

import itertools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iqalign.errors import IqalignError, ParameterError, ScoresTableError
from iqalign.files import write_atomic
from iqalign.scores import CLEAN, MetricInfo, ScoredRun, performance_column
from iqalign.stats._memo import forget_transient, share_in_this_process, sharing

__all__ = [
    "ANALYSES",
    "MARGINAL",
    "TABLES",
    "AnalysisResult",
    "AnalysisSettings",
    "Job",
    "SharedTable",
    "plan_jobs",
    "run_analysis",
]

ANALYSES: tuple[str, ...] = ("pooled", "groups", "stratified", "citest", "verdicts", "mixtures")
TABLES: tuple[str, ...] = (
    "pooled",
    "correlations",
    "groups",
    "stratified",
    "citests",
    "verdicts",
    "mixtures",
    "failures",
)
#: The ``by`` of a test given nothing (marginal independence): a value a CSV reads back.
MARGINAL = "(marginal)"
GROUP_COLUMNS: tuple[str, ...] = ("corruption", "severity")
UNIT = "image_id"
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
    nonfinite: str = "drop"
    pooled: bool = True
    groups: bool = True
    stratified_by: tuple[str, ...] = ("image_id", "label")
    ci_by: tuple[str, ...] = ()
    mixtures: bool = False
    mixture_boot: int = 200
    per_stratum: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        where = {
            "stratified": f" within {self.by}",
            "citest": f" given {self.by}",
            "verdicts": f" of {self.dag}",
        }.get(self.analysis, "")
        return f"{self.analysis}{where}: {self.metric.column} vs {performance_column(self.model)}"


@dataclass
class AnalysisResult:
    """Every table of the analysis (one row per pair, per pair and stratifier, or per pair
    and DAG claim); ``results`` keeps each job's result object for printing."""

    pooled: pd.DataFrame
    correlations: pd.DataFrame
    groups: pd.DataFrame
    stratified: pd.DataFrame
    citests: pd.DataFrame
    verdicts: pd.DataFrame
    mixtures: pd.DataFrame
    failures: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    results: list[tuple[Job, Any]] = field(default_factory=list)
    per_stratum: dict[str, pd.DataFrame] = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> Path:
        """Write each table that has rows as ``<name>.csv`` (``failures.csv`` always),
        ``per_stratum_<model>_<metric>_<by>.csv`` when asked for, and ``analysis.json``
        (settings, row counts, time)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frames = {name: getattr(self, name) for name in TABLES}
        frames = {k: f for k, f in frames.items() if k == "failures" or not f.empty}
        frames.update({f"per_stratum_{key}": frame for key, frame in self.per_stratum.items()})
        for name, frame in frames.items():
            write_atomic(out / f"{name}.csv", lambda path, f=frame: f.to_csv(path, index=False))
        rows = {name: len(getattr(self, name)) for name in TABLES}
        info = {**self.settings, "rows": rows}
        text = json.dumps(info, indent=2, default=str)
        write_atomic(out / "analysis.json", lambda path: path.write_text(text, encoding="utf-8"))
        return out


class SharedTable:
    """A scores table validated and coded once for every job of a run.

    Key columns (``image_id``, ``label``, ``corruption``) become categoricals (on a
    shallow copy: the caller's table is untouched), so each analysis's stratum coding
    reads integer codes instead of hashing millions of strings. ``pd.factorize`` gives a
    categorical the codes its values would get (order of appearance, or sorted), so the
    splits, folds and resamples -- and every number -- are those of the plain table.
    """

    def __init__(self, table: pd.DataFrame, metrics: Mapping[str, MetricInfo], models):
        self.frame = _coded(table)
        self.metrics = dict(metrics)
        self.models = list(models)
        self.columns = set(map(str, self.frame.columns))
        corruption = self.frame["corruption"] if "corruption" in self.columns else None
        self.has_corrupted = corruption is not None and bool((corruption != CLEAN).any())
        self.has_clean = corruption is not None and bool((corruption == CLEAN).any())
        self._ci_tests: dict[tuple, Any] = {}
        self.ci_test_hits = 0

    def remembered_ci_test(self, frame, q: str, m: str, by, **options: Any) -> Any:
        """:func:`~iqalign.stats.ci_test` on this table, run once per distinct request:
        DAGs that plan the same claim for a pair (given ``label``, given ``image_id``, ...)
        share its result, or its error."""
        from iqalign.stats.citests import ci_test

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
) -> AnalysisResult:
    """Run every planned analysis on every (model, metric) pair and every DAG's claims.

    ``table``: a :class:`~iqalign.scores.ScoredRun` (``metrics`` and ``models`` default
    to its records) or a DataFrame (``metrics`` default to every ``q_*`` column, family
    ``"unknown"``: a DAG that names families then raises, as it would test nothing);
    ``models`` defaults to every ``correct_*`` column, ``dags`` are names, paths or
    loaded DAGs. ``workers`` processes share the quality columns (default: one per CPU
    core this process may use; 1 runs everything here). The numbers do not depend on
    ``workers``.
    """
    started = time.perf_counter()
    settings = settings or AnalysisSettings()
    dags = _load_dags(dags)
    table, metrics, models = _pairs_of(table, metrics, models, dags)
    _check_pairs(table, metrics, models)
    shared = SharedTable(table, metrics, models)
    jobs = plan_jobs(shared, dags, settings)
    batches = _column_batches(jobs)
    n_workers = _worker_count(workers, len(batches))
    done, ci_hits = _run_batches(shared, jobs, batches, settings, dags, n_workers, progress)
    outcomes = []
    seconds: dict[str, float] = dict.fromkeys(ANALYSES, 0.0)
    for index, job in enumerate(jobs):
        outcome, spent = done[index]
        outcomes.append(outcome)
        seconds[job.analysis] += spent
    run_info = {
        "models": models,
        "metrics": list(metrics),
        "dags": [dag.name for dag in dags],
        "jobs": len(jobs),
        "workers": n_workers,
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_by_analysis": {k: round(v, 2) for k, v in seconds.items() if v},
        "ci_tests_shared": ci_hits,
    }
    return _collect(jobs, outcomes, {**settings.to_dict(), **run_info})


def _column_batches(jobs: Sequence[Job]) -> list[list[int]]:
    """Job indices grouped by quality column: one column's jobs (every task model, every
    DAG) run in one process, which computes the column's ranks once for all of them."""
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


# What forked workers inherit: the table and the plan (never pickled, never copied).
_WORK: dict[str, Any] = {}


def _run_batches(shared, jobs, batches, settings, dags, n_workers, progress):
    """``{job index: (outcome, seconds)}`` for every job, batch by batch, and how many
    CI tests were shared between DAGs."""
    _WORK.update(shared=shared, jobs=jobs, settings=settings, dags=dags)
    done: dict[int, tuple[Any, float]] = {}
    hits = 0
    try:
        if n_workers == 1:
            from threadpoolctl import threadpool_limits

            started = itertools.count(1)

            def job_progress(job: Job) -> None:  # in this process: progress job by job
                if progress and job.reason is None:
                    progress(f"[{next(started)}/{len(jobs)}] {job.description}")

            with sharing(), threadpool_limits(1):  # as in a worker: the same numbers
                for batch in batches:
                    outcomes, batch_hits = _run_batch(batch, job_progress)
                    done.update(outcomes)
                    hits += batch_hits
            return done, hits
        from iqalign.stats._kernels import warm_up

        warm_up()  # compiled once here; the workers inherit them
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(n_workers, context, initializer=_start_worker) as pool:
            futures = {pool.submit(_run_batch, batch): batch for batch in batches}
            for number, future in enumerate(as_completed(futures), start=1):
                outcomes, batch_hits = future.result()  # a bug in a job raises here
                done.update(outcomes)
                hits += batch_hits
                batch = futures[future]
                _report(progress, number, len(batches), jobs[batch[0]], len(batch))
        return done, hits
    finally:
        _WORK.clear()


def _report(progress, number: int, total: int, job: Job, size: int) -> None:
    if progress:
        progress(f"[{number}/{total} columns] {job.metric.column}: {size} analyses done")


def _start_worker() -> None:
    from threadpoolctl import threadpool_limits

    # One BLAS thread per worker: the workers already use every core, and a matrix
    # product's rounding depends on the thread count (1e-12): with one thread everywhere
    # the numbers are the same for any number of workers, on any machine.
    threadpool_limits(1)
    share_in_this_process()


def _run_batch(
    batch: Sequence[int], starting: Callable[[Job], None] | None = None
) -> tuple[dict[int, tuple[Any, float]], int]:
    """Run one quality column's jobs in order; what only this column needed is then
    forgotten (its ranks), what every column shares (folds, splits, resamples) is kept."""
    shared, jobs, settings, dags = (_WORK[k] for k in ("shared", "jobs", "settings", "dags"))
    hits_before = shared.ci_test_hits
    out = {}
    for index in batch:
        if starting:
            starting(jobs[index])
        job_started = time.perf_counter()
        outcome = _run_job(shared, jobs[index], settings, dags)
        out[index] = (outcome, time.perf_counter() - job_started)
    forget_transient()
    shared.forget_ci_tests()
    return out, shared.ci_test_hits - hits_before


def _check_pairs(table: pd.DataFrame, metrics: Mapping[str, MetricInfo], models) -> None:
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
        from iqalign.stats.table import resolve_column

        resolve_column(table, missing[0])  # raises with the close names


def _pairs_of(
    table: ScoredRun | pd.DataFrame, metrics, models, dags: Sequence[Any]
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


def plan_jobs(shared: SharedTable, dags: Sequence[Any], settings: AnalysisSettings) -> list[Job]:
    """Every job of the run, pair by pair, then DAG by DAG (see the module docs)."""
    jobs: list[Job] = []
    for model in shared.models:
        for info in shared.metrics.values():
            jobs += _pair_jobs(shared, model, info, settings)
    for dag in dags:
        for model in shared.models:
            for info in shared.metrics.values():
                if dag.applies_to.accepts(info.family, info.source_model, model):
                    jobs.append(Job("verdicts", model, info, dag=dag.name))
    return jobs


def _pair_jobs(shared, model: str, info: MetricInfo, settings: AnalysisSettings) -> list[Job]:
    from iqalign.stats.stratified import parse_by

    jobs = []
    if settings.pooled:
        jobs.append(Job("pooled", model, info, reason=_missing(shared, [UNIT])))
    if settings.groups:
        jobs.append(Job("groups", model, info, reason=_groups_reason(shared)))
    for by in settings.stratified_by:
        jobs.append(Job("stratified", model, info, by, reason=_missing(shared, parse_by(by))))
    for by in settings.ci_by:
        columns = parse_by(by)
        jobs.append(Job("citest", model, info, by or MARGINAL, reason=_missing(shared, columns)))
    if settings.mixtures:
        jobs.append(Job("mixtures", model, info, reason=_mixture_reason(shared)))
    return jobs


def _missing(shared: SharedTable, columns: Iterable[str]) -> str | None:
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


def _run_job(shared: SharedTable, job: Job, settings: AnalysisSettings, dags) -> Any:
    """The job's result, or the reason it could not run (a string)."""
    if job.reason is not None:
        return job.reason
    try:
        return _CALLS[job.analysis](shared, job, settings, dags)
    except IqalignError as err:  # undefined or refused on these data: say why, go on
        return str(err)


def _call_pooled(shared, job, s, dags):
    from iqalign.stats.predictability import predictability

    return predictability(
        shared.frame, job.metric.column, performance_column(job.model), penalty=s.penalty,
        C=s.C, n_boot=s.n_boot, alpha=s.alpha, seed=s.seed, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_groups(shared, job, s, dags):
    from iqalign.stats.groups import group_correlations

    return group_correlations(
        shared.frame, job.metric.column, performance_column(job.model), n_boot=s.n_boot,
        alpha=s.alpha, seed=s.seed, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_stratified(shared, job, s, dags):
    from iqalign.stats.stratified import stratified_cv

    return stratified_cv(
        shared.frame, job.metric.column, performance_column(job.model), job.by,
        n_folds=s.folds, penalty=s.penalty, C=s.C, per_stratum=s.per_stratum, seed=s.seed,
        nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_citest(shared, job, s, dags):
    from iqalign.stats.citests import ci_test

    by = "" if job.by == MARGINAL else job.by
    return ci_test(
        shared.frame, job.metric.column, performance_column(job.model), by, test=s.test,
        alpha=s.alpha, nonfinite=s.nonfinite,
    )  # fmt: skip


def _call_verdicts(shared, job, s, dags):
    from iqalign.stats.verdicts import run_verdicts

    dag = next(d for d in dags if d.name == job.dag)
    return run_verdicts(
        dag, shared.frame, job.metric.column, performance_column(job.model), test=s.test,
        alpha=s.alpha, margin=s.margin, run_test=shared.remembered_ci_test,
    )  # fmt: skip


def _call_mixtures(shared, job, s, dags):
    from iqalign.stats.mixtures import mixture_predictability

    return mixture_predictability(
        shared.frame, job.metric.column, performance_column(job.model), penalty=s.penalty,
        C=s.C, n_boot=min(s.n_boot, s.mixture_boot), seed=s.seed,
    )  # fmt: skip


_CALLS: dict[str, Callable[..., Any]] = {
    "pooled": _call_pooled,
    "groups": _call_groups,
    "stratified": _call_stratified,
    "citest": _call_citest,
    "verdicts": _call_verdicts,
    "mixtures": _call_mixtures,
}


_NO_METRIC = MetricInfo("", "", "", None, None)


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


def _collect(jobs: list[Job], outcomes: list[Any], settings: dict[str, Any]) -> AnalysisResult:
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    per_stratum: dict[str, pd.DataFrame] = {}
    results = []
    for job, outcome in zip(jobs, outcomes, strict=True):
        key = pair_key(job.model, job.metric)
        if isinstance(outcome, str):
            values = (job.analysis, job.by, job.dag, outcome)
            row = {**key, **dict(zip(FAILURE_COLUMNS, values, strict=True))}
            parts["failures"].append(pd.DataFrame([row]))
            continue
        results.append((job, outcome))
        for name, frame in _frames_of(job, outcome):
            parts[name].append(_with_key(frame, {"dag": job.dag, **key} if job.dag else key))
        if job.analysis == "stratified" and getattr(outcome, "per_stratum", None) is not None:
            name = f"{job.model}_{job.metric.name}_{job.by.replace(',', '_')}"
            per_stratum[name] = outcome.per_stratum
    tables = {name: _concat(frames) for name, frames in parts.items()}
    if tables["failures"].empty:
        tables["failures"] = pd.DataFrame(columns=[*pair_key("", _NO_METRIC), *FAILURE_COLUMNS])
    tables["citests"] = _holm_per_pair(tables["citests"])
    return AnalysisResult(**tables, settings=settings, results=results, per_stratum=per_stratum)


def _frames_of(job: Job, result: Any) -> list[tuple[str, pd.DataFrame]]:
    if job.analysis == "pooled":
        return [("pooled", result.to_frame())]
    if job.analysis == "groups":
        return [("correlations", result.correlations), ("groups", result.groups)]
    if job.analysis == "stratified":
        frame = result.to_frame().drop(columns=["per_stratum"], errors="ignore")
        frame["skipped"] = frame["skipped"].map(_format_skipped)
        return [("stratified", frame)]
    if job.analysis == "citest":
        frame = result.to_frame()
        frame["by"] = job.by  # MARGINAL rather than an empty cell
        return [("citests", frame)]
    if job.analysis == "verdicts":
        return [("verdicts", result.rows)]
    return [("mixtures", result.variants)]


def _holm_per_pair(citests: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjust the CI tests of each pair together (the family of one analysis)."""
    if citests.empty:
        return citests
    from iqalign.stats.citests import holm_adjust

    citests = citests.copy()
    citests["p_holm"] = float("nan")
    for _, index in citests.groupby(["model", "metric"], sort=False).groups.items():
        citests.loc[index, "p_holm"] = holm_adjust(citests.loc[index, "p_value"].to_numpy())
    return citests


def _with_key(frame: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for position, (name, value) in enumerate(key.items()):
        if name in frame.columns:
            frame = frame.drop(columns=[name])
        frame.insert(position, name, value)
    return frame


def _format_skipped(skipped: Any) -> str:
    if not isinstance(skipped, dict):
        return str(skipped)
    parts = [f"{reason} {count}" for reason, count in skipped.items() if count]
    return ", ".join(parts) or "none"


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
