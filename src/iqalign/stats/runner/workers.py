"""Running the planned jobs: in this process, or in forked workers that each own a copy
of the run's :class:`Work` (inherited by fork, never pickled).

Jobs run quality column by quality column (a *batch*): one column's jobs (every task
model, every DAG) run in one process, which computes the column's ranks once for all of
them. Every process computes inside the memo's :func:`~iqalign.stats.core.memo.sharing`
block and with one BLAS thread, so the numbers are the same for any number of workers.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from iqalign.errors import IqalignError
from iqalign.stats.core.memo import forget_transient, sharing
from iqalign.stats.runner.kinds import KINDS, Job, RunContext
from iqalign.stats.runner.outcomes import Failure, JobResult, Outcome, Result

__all__ = ["Work", "run_batches"]

Progress = Callable[[str], None]
Done = dict[int, JobResult]


@dataclass(frozen=True)
class Work:
    """A run's jobs and what they read: the state every worker process works from."""

    context: RunContext
    jobs: Sequence[Job]

    def run_job(self, job: Job) -> Outcome:
        """The job's result, or why it could not run (planned reason or its error)."""
        if job.reason is not None:
            return Failure(job.reason)
        try:
            return Result(KINDS[job.analysis].call(self.context, job))
        except IqalignError as err:  # undefined or refused on these data: say why, go on
            return Failure(str(err))

    def run_batch(
        self, batch: Sequence[int], starting: Callable[[Job], None] | None = None
    ) -> tuple[Done, int]:
        """Run one quality column's jobs in order (inside ``sharing()``); what only this
        column needed is then forgotten (its ranks), what every column shares (folds,
        splits, resamples) is kept. Also gives how many CI tests DAGs shared."""
        shared = self.context.shared
        hits_before = shared.ci_test_hits
        out: Done = {}
        for index in batch:
            job = self.jobs[index]
            if starting:
                starting(job)
            job_started = time.perf_counter()
            outcome = self.run_job(job)
            out[index] = JobResult(job, outcome, time.perf_counter() - job_started)
        forget_transient()
        shared.forget_ci_tests()
        return out, shared.ci_test_hits - hits_before


def run_batches(
    work: Work, batches: list[list[int]], n_workers: int, progress: Progress | None
) -> tuple[Done, int]:
    """Every job's :class:`JobResult` by index, and how many CI tests DAGs shared."""
    from threadpoolctl import threadpool_limits

    if n_workers == 1:
        with sharing(), threadpool_limits(1):  # as in a worker: the same numbers
            return _in_this_process(work, batches, progress)
    from iqalign.stats.core.kernels import warm_up

    warm_up()  # compiled once here; the workers inherit them
    return _in_workers(work, batches, n_workers, progress)


def _in_this_process(
    work: Work, batches: list[list[int]], progress: Progress | None
) -> tuple[Done, int]:
    started = itertools.count(1)

    def job_progress(job: Job) -> None:  # in this process: progress job by job
        if progress and job.reason is None:
            progress(f"[{next(started)}/{len(work.jobs)}] {job.description}")

    done: Done = {}
    hits = 0
    for batch in batches:
        outcomes, batch_hits = work.run_batch(batch, job_progress)
        done.update(outcomes)
        hits += batch_hits
    return done, hits


class WorkerError(RuntimeError):
    """A bug in a job, raised in a worker (its traceback is the message)."""


def _worker(work: Work, batches: list[list[int]], tasks: Any, results: Any) -> None:
    """A forked worker: batches by number until ``None``, each result (or the bug that
    stopped it) sent back."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread per worker: the workers already use every core, and a matrix
    # product's rounding depends on the thread count (1e-12): with one thread everywhere
    # the numbers are the same for any number of workers, on any machine.
    with threadpool_limits(1), sharing():
        for number in iter(tasks.get, None):
            try:
                results.put((number, work.run_batch(batches[number]), None))
            except BaseException:  # a bug: the runner raises it, with where it happened
                results.put((number, None, traceback.format_exc()))
                return


def _in_workers(
    work: Work, batches: list[list[int]], n_workers: int, progress: Progress | None
) -> tuple[Done, int]:
    context = multiprocessing.get_context("fork")
    tasks, results = context.SimpleQueue(), context.Queue()
    for number in range(len(batches)):
        tasks.put(number)
    for _ in range(n_workers):
        tasks.put(None)
    processes = [
        context.Process(target=_worker, args=(work, batches, tasks, results), daemon=True)
        for _ in range(n_workers)
    ]
    for process in processes:
        process.start()
    done: Done = {}
    hits = 0
    complete = False
    try:
        for finished in range(1, len(batches) + 1):
            number, answer, error = _next_result(results, processes)
            if error is not None:
                raise WorkerError(f"a job failed in a worker process:\n{error}")
            done.update(answer[0])
            hits += answer[1]
            batch = batches[number]
            _report(progress, finished, len(batches), work.jobs[batch[0]], len(batch))
        complete = True
    finally:
        for process in processes:
            if not complete:
                process.terminate()  # a failed run: the other batches are not wanted
            process.join()
    return done, hits


def _next_result(results: Any, processes: list[Any]) -> tuple[int, Any, str | None]:
    """The next answer; a worker that died (killed, out of memory) stops the run
    instead of leaving it waiting for ever."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise WorkerError(f"a worker process died (exit code {dead[0]})") from None
            if all(p.exitcode is not None for p in processes):  # an answer was lost
                raise WorkerError("the workers stopped before every batch was done") from None


def _report(progress: Progress | None, number: int, total: int, job: Job, size: int) -> None:
    if progress:
        where = job.metric.column or job.analysis
        progress(f"[{number}/{total} columns] {where}: {size} analyses done")
