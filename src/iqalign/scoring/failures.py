"""Per-image failures that are counted, and a run that stops when they stop being rare.

One unreadable file in a million is a skipped row (``skipped.csv``); the same error on
every image is a broken run, and finishing it "complete" with every corrupted row missing
would hide that. :class:`FailureWatch` counts failures by *(stage, reason)* -- stage is
``decode`` or ``corrupt``, reason the corruption and the exception's type -- and stops the
run (:class:`~iqalign.errors.ScoringStoppedError`) when

* the first ``first`` items scored (or all of them, in a smaller run) all failed, or
* one (stage, reason) has failed on more than ``fraction`` of the run's images (and on
  more than ``first`` images, so a small run is not stopped by one odd file).

Shards finished before the stop stay on disk; rerunning the command resumes.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from iqalign.errors import ScoringStoppedError

__all__ = ["FIRST_ITEMS", "MAX_FRACTION", "FailureWatch", "failure"]

FIRST_ITEMS = 20
MAX_FRACTION = 0.01


def failure(stage: str, reason: str, message: str) -> dict[str, str]:
    """What a renderer returns for an item it could not render."""
    return {"skip": message, "stage": stage, "reason": reason}


@dataclass
class FailureWatch:
    """Counts failures per (stage, reason) and raises when a run is failing as a whole."""

    total_items: int
    first: int = FIRST_ITEMS
    fraction: float = MAX_FRACTION
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    succeeded: int = 0

    @property
    def limit(self) -> int:
        """Failures of one reason tolerated before the run stops."""
        return max(self.first, math.ceil(self.fraction * self.total_items))

    def record(self, succeeded: int, failures: list[tuple[str, str]]) -> None:
        """Note one batch: how many items rendered, and each failure's (key, message)."""
        self.seen += succeeded + len(failures)
        self.succeeded += succeeded
        for key, message in failures:
            self.counts[key] += 1
            self.examples.setdefault(key, message)
        self._check()

    def summary(self) -> dict[str, int]:
        """``{"stage: reason": count}``, most frequent first (for the manifest)."""
        return dict(self.counts.most_common())

    def _check(self) -> None:
        if not self.counts:
            return
        key, count = self.counts.most_common(1)[0]
        opening = min(self.first, self.total_items)
        if self.succeeded == 0 and self.seen >= opening:
            self._stop(key, f"the first {self.seen} images all failed")
        if count > self.limit:
            self._stop(key, f"{count} images failed with the same reason (limit {self.limit}: "
                            f"{self.fraction:.0%} of {self.total_items} images)")  # fmt: skip

    def _stop(self, key: str, what: str) -> Any:
        raise ScoringStoppedError(
            f"scoring stopped: {what}; most frequent: {key} ({self.counts[key]}x), e.g. "
            f"{self.examples[key]}. Shards finished so far are kept: fix the cause and rerun "
            "the same command to resume."
        )
