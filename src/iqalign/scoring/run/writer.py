"""The run folder: atomic Parquet shards, ``manifest.json``, ``skipped.csv``, resume.

Layout of ``--out DIR``::

    DIR/manifest.json        settings, versions, seeds, column orientation, weights, timings
    DIR/skipped.csv          pictures that could not be made (unreadable file, failed
                             corruption): image_id, corruption, severity, path, stage, reason
    DIR/failures.csv         NaN cells: a metric that failed on one picture (image_id,
                             corruption, severity, path, metric, reason, message)
    DIR/shards/part-*.parquet  the scores table: pandas.read_parquet(DIR / "shards")
    DIR/probs/<model>/part-*.npy  with --save-probs: each task model's log-softmax per row,
                             float16 (rows, classes), in the row order of the same shard
    DIR/parts/part-*.parquet   work in progress (removed when the run completes)

Every shard covers a fixed range of source images, so a shard's content does not depend
on when or how often the run was interrupted. A shard is written to a temporary name and
renamed, so it is complete or absent -- after ``kill -9`` too. Re-running the same command
skips the parts that exist, scores the rest, then *finalises*: accuracy estimators that
need the whole run (ATC, DoC) are fitted on all clean rows, and every part is rewritten
into ``shards/`` with its final columns. Skipped pictures and failed cells travel inside
their part's Parquet metadata until ``skipped.csv`` and ``failures.csv`` are written at the
end.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign import scores
from iqalign.errors import DataSourceError, RunMismatchError, ScoresTableError
from iqalign.files import write_atomic
from iqalign.scores import read_manifest

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["RunStore", "read_manifest", "read_scores"]

_SKIPPED_KEY = b"iqalign.skipped"
_FAILURES_KEY = b"iqalign.failures"
SKIPPED_FIELDS = ("image_id", "corruption", "severity", "path", "stage", "reason")
FAILURE_FIELDS = ("image_id", "corruption", "severity", "path", "metric", "reason", "message")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _atomic_write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class RunStore:
    """One output folder (see the module notes)."""

    def __init__(self, out: str | Path) -> None:
        self.root = Path(out).expanduser()
        self.manifest_path = self.root / scores.MANIFEST_NAME
        self.skipped_path = self.root / "skipped.csv"
        self.failures_path = self.root / "failures.csv"
        self.parts = self.root / "parts"
        self.shards = self.root / "shards"
        self.probs = self.root / "probs"

    def open(self, fingerprint: str) -> str:
        """Create or reopen the folder: ``"new"``, ``"resume"`` or ``"complete"``."""
        if self.root.exists() and not self.root.is_dir():
            raise DataSourceError(f"--out {str(self.root)!r} exists and is not a folder")
        manifest = read_manifest(self.root) if self.manifest_path.is_file() else None
        if manifest is None:
            # A run that failed during setup leaves at most an empty parts/ folder.
            leftovers = [p for p in self.root.glob("*") if p != self.parts or any(p.iterdir())]
            if leftovers:
                raise RunMismatchError(
                    f"--out {str(self.root)!r} is not empty and holds no iqalign run "
                    f"(found {leftovers[0].name!r}); choose an empty or new folder"
                )
            return "new"
        if manifest.get("fingerprint") != fingerprint:
            raise RunMismatchError(
                f"--out {str(self.root)!r} holds a run with other settings "
                f"({_config_diff(manifest.get('config', {}))}); resume it with the same "
                "settings, or choose a new --out folder"
            )
        if manifest.get("status") == "complete" and not self.parts.exists():
            return "complete"
        return "resume"

    def part_path(self, index: int) -> Path:
        """Where part ``index`` lives."""
        return self.parts / f"part-{index:06d}.parquet"

    def probs_path(self, slug: str, index: int) -> Path:
        """Where part ``index``'s log-probabilities of model ``slug`` live."""
        return self.probs / slug / f"part-{index:06d}.npy"

    def write_probs(self, index: int, probs: dict[str, Any]) -> None:
        """Write a part's log-probabilities, one file per model, atomically -- before the
        part itself, so a part on disk always has its probabilities."""
        for slug, array in probs.items():
            path = self.probs_path(slug, index)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, partial(_save_contiguous_npy, array))

    def done_parts(self) -> set[int]:
        """Indices of the parts already written (complete by construction)."""
        if not self.parts.is_dir():
            return set()
        return {int(p.stem.split("-")[1]) for p in self.parts.glob("part-*.parquet")}

    def write_part(
        self, index: int, table: pa.Table, skipped: list[dict[str, Any]],
        failures: list[dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        """Write one part atomically, its skipped pictures and failed cells in its metadata."""
        import pyarrow.parquet as pq

        metadata = dict(table.schema.metadata or {})
        metadata[_SKIPPED_KEY] = json.dumps(skipped).encode()
        metadata[_FAILURES_KEY] = json.dumps(failures or []).encode()
        final = table.replace_schema_metadata(metadata)
        write_atomic(self.part_path(index), lambda tmp: pq.write_table(final, tmp))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write ``manifest.json`` atomically (``updated`` is stamped here)."""
        manifest = {**manifest, "updated": _now()}
        self.parts.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    def read_part_columns(self, columns: list[str]) -> pa.Table:
        """Selected columns of every part (for fitting run-wide estimators)."""
        import pyarrow.dataset as ds

        return ds.dataset(str(self.parts), format="parquet").to_table(columns=columns)

    def finalize(
        self, transform: Callable[[pa.Table], pa.Table], skipped: list[dict[str, Any]] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Rewrite every part into ``shards/`` through ``transform``; write ``skipped.csv``
        (``skipped`` first, then the parts' skipped pictures) and ``failures.csv``; return
        their lines."""
        import pyarrow.parquet as pq

        self.shards.mkdir(parents=True, exist_ok=True)
        skipped = list(skipped or [])
        failures: list[dict[str, Any]] = []
        for part in sorted(self.parts.glob("part-*.parquet")):
            table = pq.read_table(part)
            metadata = table.schema.metadata or {}
            skipped += json.loads(metadata.get(_SKIPPED_KEY, b"[]"))
            failures += json.loads(metadata.get(_FAILURES_KEY, b"[]"))
            final = transform(table.replace_schema_metadata(None))
            write_atomic(self.shards / part.name, partial(pq.write_table, final))
        _write_csv(self.skipped_path, SKIPPED_FIELDS, skipped)
        _write_csv(self.failures_path, FAILURE_FIELDS, failures)
        return skipped, failures

    def remove_parts(self) -> None:
        """Drop the work-in-progress parts once the shards and manifest are final."""
        shutil.rmtree(self.parts, ignore_errors=True)


def _save_contiguous_npy(array: Any, path: Path) -> None:
    """:func:`_save_npy` of ``array`` as a C-contiguous NumPy array."""
    import numpy as np

    _save_npy(path, np.ascontiguousarray(array))


def _save_npy(path: Path, array: Any) -> None:
    import numpy as np

    with open(path, "wb") as handle:  # a file object: np.save would append ".npy" to a name
        np.save(handle, array)


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write_text(path, buffer.getvalue())


def _config_diff(old: dict[str, Any]) -> str:
    keys = ("data", "layout", "models", "metrics", "corruptions", "severities", "mixture", "seed")
    shown = ", ".join(f"{k}={old.get(k)!r}" for k in keys if k in old)
    return f"it has {shown}" if shown else "no readable settings"


def read_scores(run_dir: str | Path) -> pd.DataFrame:
    """The scores table of a completed run; ``df.attrs["manifest"]`` holds its manifest
    (:func:`iqalign.scores.read_run` gives the table with its column and model records).

    Parameters
    ----------
    run_dir
        The run folder (``--out`` of ``iqalign score``).

    Returns
    -------
    pandas.DataFrame
        The scores table.

    Raises
    ------
    ScoresNotFoundError
        Not a run folder (no ``manifest.json`` or no shards).
    ScoresTableError
        The run is not complete (re-run the same command to finish), or unreadable.
    """
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "complete":
        raise ScoresTableError(
            f"{str(run_dir)!r}: the run is not complete (status {manifest.get('status')!r}); "
            "re-run the same 'iqalign score' command to finish it"
        )
    frame = scores.load_scores(Path(run_dir).expanduser() / "shards")
    frame.attrs["manifest"] = manifest
    return frame
