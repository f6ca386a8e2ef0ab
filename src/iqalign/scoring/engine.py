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
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from iqalign.errors import ScoringConfigError, ScoringStoppedError
from iqalign.scores import CLEAN
from iqalign.scoring.config import ScoreConfig
from iqalign.scoring.corrupt import parse_corruptions, parse_severities
from iqalign.scoring.failures import FailureWatch
from iqalign.scoring.pipeline import RenderDataset, WorkItem, collate, plan_work
from iqalign.scoring.setup import Scorers, build_scorers
from iqalign.scoring.shards import ShardBuffer
from iqalign.scoring.sources import load_source
from iqalign.scoring.writer import RunStore, read_manifest

__all__ = [
    "Backend",
    "BatchScorer",
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


@dataclass
class RunResult:
    """What a call to :func:`score` did."""

    out: Path
    status: str  # "complete" or "already complete"
    rows: int
    skipped: int
    timings: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str) -> Any:
    """``auto`` -> CUDA when available, else the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScoringConfigError(f"device {name!r}: CUDA is not available here; use --device cpu")
    return torch.device(name)


def _precision(config: ScoreConfig, device: Any) -> Any:
    import torch

    choice = config.precision
    if choice == "auto":
        choice = "fp16" if device.type == "cuda" else "fp32"
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[choice]


class Backend(Protocol):
    """Scores a run's pending shards somewhere else (:mod:`.ray_backend`); default: here."""

    def device(self, config: ScoreConfig) -> Any: ...
    def score_pending(self, run: _Run, progress: Progress | None) -> None: ...


def score(
    config: ScoreConfig, progress: Progress | None = None, backend: Backend | None = None
) -> RunResult:
    """Score a data source into ``config.out`` (resuming what is already there).

    With a ``backend``, this process only plans, writes the parts the backend returns and
    finalises; the scorers built here describe the run and never see an image.
    """
    started = time.perf_counter()
    store = RunStore(config.out)
    if store.open(config.fingerprint()) == "complete":
        manifest = read_manifest(store.root)
        counts = manifest.get("counts", {})
        return RunResult(store.root, "already complete", counts.get("rows", 0),
                         counts.get("skipped", 0), manifest.get("timings", {}))  # fmt: skip
    # Before any slow loading.
    device = resolve_device(config.device) if backend is None else backend.device(config)
    items = load_source(config.data, config.layout, config.labels)
    items = items[: config.limit] if config.limit else items
    has_clean = any(i.corruption == CLEAN for i in items)
    if config.mixture and not has_clean:
        raise ScoringConfigError("mixture: needs clean images to corrupt; this source has none")
    scorers = build_scorers(
        config, has_labels=all(i.label >= 0 for i in items), has_clean=has_clean
    )
    work = plan_work(
        items, parse_corruptions(config.corruptions), parse_severities(config.severities),
        config.mixture, parse_severities(config.mixture_severities), config.seed,
    )  # fmt: skip
    if backend is None:
        for classifier in scorers.classifiers.values():
            classifier.to(device)
        for metric in scorers.metrics:
            metric.to(device)
    run = _Run(config, store, work, scorers, device)
    run.write_manifest("running", setup_s=time.perf_counter() - started)
    if backend is not None:
        backend.score_pending(run, progress)
        return run.finish(started)
    with _cudnn_benchmark(device):
        run.score_pending(progress)
    return run.finish(started)


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
        refs = self._refs.to(self.images01.device, non_blocking=True).float().div_(255)
        return refs[self._ref_index.to(self.images01.device)]


def default_batch_size(config: ScoreConfig, device: Any) -> int:
    """Rows per forward pass: ``--batch-size``, else 256 on CUDA and 8 on the CPU."""
    return config.batch_size or (256 if device.type == "cuda" else 8)


class BatchScorer:
    """The batch function: every scorer on one loader batch (:func:`.pipeline.collate`).

    The local engine and each Ray actor hold one; results stay on the device until the
    caller collects them, so the local engine can queue the next batch first.
    """

    def __init__(self, config: ScoreConfig, scorers: Scorers, device: Any, batch_size: int) -> None:
        self.scorers, self.device, self.batch_size = scorers, device, batch_size
        self.amp = _precision(config, device)
        self.timer = _Timer(device)

    def launch(self, batch: dict[str, Any]) -> tuple[Any, Any]:
        """Queue every scorer on the batch; results stay on the device until delivered."""
        import torch

        s = self.scorers
        if batch["images"] is None:
            empty = torch.empty((0, len(s.metrics)), dtype=torch.float64)
            return empty, torch.empty((0, len(s.task_models)), dtype=torch.int64)
        images = batch["images"].to(self.device, non_blocking=True)
        q_parts, p_parts = [], []
        # Loader batches hold whole source images (all their variants); the networks run
        # on chunks of batch_size rows -- on the CPU, large activations cost more in page
        # faults than they gain.
        for lo in range(0, len(images), self.batch_size):
            rows = slice(lo, lo + self.batch_size)
            view = _View(images[rows], batch["refs"], batch["ref_index"][rows])
            q, p = self._compute_chunk(view)
            q_parts.append(q)
            p_parts.append(p)
        return torch.cat(q_parts), torch.cat(p_parts)

    def _compute_chunk(self, view: _View) -> tuple[Any, Any]:
        import torch

        s = self.scorers
        with torch.inference_mode():
            for name, classifier in s.classifiers.items():
                with self.timer.section(name), self._autocast(True):
                    view.logits[name] = classifier(view.images01)
                view.logit_scales[name] = classifier.logit_scale
            values = []
            for metric in s.metrics:
                with self.timer.section(metric.key), self._autocast(metric.spec.amp):
                    values.append(metric.compute(view).to(torch.float64))
            n = len(view.images01)
            q = torch.stack(values, 1) if values else torch.empty((n, 0), dtype=torch.float64)
            preds = [view.logits[m].argmax(dim=1) for m in s.task_models]
            p = torch.stack(preds, 1) if preds else torch.empty((n, 0), dtype=torch.int64)
        return q, p

    def _autocast(self, allowed: bool) -> Any:
        import torch

        enabled = allowed and self.amp is not None
        return torch.autocast(self.device.type, dtype=self.amp, enabled=enabled)


class _Run:
    """One session of a run: pending shards in, parts out, then the final table."""

    def __init__(
        self, config: ScoreConfig, store: RunStore, work: list[WorkItem], scorers: Scorers,
        device: Any,
    ) -> None:  # fmt: skip
        self.config, self.store, self.work, self.scorers, self.device = (
            config, store, work, scorers, device,
        )  # fmt: skip
        self.batch_size = default_batch_size(config, device)
        self.scorer = BatchScorer(config, scorers, device, self.batch_size)
        self.amp, self.timer = self.scorer.amp, self.scorer.timer
        renders = max(len(w.renders) for w in work)
        self.images_per_batch = max(1, self.batch_size // renders)
        per_shard = config.shard_images or max(1, 8192 // renders)
        self.shards = [
            (lo, min(lo + per_shard, len(work))) for lo in range(0, len(work), per_shard)
        ]
        self.timings: dict[str, float] = defaultdict(float)
        self.rows_scored = 0
        self.failures = FailureWatch(len(work))

    def write_manifest(self, status: str, **extra: Any) -> None:
        from iqalign.scoring import manifest as m

        s = self.scorers
        self.store.write_manifest({
            "format": "iqalign-scores/1", "status": status,
            "fingerprint": self.config.fingerprint(), "config": self.config.to_dict(),
            "scores_path": "shards/",
            "read_with": "pandas.read_parquet(DIR / 'shards') or iqalign.scoring.read_scores(DIR)",
            "columns": m.column_entries(s.metrics, s.classifiers),
            "models": m.model_entries(s.classifiers, s.task_models),
            "pipeline": m.pipeline_entry(self.config, self.work),
            "versions": m.package_versions(),
            "device": str(self.device), "precision": str(self.amp or "fp32"),
            "counts": {"images": len(self.work), "shards": len(self.shards)}, **extra,
        })  # fmt: skip

    def score_pending(self, progress: Progress | None) -> None:
        """Score every shard that is not on disk yet."""
        done = self.store.done_parts()
        pending = [k for k in range(len(self.shards)) if k not in done]
        total = sum(len(r.variants) for w in self.work for r in w.renders)
        done_rows = total - sum(self._shard_rows(k) for k in pending)
        if progress:
            progress.start(total, done_rows)
        batches = [
            (k, list(range(lo, min(lo + self.images_per_batch, self.shards[k][1]))))
            for k in pending
            for lo in range(self.shards[k][0], self.shards[k][1], self.images_per_batch)
        ]
        buffer = ShardBuffer(self)
        began = waited = time.perf_counter()
        in_flight = None
        for (shard, _), batch in zip(batches, self._loader([b for _, b in batches]), strict=True):
            self.timings["wait_s"] += time.perf_counter() - waited
            # Queue this batch's work on the device before collecting the previous one:
            # the device never idles while the host copies results and writes shards.
            launched = (shard, batch, *self.scorer.launch(batch))
            if in_flight is not None:
                self._deliver(buffer, in_flight, progress)
            in_flight = launched
            waited = time.perf_counter()
        if in_flight is not None:
            self._deliver(buffer, in_flight, progress)
        if buffer.shard is not None:
            buffer.flush()
        self.timer.collect(wait=True)
        self.timings["scoring_s"] += time.perf_counter() - began
        if progress:
            progress.close()

    def _deliver(self, buffer: ShardBuffer, launched: tuple, progress: Progress | None) -> None:
        shard, batch, q, p = launched
        values = q.cpu().numpy()  # waits for this batch only; the next one is queued
        preds = p.cpu().numpy().astype(np.int64)
        self.timer.collect()
        if buffer.shard is not None and buffer.shard != shard:
            buffer.flush()
        buffer.shard = shard
        rows = buffer.add(batch, values, preds)
        self._watch(batch)
        if progress:
            progress.advance(rows)

    def _watch(self, batch: dict[str, Any]) -> None:
        """Count this batch's failures; on a failing run, record why in the manifest, stop."""
        try:
            self.failures.record(len(batch["items"]), [(k, m) for _, m, k in batch["skipped"]])
        except ScoringStoppedError as err:
            self.write_manifest("stopped", stopped=str(err), failures=self.failures.summary())
            raise

    def _shard_rows(self, k: int) -> int:
        lo, hi = self.shards[k]
        return sum(len(r.variants) for w in self.work[lo:hi] for r in w.renders)

    def _loader(self, batches: list[list[int]]) -> Any:
        from torch.utils.data import DataLoader

        workers = self.config.workers
        if workers < 0:
            workers = min(8 if self.device.type == "cpu" else 16, os.cpu_count() or 1)
        return DataLoader(
            RenderDataset(self.work, self.config.seed, self.config.jpeg_quality,
                          self.config.corruption_impl),
            batch_sampler=batches, collate_fn=collate, num_workers=workers,
            pin_memory=self.device.type == "cuda", worker_init_fn=_worker_init,
            prefetch_factor=4 if workers else None,
        )  # fmt: skip

    def finish(self, started: float) -> RunResult:
        """Fit run-wide estimators, write the final shards and the manifest."""
        from iqalign.scoring.finalize import finalize_run

        begin = time.perf_counter()
        fits, skipped, rows = finalize_run(self.store, self.config, self.scorers)
        timings = {
            **{k: round(v, 3) for k, v in self.timings.items()},
            "finalize_s": round(time.perf_counter() - begin, 3),
            "total_s": round(time.perf_counter() - started, 3),
            "rows_scored_this_session": self.rows_scored,
            "per_scorer_s": {k: round(v, 3) for k, v in self.timer.totals.items()},
        }
        if self.timings.get("scoring_s"):
            timings["rows_per_s"] = round(self.rows_scored / self.timings["scoring_s"], 2)
        self.write_manifest(
            "complete", estimators=fits, timings=timings, failures=self.failures.summary(),
            counts={"images": len(self.work), "shards": len(self.shards), "rows": rows,
                    "skipped": len(skipped)},
        )  # fmt: skip
        self.store.remove_parts()
        return RunResult(self.store.root, "complete", rows, len(skipped), timings)


def _worker_init(_: int) -> None:
    """One thread per worker: the workers are the parallelism."""
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)
