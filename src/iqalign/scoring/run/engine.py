"""The batch engine: decode and corrupt once, run every model and metric on the same batch.

DataLoader workers decode, crop and corrupt (:mod:`.pipeline`) into uint8 tensors in
channels-last memory (pinned on CUDA); the main process moves each batch to the device
once, converts it to float once, runs every classifier once (task models and the sources
of task-guided metrics share that single forward), then every metric, under autocast
(fp16 on CUDA by default, see below) where the metric allows it. Results leave the device as two
tensors per batch. There is no per-image Python on this path; per-row bookkeeping happens
once per shard. The same code runs on the CPU, with smaller batches.

Precision: ``auto`` is fp16 autocast on CUDA and fp32 on the CPU. fp16 and bf16 run at
the same tensor-core speed, but bf16's 8-bit mantissa moves scores: measured on the demo
photos with all 75 corruptions (CPU autocast, EfficientNet-Lite0/2), bf16 changed the
top-1 class of 7% of the images and max probabilities by up to 0.16, fp16 changed no
top-1 and max probabilities by < 0.01. ``--precision fp32`` gives the reference numbers;
``--precision bf16`` on a CPU with AMX roughly halves model time.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from iqalign.errors import ScoringConfigError, ScoringStoppedError
from iqalign.scoring.metrics.in_workers import failure_reason
from iqalign.scoring.run.config import ScoreConfig
from iqalign.scoring.run.execute import RunSink, SessionStats, Sink, execute
from iqalign.scoring.run.plan import RunPlan, default_batch_size, plan_run, resolve_device
from iqalign.scoring.run.prepare import Scorers, build_scorers
from iqalign.scoring.run.shards import ColumnPlan, ScoredBatch
from iqalign.scoring.run.writer import RunStore, read_manifest

if TYPE_CHECKING:
    import torch

__all__ = [
    "Backend",
    "BatchScorer",
    "LocalBackend",
    "Progress",
    "RunResult",
    "default_batch_size",
    "resolve_device",
    "score",
]


class Progress(Protocol):
    """What the engine reports while it works (the CLI draws a bar from it)."""

    def start(self, total_rows: int, done_rows: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def close(self) -> None: ...

    # Optional: ``note(text)`` prints a one-line note (e.g. workers lowered to fit memory).


@dataclass
class RunResult:
    """What a call to :func:`score` did."""

    out: Path
    status: str  # "complete" or "already complete"
    rows: int
    skipped: int
    timings: dict[str, Any] = field(default_factory=dict)
    failed_cells: int = 0


def _precision(config: ScoreConfig, device: Any) -> Any:
    import torch

    choice = config.precision
    if choice == "auto":
        choice = "fp16" if device.type == "cuda" else "fp32"
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[choice]


class Backend(Protocol):
    """Where a run's pending batches are scored: here (:class:`LocalBackend`) or on Ray
    (:mod:`.ray_backend`). Both execute the same :class:`.plan.RunPlan`.

    :meth:`device` picks the device before planning (the plan's batch size follows it);
    :meth:`score_pending` scores ``plan.pending``, hands every result to ``sink`` and
    returns what this session did. ``scorers`` are the run's scorers, built here: the
    local backend runs them, the Ray actors build their own from ``plan.config``.
    """

    def device(self, config: ScoreConfig) -> torch.device: ...
    def score_pending(
        self, plan: RunPlan, scorers: Scorers, sink: Sink, progress: Progress | None
    ) -> SessionStats: ...


class LocalBackend:
    """Scores the plan in this process: a DataLoader feeds :func:`.execute.execute`."""

    def device(self, config: ScoreConfig) -> torch.device:
        """``config.device``, resolved (``auto``: CUDA when available)."""
        return resolve_device(config.device)

    def score_pending(
        self, plan: RunPlan, scorers: Scorers, sink: Sink, progress: Progress | None
    ) -> SessionStats:
        """Move the scorers to the plan's device and score every pending batch."""
        import torch

        device = torch.device(plan.device)
        for scorer in [*scorers.classifiers.values(), *scorers.metrics]:
            scorer.to(device)
        batch_scorer = BatchScorer(plan.config, scorers, device, plan.batch_size)
        with _cudnn_benchmark(device), _on_device(device):
            return execute(plan, batch_scorer, sink, progress)


def score(
    config: ScoreConfig, progress: Progress | None = None, backend: Backend | None = None
) -> RunResult:
    """Score a data source into ``config.out`` (resuming what is already there).

    Plan (:func:`.plan.plan_run`), build the scorers, record the run as running, let the
    backend (default: :class:`LocalBackend`) score the pending batches into the run's
    sink, then finalise. With another backend, this process only plans, writes the parts
    the backend returns and finalises; the scorers built here describe the run.

    Parameters
    ----------
    config
        What to score, with which models and metrics, and where to write.
    progress
        Told about the rows scored; ``None`` reports nothing.
    backend
        Where the images are scored (e.g. the Ray backend); ``None``: this process.

    Returns
    -------
    RunResult
        The run folder, its status, rows scored and images skipped.
    """
    started = time.perf_counter()
    store = RunStore(config.out)
    if store.open(config.fingerprint()) == "complete":
        return _already_complete(store)
    backend = backend or LocalBackend()
    plan = plan_run(config, device=backend.device(config))  # before any slow loading
    scorers = build_scorers(config, has_labels=plan.has_labels, has_clean=plan.has_clean)
    manifest = _Manifest(plan, scorers)

    def stopped(err: ScoringStoppedError) -> None:
        manifest.write("stopped", sink.notes, stopped=str(err), failures=sink.failures.summary())

    sink = RunSink(plan, ColumnPlan.of(scorers), on_stop=stopped)
    setup_s = time.perf_counter() - started
    manifest.write("running", sink.notes)
    stats = backend.score_pending(plan, scorers, sink, progress)
    return _finish(plan, manifest, sink, stats, started, setup_s)


def _already_complete(store: RunStore) -> RunResult:
    manifest = read_manifest(store.root)
    counts = manifest.get("counts", {})
    return RunResult(store.root, "already complete", counts.get("rows", 0),
                     counts.get("skipped", 0), manifest.get("timings", {}),
                     counts.get("failed_cells", 0))  # fmt: skip


class _Manifest:
    """``manifest.json`` of a planned run: what it scores, with which scorers, where."""

    def __init__(self, plan: RunPlan, scorers: Scorers) -> None:
        import torch

        self.plan, self.scorers = plan, scorers
        self.precision = str(_precision(plan.config, torch.device(plan.device)) or "fp32")

    def write(self, status: str, notes: list[str], **extra: Any) -> None:
        from iqalign.scoring.provenance import package_versions
        from iqalign.scoring.run import manifest as m

        plan, s, config = self.plan, self.scorers, self.plan.config
        plan.store.write_manifest({
            "format": "iqalign-scores/1", "status": status,
            "fingerprint": config.fingerprint(), "config": config.to_dict(),
            "scores_path": "shards/",
            "read_with": "pandas.read_parquet(DIR / 'shards') or iqalign.scoring.read_scores(DIR)",
            "columns": m.column_entries(s.metrics, s.classifiers),
            "models": m.model_entries(s.classifiers, s.task_models),
            "pipeline": m.pipeline_entry(config, list(plan.work)),
            "versions": package_versions(),
            "device": plan.device, "precision": self.precision,
            "counts": {"images": len(plan.work), "pictures": plan.pictures,
                       "shards": len(plan.shards)},
            "probabilities": m.probability_entries(s.classifiers, s.task_models,
                                                   config.save_probs),
            "notes": notes, **extra,
        })  # fmt: skip


def _finish(
    plan: RunPlan, manifest: _Manifest, sink: RunSink, stats: SessionStats, started: float,
    setup_s: float,
) -> RunResult:  # fmt: skip
    """Write the final shards and the manifest."""
    from iqalign.scoring.run.finalize import finalize_run

    begin = time.perf_counter()
    (skipped, failed_cells), rows = finalize_run(plan.store, list(plan.unpaired))
    timings = {
        **{k: round(v, 3) for k, v in {"setup_s": setup_s, **stats.timings}.items()},
        "finalize_s": round(time.perf_counter() - begin, 3),
        "total_s": round(time.perf_counter() - started, 3),
        "rows_scored_this_session": stats.rows_written,
        "per_scorer_s": {k: round(v, 3) for k, v in stats.per_scorer_s.items()},
        "worker_cpu_s": {k: round(v, 3) for k, v in sink.worker_cpu_s.items()},
    }
    if stats.timings.get("scoring_s"):
        timings["rows_per_s"] = round(stats.rows_written / stats.timings["scoring_s"], 2)
    manifest.write(
        "complete", sink.notes, timings=timings, failures=sink.failures.summary(),
        counts={"images": len(plan.work), "pictures": plan.pictures,
                "shards": len(plan.shards), "rows": rows, "skipped": len(skipped),
                "failed_cells": len(failed_cells)},
    )  # fmt: skip
    plan.store.remove_parts()
    return RunResult(plan.store.root, "complete", rows, len(skipped), timings,
                     failed_cells=len(failed_cells))  # fmt: skip


@contextlib.contextmanager
def _on_device(device: Any) -> Iterator[None]:
    """Make the run's device the current one: timers' events, the default stream and the
    loader's pin-memory thread follow it (``--device cuda:1`` never touches GPU 0)."""
    if device.type != "cuda":
        yield
        return
    import torch

    with torch.cuda.device(device):
        yield


@contextlib.contextmanager
def _cudnn_benchmark(device: Any) -> Iterator[None]:
    """Fixed batch shapes: let cuDNN pick its fastest kernels, for this run only."""
    if device.type != "cuda":
        yield
        return
    import torch

    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


class _Timer:
    """Per-scorer wall time; CUDA events avoid a device sync per scorer."""

    def __init__(self, device: Any) -> None:
        self.cuda = device.type == "cuda"
        self.totals: dict[str, float] = defaultdict(float)
        self._events: list[tuple[str, Any, Any]] = []

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        import torch

        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self._events.append((name, start, end))
        else:
            begin = time.perf_counter()
            yield
            self.totals[name] += time.perf_counter() - begin

    def collect(self, wait: bool = False) -> None:
        """Add up the CUDA events that have completed (all of them with ``wait``)."""
        pending = []
        for name, start, end in self._events:
            if wait:
                end.synchronize()
            if wait or end.query():
                self.totals[name] += start.elapsed_time(end) / 1000.0
            else:
                pending.append((name, start, end))
        self._events = pending


class _View:
    """The batch as metrics see it (``refs01`` built only if a metric asks)."""

    def __init__(self, images: Any, refs: Any, ref_index: Any) -> None:
        self.images01 = images.float().div_(255)  # once per chunk, shared by all scorers
        self._refs, self._ref_index = refs, ref_index
        self.logits: dict[str, Any] = {}
        self.logit_scales: dict[str, float] = {}

    @functools.cached_property
    def refs01(self) -> Any:
        if self._refs is None:  # setup refuses FR metrics without clean images
            raise ScoringConfigError("a full-reference metric ran on a batch without references")
        refs = self._refs.to(self.images01.device, non_blocking=True).float().div_(255)
        return refs[self._ref_index.to(self.images01.device)]


class _RowView:
    """One row of a view (to find which row a failing metric fails on)."""

    def __init__(self, view: _View, index: int) -> None:
        rows = slice(index, index + 1)
        self.images01 = view.images01[rows]
        self.logits = {name: logits[rows] for name, logits in view.logits.items()}
        self.logit_scales = view.logit_scales
        self._view, self._rows = view, rows

    @property
    def refs01(self) -> Any:
        return self._view.refs01[self._rows]


@dataclass
class _Launched:
    """One batch queued on the device: results still there (or on their way back)."""

    batch: dict[str, Any]
    q: Any  # (pictures, device metrics) float64
    p: Any  # (pictures, task models) int64
    raised: list[tuple[int, str, str, str]]  # (picture, metric, reason, message)
    probs: dict[str, Any] = field(default_factory=dict)  # slug -> (pictures, classes) fp16
    event: Any = None  # CUDA: recorded after the copies to pinned host memory


class BatchScorer:
    """The batch function: every scorer on one loader batch (:func:`.pipeline.collate`).

    The local engine and each Ray actor hold one. :meth:`launch` queues the batch's work
    on the device and, on CUDA, its copy back into pinned host memory, then returns at
    once; :meth:`collect` waits for that batch only. So the local engine queues batch k+1
    before collecting batch k, and the device computes k+1 while the host writes k.

    Metrics that run in the loader workers (:mod:`.worker_metrics`) arrive as values with
    the batch; :meth:`collect` puts them in their columns. A device metric that raises on
    a chunk is run again row by row, so only the failing rows get NaN; every NaN cell is
    reported (picture, metric, reason) in :attr:`ScoredBatch.cell_failures`.
    """

    def __init__(self, config: ScoreConfig, scorers: Scorers, device: Any, batch_size: int) -> None:
        self.scorers, self.device, self.batch_size = scorers, device, batch_size
        self.save_probs = config.save_probs
        self.amp = _precision(config, device)
        self.timer = _Timer(device)
        metrics = scorers.metrics
        self.device_metrics = [m for m in metrics if not m.spec.worker]
        self.device_columns = [j for j, m in enumerate(metrics) if not m.spec.worker]
        self.worker_columns = [j for j, m in enumerate(metrics) if m.spec.worker]

    def launch(self, batch: dict[str, Any]) -> _Launched:
        """Queue every device scorer on the batch (and, on CUDA, the copy back)."""
        import torch

        raised: list[tuple[int, str, str, str]] = []
        if batch["images"] is None:
            q = torch.empty((0, len(self.device_metrics)), dtype=torch.float64)
            return _Launched(batch, q, torch.empty((0, len(self.scorers.task_models)),
                                                   dtype=torch.int64), raised)  # fmt: skip
        images = batch["images"].to(self.device, non_blocking=True)
        q_parts, p_parts, prob_parts = [], [], []
        # Loader batches hold whole source images (all their variants); the networks run
        # on chunks of batch_size rows -- on the CPU, large activations cost more in page
        # faults than they gain.
        for lo in range(0, len(images), self.batch_size):
            rows = slice(lo, lo + self.batch_size)
            index = None if batch["ref_index"] is None else batch["ref_index"][rows]
            view = _View(images[rows], batch["refs"], index)
            q, p = self._compute_chunk(view, lo, raised)
            q_parts.append(q)
            p_parts.append(p)
            prob_parts.append(self._log_probs(view))
        probs = {slug: torch.cat([part[slug] for part in prob_parts]) for slug in prob_parts[0]}
        launched = _Launched(batch, torch.cat(q_parts), torch.cat(p_parts), raised, probs)
        if self.device.type == "cuda":
            launched.q = _to_pinned_host(launched.q)
            launched.p = _to_pinned_host(launched.p)
            launched.probs = {k: _to_pinned_host(v) for k, v in probs.items()}
            launched.event = torch.cuda.Event()
            launched.event.record()
        return launched

    def _log_probs(self, view: _View) -> dict[str, Any]:
        """``--save-probs``: each task model's log-softmax, float16 (2 kB per picture)."""
        import torch

        if not self.save_probs:
            return {}
        s = self.scorers
        return {
            s.classifiers[m].column: torch.log_softmax(view.logits[m].float(), dim=1).half()
            for m in s.task_models
        }

    def collect(self, launched: _Launched) -> ScoredBatch:
        """Wait for one launched batch; its values (every metric column) and predictions."""
        if launched.event is not None:
            launched.event.synchronize()  # this batch only; the next one keeps computing
        self.timer.collect()
        batch = launched.batch
        q = launched.q.numpy()
        values = np.full((len(q), len(self.scorers.metrics)), np.nan, dtype=np.float64)
        values[:, self.device_columns] = q
        if self.worker_columns and len(q):
            values[:, self.worker_columns] = batch["cpu"]
        cells = list(batch["cell_failures"]) + launched.raised
        cells += self._unreported_nonfinite(q, {(c[0], c[1]) for c in cells})
        return ScoredBatch(
            items=batch["items"], pic_item=batch["pic_item"], pic_render=batch["pic_render"],
            values=values, preds=launched.p.numpy().astype(np.int64), failed=batch["failed"],
            cell_failures=cells, cpu_s=batch["cpu_s"],
            probs={k: v.numpy() for k, v in launched.probs.items()},
        )  # fmt: skip

    def _unreported_nonfinite(
        self, q: np.ndarray, reported: set[tuple[int, str]]
    ) -> list[tuple[int, str, str, str]]:
        bad_rows, bad_columns = np.nonzero(~np.isfinite(q))
        cells = []
        for row, column in zip(bad_rows.tolist(), bad_columns.tolist(), strict=True):
            key = self.device_metrics[column].key
            if (row, key) not in reported:
                cells.append((row, key, "non-finite value", f"{key} gave {q[row, column]}"))
        return cells

    def _compute_chunk(
        self, view: _View, offset: int, raised: list[tuple[int, str, str, str]]
    ) -> tuple[Any, Any]:
        import torch

        s = self.scorers
        with torch.inference_mode():
            for name, classifier in s.classifiers.items():
                with self.timer.section(name), self._autocast(True):
                    view.logits[name] = classifier(view.images01)
                view.logit_scales[name] = classifier.logit_scale
            values = []
            for metric in self.device_metrics:
                with self.timer.section(metric.key), self._autocast(metric.spec.amp):
                    values.append(self._metric_values(metric, view, offset, raised))
            n = len(view.images01)
            q = torch.stack(values, 1) if values else torch.empty((n, 0), dtype=torch.float64)
            preds = [view.logits[m].argmax(dim=1) for m in s.task_models]
            p = torch.stack(preds, 1) if preds else torch.empty((n, 0), dtype=torch.int64)
        return q, p

    def _metric_values(
        self, metric: Any, view: _View, offset: int, raised: list[tuple[int, str, str, str]]
    ) -> Any:
        """The metric on the chunk; if it raises, row by row, NaN where a row raises."""
        import torch

        try:
            return metric.compute(view).to(torch.float64)
        except Exception:  # which row? one image must not end the run
            pass
        out = torch.full((len(view.images01),), float("nan"), dtype=torch.float64,
                         device=view.images01.device)  # fmt: skip
        for index in range(len(view.images01)):
            try:
                out[index] = metric.compute(_RowView(view, index)).to(torch.float64).reshape(-1)[0]
            except Exception as err:
                raised.append((offset + index, metric.key, failure_reason(err), str(err)[:300]))
        return out

    def _autocast(self, allowed: bool) -> Any:
        import torch

        enabled = allowed and self.amp is not None
        return torch.autocast(self.device.type, dtype=self.amp, enabled=enabled)


def _to_pinned_host(tensor: Any) -> Any:
    """A copy into pinned host memory, queued (non-blocking) on the current stream."""
    import torch

    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    return host.copy_(tensor, non_blocking=True)
