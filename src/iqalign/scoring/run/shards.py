"""Collecting one shard's batch results into a scores-table part.

Batch results arrive as arrays over *pictures*; a picture that several rows share (the
grid's clean image and the clean rows of mixtures) fills each of those rows. A picture
that could not be made has no rows (``skipped.csv`` lists it); a cell whose metric failed
is NaN (``failures.csv`` lists it).
The expansion to rows, the labels and the correctness against every acceptable label are
done here, once per shard, as array operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from iqalign.scores import performance_column, prediction_column

if TYPE_CHECKING:
    import pyarrow as pa

    from iqalign.scoring.run.pipeline import WorkItem
    from iqalign.scoring.run.prepare import Scorers
    from iqalign.scoring.run.writer import RunStore

__all__ = ["ColumnPlan", "ScoredBatch", "ShardWriter", "table_schema"]


@dataclass(frozen=True)
class ColumnPlan:
    """The scores table's columns: per task model its slug, per metric its column."""

    model_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]

    @classmethod
    def of(cls, scorers: Scorers) -> ColumnPlan:
        """The columns of a run's scorers, in the table's order."""
        return cls(
            tuple(scorers.classifiers[name].column for name in scorers.task_models),
            tuple(m.column for m in scorers.metrics),
        )

    def schema(self) -> pa.Schema:
        """The scores-table schema (also for shards whose images were all skipped)."""
        return table_schema(self)


def table_schema(columns: ColumnPlan) -> pa.Schema:
    """The scores-table schema of a run's columns."""
    import pyarrow as pa

    fields = [
        pa.field("image_id", pa.string()),
        pa.field("label", pa.int64()),
        pa.field("corruption", pa.string()),
        pa.field("severity", pa.int64()),
        pa.field("variant", pa.string()),
    ]
    for column in columns.model_columns:
        fields += [
            pa.field(prediction_column(column), pa.int64()),
            pa.field(performance_column(column), pa.int64()),
        ]
    fields += [pa.field(column, pa.float64()) for column in columns.metric_columns]
    return pa.schema(fields)


@dataclass
class ScoredBatch:
    """One loader batch, scored: what a shard is made of (picklable, for Ray).

    ``pic_item``/``pic_render``: per picture, its work item and its index in that item's
    renders; ``values``/``preds``: per picture, every metric column and task model;
    ``failed``: ``(item, render, stage, reason, message)`` of each picture that could not
    be made (its rows are skipped); ``cell_failures``: ``(picture, metric, reason,
    message)`` of each NaN cell; ``cpu_s``: the workers' CPU seconds per stage.
    """

    items: list[int]
    pic_item: np.ndarray
    pic_render: np.ndarray
    values: np.ndarray
    preds: np.ndarray
    failed: list[tuple[int, int, str, str, str]]
    cell_failures: list[tuple[int, str, str, str]]
    cpu_s: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    probs: dict[str, np.ndarray] = field(default_factory=dict)  # --save-probs, per picture

    @property
    def pictures(self) -> int:
        """Pictures scored."""
        return len(self.pic_item)

    def rows(self, work: Sequence[WorkItem]) -> int:
        """Rows this batch settles: those it fills and those of its failed pictures."""
        filled = sum(len(work[i].renders[r].variants) for i, r in self._pairs())
        lost = sum(len(work[i].renders[r].variants) for i, r, *_ in self.failed)
        return filled + lost

    def _pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.pic_item.tolist(), self.pic_render.tolist(), strict=True))


class ShardWriter:
    """Writes one shard's scored batches as one atomic part (the local and Ray sinks' end)."""

    def __init__(self, store: RunStore, work: Sequence[WorkItem], columns: ColumnPlan) -> None:
        self.store, self.work, self.columns = store, work, columns

    def write(self, shard: int, batches: list[ScoredBatch]) -> int:
        """Write shard ``shard`` from its batches (in item order); return its row count."""
        pairs = [pair for b in batches for pair in b._pairs()]
        values = [b.values for b in batches]
        preds = [b.preds for b in batches]
        table = _rows_table(self.work, self.columns, pairs, values, preds)
        skipped, failures = _failure_records(self.work, batches)
        if any(b.probs for b in batches):
            self.store.write_probs(shard, self._row_probs(batches, pairs))
        self.store.write_part(shard, table, skipped, failures)
        return table.num_rows

    def _row_probs(
        self, batches: list[ScoredBatch], pairs: list[tuple[int, int]]
    ) -> dict[str, np.ndarray]:
        """Each model's log-probabilities per row (a picture repeated for its variants)."""
        work = self.work
        take = np.repeat(np.arange(len(pairs)), [len(work[i].renders[r].variants)
                                                 for i, r in pairs])  # fmt: skip
        with_probs = [b for b in batches if b.probs]  # a batch of failed pictures has none
        return {slug: np.concatenate([b.probs[slug] for b in with_probs])[take]
                for slug in with_probs[0].probs}  # fmt: skip


def _rows_table(
    work: Sequence[WorkItem], columns: ColumnPlan, pairs: list[tuple[int, int]],
    values: list[np.ndarray], preds: list[np.ndarray],
) -> pa.Table:  # fmt: skip
    """Expand pictures to rows (a picture may fill several variants) as array operations."""
    import pyarrow as pa

    renders = [work[i].renders[r] for i, r in pairs]
    items = [work[i].item for i, _ in pairs]
    take = np.repeat(np.arange(len(renders)), [len(r.variants) for r in renders])
    n_metrics, n_models = len(columns.metric_columns), len(columns.model_columns)
    q = np.concatenate(values) if values else np.empty((0, n_metrics))
    p = np.concatenate(preds) if preds else np.empty((0, n_models), np.int64)
    data: dict[str, Any] = {
        "image_id": [items[k].image_id for k in take],
        "label": [items[k].label for k in take],
        "corruption": [renders[k].corruption for k in take],
        "severity": [renders[k].severity for k in take],
        "variant": [v for r in renders for v in r.variants],
    }
    accepted = _acceptable_matrix(items)[take] if len(take) else np.empty((0, 1), np.int64)
    for j, column in enumerate(columns.model_columns):
        predicted = p[take, j]
        data[prediction_column(column)] = predicted
        hit = (accepted == predicted[:, None]).any(1)
        data[performance_column(column)] = hit.astype(np.int64)
    for j, column in enumerate(columns.metric_columns):
        data[column] = q[take, j]
    return pa.table(data, schema=columns.schema())


def _failure_records(
    work: Sequence[WorkItem], batches: list[ScoredBatch]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``skipped.csv`` lines (pictures not scored) and ``failures.csv`` lines (NaN cells)."""

    def where(item: int, render: int) -> dict[str, Any]:
        w, r = work[item], work[item].renders[render]
        return {"image_id": w.item.image_id, "corruption": r.corruption,
                "severity": r.severity, "path": r.path or w.item.path}  # fmt: skip

    skipped = [
        {**where(item, render), "stage": stage, "reason": message}
        for b in batches for item, render, stage, _, message in b.failed
    ]  # fmt: skip
    failures = [
        {**where(int(b.pic_item[pic]), int(b.pic_render[pic])), "metric": metric,
         "reason": reason, "message": message}
        for b in batches for pic, metric, reason, message in b.cell_failures
    ]  # fmt: skip
    return skipped, failures


def _acceptable_matrix(items: list[Any]) -> np.ndarray:
    """Acceptable labels per picture, padded with -1: ``(pictures, K)``."""
    width = max((len(i.acceptable) for i in items), default=1) or 1
    rows = [list(i.acceptable) + [-1] * (width - len(i.acceptable)) for i in items]
    return np.asarray(rows, dtype=np.int64).reshape(-1, width)
