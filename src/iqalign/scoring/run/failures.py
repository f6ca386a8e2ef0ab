"""Failures that are counted, and a run that stops when they stop being rare.

A run is never stopped by one image. A picture that cannot be made (an unreadable file, a
corruption that raises) has no rows and a line in ``skipped.csv``; a metric that fails on
one picture (raises, or gives NaN or infinity -- BRISQUE on a flat image) leaves NaN in
that cell and a line in ``failures.csv``. The same error on every image is a broken run,
though, and finishing it "complete" would hide that. :class:`FailureWatch` counts failures
by *kind* -- ``decode: ...``, ``corrupt: <corruption>: <exception>`` or ``metric <key>:
<reason>`` -- and stops the run (:class:`~iqalign.errors.ScoringStoppedError`) when

* the first ``first`` pictures (or all of them, in a smaller run) could not be made, or
* one kind has failed on more than ``fraction`` (``--max-failures``, default 1%) of the
  run's pictures -- and on more than ``min(first, pictures / 4)``, so a small run is not
  stopped by one odd file (``--max-failures 0`` tolerates none).

Shards finished before the stop stay on disk; rerunning the command resumes.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from iqalign.errors import ScoringStoppedError

__all__ = ["FIRST_ITEMS", "MAX_FRACTION", "FailureWatch"]

FIRST_ITEMS = 20
MAX_FRACTION = 0.01


@dataclass
class FailureWatch:
    """Counts failures per kind and raises when a run is failing as a whole."""

    total_items: int  # pictures the run scores
    first: int = FIRST_ITEMS
    fraction: float = MAX_FRACTION
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    succeeded: int = 0

    @property
    def limit(self) -> int:
        """Failures of one kind tolerated before the run stops."""
        if self.fraction == 0:
            return 0
        floor = min(self.first, math.ceil(self.total_items / 4))
        return max(floor, math.ceil(self.fraction * self.total_items))

    def record(self, succeeded: int, failures: list[tuple[str, str]]) -> None:
        """Note one batch: pictures made, and each failure's (kind, message) -- failed
        pictures and failed cells alike (only failed pictures count as not made)."""
        self.succeeded += succeeded
        self.seen += succeeded + sum(not kind.startswith("metric ") for kind, _ in failures)
        for kind, message in failures:
            self.counts[kind] += 1
            self.examples.setdefault(kind, message)
        self._check()

    def summary(self) -> dict[str, int]:
        """``{kind: count}``, most frequent first (for the manifest)."""
        return dict(self.counts.most_common())

    def _check(self) -> None:
        if not self.counts:
            return
        kind, count = self.counts.most_common(1)[0]
        opening = min(self.first, self.total_items)
        if self.succeeded == 0 and self.seen >= opening:
            self._stop(kind, f"the first {self.seen} pictures all failed")
        if count > self.limit:
            self._stop(kind, f"{count} pictures failed the same way (limit {self.limit}: "
                             f"--max-failures {self.fraction:g} of {self.total_items} "
                             "pictures)")  # fmt: skip

    def _stop(self, kind: str, what: str) -> Any:
        raise ScoringStoppedError(
            f"scoring stopped: {what}; most frequent: {kind} ({self.counts[kind]}x), e.g. "
            f"{self.examples[kind]}. Shards finished so far are kept: fix the cause and rerun "
            "the same command to resume (or raise --max-failures to accept more failures)."
        )
