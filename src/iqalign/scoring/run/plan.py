"""What a run will do, decided before any model loads: :func:`plan_run` -> :class:`RunPlan`.

Planning reads the source (images, labels, ``--clean`` pairing, ``--limit``) and the run
folder (fingerprint, the parts already on disk), checks what can be checked without
weights (names, clean images for mixtures), and fixes the work: one :class:`WorkItem` per
source image, the shards (ranges of work items, one part each) and the loader batches of
the shards not on disk yet (:attr:`RunPlan.pending`). It scores nothing and loads no
model. Every backend executes the same plan (:mod:`.engine`, :mod:`.ray_backend`), so a
batch -- and every number in the table -- is the same wherever it is scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign.errors import ScoringConfigError
from iqalign.scores import CLEAN
from iqalign.scoring.corruptions.pictures import parse_corruptions, parse_severities
from iqalign.scoring.data.sources import ImageItem, load_paired_source, load_source
from iqalign.scoring.metrics.in_workers import WorkerMetrics
from iqalign.scoring.run.config import ScoreConfig
from iqalign.scoring.run.pipeline import RenderSettings, WorkItem, plan_work
from iqalign.scoring.run.writer import RunStore

if TYPE_CHECKING:
    import torch

__all__ = [
    "PendingBatch",
    "RunPlan",
    "default_batch_size",
    "load_items",
    "plan_run",
    "resolve_device",
]

# Rows a shard holds at most by default (--shard-images sets it in source images).
_SHARD_ROWS = 8192


@dataclass(frozen=True)
class PendingBatch:
    """One loader batch still to score: its shard and its work item indices."""

    shard: int
    items: tuple[int, ...]


@dataclass(frozen=True)
class RunPlan:
    """A run, planned: what to score, in which shards and batches, and what is done.

    ``status``: ``"new"``, ``"resume"`` or ``"complete"`` (a complete run plans nothing).
    ``device``: where the scorers run, as ``str(torch.device)`` (the manifest records it).
    ``shards``: per shard, its ``(first, end)`` range of work items; ``pending``: the
    batches of the shards not on disk, in shard and item order. ``rows_total`` counts the
    table's rows (one per variant of each picture), ``rows_done`` those already written.
    """

    config: ScoreConfig
    out: Path
    status: str
    device: str
    work: tuple[WorkItem, ...]
    unpaired: tuple[dict[str, str], ...]
    has_labels: bool
    has_clean: bool
    batch_size: int
    shards: tuple[tuple[int, int], ...]
    pending: tuple[PendingBatch, ...]
    rows_total: int
    rows_done: int

    @property
    def store(self) -> RunStore:
        """The run folder (a path holder: every call sees the same files)."""
        return RunStore(self.out)

    @property
    def pictures(self) -> int:
        """Pictures the whole run scores (the failure threshold's denominator)."""
        return sum(len(w.renders) for w in self.work)

    @property
    def device_type(self) -> str:
        """``"cuda"`` or ``"cpu"`` (the device name without its index)."""
        return self.device.partition(":")[0]

    def rows_of(self, items: Iterable[int]) -> int:
        """Table rows of some work items (every variant of every picture)."""
        return _rows(self.work, items)

    def render_settings(self, metrics: list[Any]) -> RenderSettings:
        """How the loader's workers render and score pictures, for the run's metrics."""
        config = self.config
        return RenderSettings(
            config.seed, config.jpeg_quality, config.corruption_impl,
            need_ref=any(m.spec.needs_reference for m in metrics),
            cpu_metrics=WorkerMetrics.of(metrics),
        )  # fmt: skip


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScoringConfigError(f"device {name!r}: CUDA is not available here; use --device cpu")
    return torch.device(name)


def default_batch_size(config: ScoreConfig, device: torch.device | str) -> int:
    """Rows per forward pass: ``--batch-size``, else 256 on CUDA and 8 on the CPU."""
    kind = getattr(device, "type", None) or str(device).partition(":")[0]
    return config.batch_size or (256 if kind == "cuda" else 8)


def plan_run(config: ScoreConfig, device: torch.device | str | None = None) -> RunPlan:
    """Plan ``config``'s run: the source read, the run folder checked, nothing scored.

    ``device``: the device the backend scores on (None: ``config.device`` resolved here).
    Raises the errors a run would raise before its first image: a folder holding another
    run, a source that cannot be read, unknown metric or model names, mixtures without
    clean images.

    Parameters
    ----------
    config
        The run's settings (:class:`~iqalign.scoring.ScoreConfig`).
    device
        The device the backend scores on; ``None``: ``config.device``, resolved here.

    Returns
    -------
    RunPlan
        The work items, shards, pending batches (what a resumed run still has to score),
        rows in all and rows done.
    """
    from iqalign.scoring.run.prepare import resolve_names

    store = RunStore(config.out)
    status = store.open(config.fingerprint())
    if device is None:
        device = resolve_device(config.device)
    items, unpaired = load_items(config)
    has_clean = any(i.corruption == CLEAN for i in items)
    if config.mixture and not has_clean:
        raise ScoringConfigError(
            "mixture: needs clean images to corrupt; this source has none (an ImageNet-C "
            "folder gets them with --clean IMAGENET_VAL_DIR)"
        )
    resolve_names(config)  # unknown names fail here, before any weights load
    work = tuple(plan_work(
        items, parse_corruptions(config.corruptions), parse_severities(config.severities),
        config.mixture, parse_severities(config.mixture_severities), config.seed,
    ))  # fmt: skip
    batch_size = default_batch_size(config, device)
    shards = _shards(config, work)
    done = set(range(len(shards))) if status == "complete" else store.done_parts()
    pending = _pending(work, shards, done, batch_size)
    total = _rows(work, range(len(work)))
    return RunPlan(
        config=config, out=store.root, status=status, device=str(device), work=work,
        unpaired=tuple(unpaired), has_labels=all(i.label >= 0 for i in items),
        has_clean=has_clean, batch_size=batch_size, shards=shards, pending=pending,
        rows_total=total, rows_done=total - sum(_rows(work, b.items) for b in pending),
    )  # fmt: skip


def _rows(work: tuple[WorkItem, ...], items: Iterable[int]) -> int:
    return sum(len(r.variants) for i in items for r in work[i].renders)


def _shards(config: ScoreConfig, work: tuple[WorkItem, ...]) -> tuple[tuple[int, int], ...]:
    renders = max(len(w.renders) for w in work)
    per_shard = config.shard_images or max(1, _SHARD_ROWS // renders)
    return tuple((lo, min(lo + per_shard, len(work))) for lo in range(0, len(work), per_shard))


def _pending(
    work: tuple[WorkItem, ...], shards: tuple[tuple[int, int], ...], done: set[int],
    batch_size: int,
) -> tuple[PendingBatch, ...]:  # fmt: skip
    """The loader batches of the shards not on disk: whole source images, each with all of
    its pictures, about ``batch_size`` pictures a batch."""
    step = max(1, batch_size // max(len(w.renders) for w in work))
    return tuple(
        PendingBatch(k, tuple(range(lo, min(lo + step, hi))))
        for k, (first, hi) in enumerate(shards)
        if k not in done
        for lo in range(first, hi, step)
    )


def load_items(config: ScoreConfig) -> tuple[list[ImageItem], list[dict[str, str]]]:
    """The source's images (paired with clean ones under ``--clean``), ``--limit`` applied.

    Returns the items and the unpaired files left out (``--unpaired skip``).
    """
    if config.clean is None:
        items = load_source(config.data, config.layout, config.labels)
        return (items[: config.limit] if config.limit else items), []
    items, unpaired = load_paired_source(config.data, config.clean, config.labels,
                                         config.unpaired)  # fmt: skip
    if config.limit:  # the first N image IDs, each with all of its files
        keep = set(list(dict.fromkeys(i.image_id for i in items))[: config.limit])
        items = [i for i in items if i.image_id in keep]
    return items, unpaired
