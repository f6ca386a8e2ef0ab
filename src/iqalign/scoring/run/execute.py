"""Executing a :class:`.plan.RunPlan`: scored batches go to a sink, shards to disk.

A backend scores the plan's pending batches and hands each result to the :class:`Sink`
(:meth:`Sink.accept` counts its failures and may stop the run; :meth:`Sink.write` writes
a finished shard and returns its rows). The backend adds up what it wrote and timed in
the :class:`SessionStats` it returns; no object changes another's counters.
:func:`execute` is the local backend's loop: a DataLoader feeds the plan's batches, a
:class:`.engine.BatchScorer` scores them, a shard is written when the next one begins.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from iqalign.errors import ScoringStoppedError
from iqalign.scoring.run.failures import FailureWatch
from iqalign.scoring.run.feed import (
    batch_bytes,
    default_workers,
    forking_safely,
    plan_feed,
    worker_init,
)
from iqalign.scoring.run.shards import ColumnPlan, ScoredBatch, ShardWriter

if TYPE_CHECKING:
    from iqalign.scoring.run.engine import BatchScorer, Progress
    from iqalign.scoring.run.pipeline import RenderSettings
    from iqalign.scoring.run.plan import RunPlan

__all__ = ["RunSink", "SessionStats", "Sink", "execute"]


@dataclass
class SessionStats:
    """What one session of a backend did: rows written, seconds, per-scorer seconds."""

    rows_written: int = 0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_scorer_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class Sink(Protocol):
    """Where a backend's scored batches go."""

    def accept(self, batch: ScoredBatch) -> int:
        """Count a batch's failures (may raise ScoringStoppedError); its rows settled."""
        ...

    def write(self, shard: int, batches: list[ScoredBatch]) -> int:
        """Write a whole shard from its batches, in item order; the rows written."""
        ...

    def note(self, text: str) -> None:
        """Keep a one-line note for the manifest."""
        ...


class RunSink:
    """The run's sink: failures counted against ``--max-failures``, shards written.

    ``on_stop`` runs once when the failures stop the run (the engine records why in the
    manifest), before the error goes on to the backend's caller.
    """

    def __init__(
        self, plan: RunPlan, columns: ColumnPlan,
        on_stop: Callable[[ScoringStoppedError], None] | None = None,
    ) -> None:  # fmt: skip
        self.work = plan.work
        self.writer = ShardWriter(plan.store, plan.work, columns)
        self.failures = FailureWatch(plan.pictures, fraction=plan.config.max_failures)
        self.worker_cpu_s: dict[str, float] = defaultdict(float)
        self.notes: list[str] = []
        self._on_stop = on_stop

    def accept(self, batch: ScoredBatch) -> int:
        """Count a batch's failures; on a failing run, report the stop and raise."""
        for stage, seconds in batch.cpu_s.items():
            self.worker_cpu_s[stage] += seconds
        kinds = [(f"{stage}: {reason}", message) for *_, stage, reason, message in batch.failed]
        kinds += [(f"metric {metric}: {reason}", f"{self._picture_name(batch, pic)}: {message}")
                  for pic, metric, reason, message in batch.cell_failures]  # fmt: skip
        try:
            self.failures.record(batch.pictures, kinds)
        except ScoringStoppedError as err:
            if self._on_stop is not None:
                self._on_stop(err)
            raise
        return batch.rows(self.work)

    def write(self, shard: int, batches: list[ScoredBatch]) -> int:
        """Write shard ``shard`` as one atomic part; its rows."""
        return self.writer.write(shard, batches)

    def note(self, text: str) -> None:
        """Keep a one-line note (the manifest lists them)."""
        self.notes.append(text)

    def _picture_name(self, scored: ScoredBatch, pic: int) -> str:
        work = self.work[scored.pic_item[pic]]
        render = work.renders[scored.pic_render[pic]]
        return render.path or f"{work.item.path} ({render.corruption} {render.severity})"


class _OpenShard:
    """The batches of the shard being scored; written when the next shard begins."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.shard: int | None = None
        self.batches: list[ScoredBatch] = []

    def add(self, shard: int, batch: ScoredBatch) -> int:
        """Keep a batch; the rows written if it closed the previous shard."""
        written = self.close() if self.shard not in (None, shard) else 0
        self.shard = shard
        self.batches.append(batch)
        return written

    def close(self) -> int:
        """Write the open shard, if any; its rows."""
        if self.shard is None:
            return 0
        written = self.sink.write(self.shard, self.batches)
        self.shard, self.batches = None, []
        return written


def execute(
    plan: RunPlan, scorer: BatchScorer, sink: Sink, progress: Progress | None = None
) -> SessionStats:
    """Score the plan's pending batches here; every shard goes to ``sink``."""
    stats = SessionStats()
    settings = plan.render_settings(scorer.scorers.metrics)
    if progress:
        progress.start(plan.rows_total, plan.rows_done)
    with forking_safely():  # the workers fork when the loader's iterator starts
        loader = iter(_loader(plan, settings, sink, stats, progress))
    shard = _OpenShard(sink)
    clocks = _CpuClocks()
    began = waited = time.perf_counter()
    in_flight = None
    for pending, batch in zip(plan.pending, loader, strict=True):
        stats.timings["wait_s"] += time.perf_counter() - waited
        # Queue this batch's work on the device before collecting the previous one:
        # the device never idles while the host copies results and writes shards.
        launched = (pending.shard, scorer.launch(batch))
        if in_flight is not None:
            stats.rows_written += _deliver(scorer, sink, shard, in_flight, progress)
        in_flight = launched
        waited = time.perf_counter()
    if in_flight is not None:
        stats.rows_written += _deliver(scorer, sink, shard, in_flight, progress)
    stats.rows_written += shard.close()
    scorer.timer.collect(wait=True)
    stats.per_scorer_s.update(scorer.timer.totals)
    stats.timings["scoring_s"] += time.perf_counter() - began
    clocks.add_to(stats.timings)  # the loader's workers have exited: their CPU is counted
    if progress:
        progress.close()
    return stats


def _deliver(
    scorer: BatchScorer, sink: Sink, shard: _OpenShard, launched: tuple[int, Any],
    progress: Progress | None,
) -> int:  # fmt: skip
    """Collect one launched batch into its shard; the rows written (a closed shard's)."""
    index, work = launched
    scored = scorer.collect(work)  # waits for this batch only; the next is queued
    written = shard.add(index, scored)
    rows = sink.accept(scored)
    if progress:
        progress.advance(rows)
    return written


def _loader(
    plan: RunPlan, settings: RenderSettings, sink: Sink, stats: SessionStats,
    progress: Progress | None,
) -> Any:  # fmt: skip
    from torch.utils.data import DataLoader

    from iqalign.scoring.run.pipeline import RenderDataset, collate

    config, work = plan.config, plan.work
    batches = [list(b.items) for b in plan.pending]
    workers = default_workers() if config.workers < 0 else config.workers
    pictures = max((sum(len(work[i].renders) for i in b) for b in batches), default=1)
    items = max((len(b) for b in batches), default=1)
    feed = plan_feed(workers, batch_bytes(pictures, items, settings.need_ref))
    if feed.note:
        sink.note(feed.note)
        if progress is not None and hasattr(progress, "note"):
            progress.note(feed.note)
    stats.timings["workers"] = feed.workers
    return DataLoader(
        # a map-style dataset (__len__, __getitem__) kept free of torch at import
        RenderDataset(list(work), settings),  # type: ignore[arg-type]
        batch_sampler=batches, collate_fn=collate, num_workers=feed.workers,
        pin_memory=plan.device_type == "cuda", worker_init_fn=worker_init,
        prefetch_factor=feed.prefetch if feed.workers else None,
    )  # fmt: skip


class _CpuClocks:
    """CPU seconds of this process and of its finished children (the loader's workers).

    From the processes' own clocks (``getrusage``), so the numbers say what the work costs
    whatever else the machine runs: ``main_cpu_s`` is everything the main process did
    while scoring (all its threads), ``workers_cpu_s`` everything the workers did --
    decoding, corrupting, CPU metrics, collating and handing batches over.
    """

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        try:
            import resource
        except ImportError:  # not on Unix
            return time.process_time(), 0.0
        me, children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime

    def add_to(self, timings: dict[str, float]) -> None:
        now = self._read()
        timings["main_cpu_s"] += now[0] - self.start[0]
        timings["workers_cpu_s"] += now[1] - self.start[1]
