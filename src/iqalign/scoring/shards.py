"""Collecting one shard's batch results into a scores-table part.

Batch results arrive as arrays over *rendered pictures*; a picture that several rows
share (the grid's clean image and the clean rows of mixtures) fills each of those rows.
The expansion to rows, the labels and the correctness against every acceptable label are
done here, once per shard, as array operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from iqalign.scores import performance_column, prediction_column

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ShardBuffer", "table_schema"]


def table_schema(run: Any) -> pa.Schema:
    """The scores-table schema of a run (also for shards whose images were all skipped)."""
    import pyarrow as pa

    fields = [
        pa.field("image_id", pa.string()),
        pa.field("label", pa.int64()),
        pa.field("corruption", pa.string()),
        pa.field("severity", pa.int64()),
        pa.field("variant", pa.string()),
    ]
    for name in run.scorers.task_models:
        column = run.scorers.classifiers[name].column
        fields += [
            pa.field(prediction_column(column), pa.int64()),
            pa.field(performance_column(column), pa.int64()),
        ]
    fields += [pa.field(m.column, pa.float64()) for m in run.scorers.metrics]
    return pa.schema(fields)


class ShardBuffer:
    """The batches of the shard being scored, until it is complete."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.shard: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.items: list[int] = []
        self.values: list[np.ndarray] = []
        self.preds: list[np.ndarray] = []
        self.skipped: list[tuple[int, str, str]] = []  # (item, message, stage: reason)

    def add(self, batch: dict[str, Any], values: np.ndarray, preds: np.ndarray) -> int:
        """Keep one batch's results; return how many rows it fills."""
        self.items += batch["items"]
        self.values.append(values)
        self.preds.append(preds)
        self.skipped += batch["skipped"]
        work = self.run.work
        return sum(len(r.variants) for i in batch["items"] for r in work[i].renders)

    def flush(self) -> None:
        """Write the shard as one atomic part."""
        import pyarrow as pa

        assert self.shard is not None
        work = [self.run.work[i] for i in self.items]
        renders = [r for w in work for r in w.renders]
        take = np.repeat(np.arange(len(renders)), [len(r.variants) for r in renders])
        values = np.concatenate(self.values) if self.values else np.empty((0, 0))
        preds = np.concatenate(self.preds) if self.preds else np.empty((0, 0), np.int64)
        data: dict[str, Any] = {
            "image_id": [w.item.image_id for w in work for r in w.renders for _ in r.variants],
            "label": [w.item.label for w in work for r in w.renders for _ in r.variants],
            "corruption": [r.corruption for r in renders for _ in r.variants],
            "severity": [r.severity for r in renders for _ in r.variants],
            "variant": [v for r in renders for v in r.variants],
        }
        accepted = _acceptable_matrix(work)[take] if len(take) else np.empty((0, 1), np.int64)
        scorers = self.run.scorers
        for j, name in enumerate(scorers.task_models):
            column = scorers.classifiers[name].column
            predicted = preds[take, j]
            data[prediction_column(column)] = predicted
            hit = (accepted == predicted[:, None]).any(1)
            data[performance_column(column)] = hit.astype(np.int64)
        for j, metric in enumerate(scorers.metrics):
            data[metric.column] = values[take, j]
        table = pa.table(data, schema=table_schema(self.run))
        skipped = [
            {"image_id": self.run.work[i].item.image_id, "path": self.run.work[i].item.path,
             "reason": reason}
            for i, reason, _ in self.skipped
        ]  # fmt: skip
        self.run.store.write_part(self.shard, table, skipped)
        self.run.rows_scored += table.num_rows
        self._reset()


def _acceptable_matrix(work: list[Any]) -> np.ndarray:
    """Acceptable labels per rendered picture, padded with -1: ``(pictures, K)``."""
    width = max((len(w.item.acceptable) for w in work), default=1) or 1
    rows = []
    for w in work:
        padded = list(w.item.acceptable) + [-1] * (width - len(w.item.acceptable))
        rows += [padded] * len(w.renders)
    return np.asarray(rows, dtype=np.int64).reshape(-1, width)
