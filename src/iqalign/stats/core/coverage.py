"""Which intervals reached their level: the coverage measured on clustered tables with
known truth (``tests/stats/calibration_study.py``, run by ``benchmarks/calibrate_stats.py``,
which rewrites ``coverage_measured.json`` beside this module and the table in
docs/stats.md). The report and the CLI print an interval as "95%" only if its kind
covered at least :data:`COVERAGE_TARGET` of the time."""

from __future__ import annotations

import functools
import json
from pathlib import Path

__all__ = ["COVERAGE_TARGET", "measured_coverage"]

COVERAGE_TARGET = 0.93  # a "95%" interval is printed as such only if it covered this often


@functools.cache
def _measured() -> dict[str, float]:
    path = Path(__file__).with_name("coverage_measured.json")
    return json.loads(path.read_text()) if path.exists() else {}


def measured_coverage(key: str) -> float | None:
    """The lowest measured coverage of an interval kind over 200 and 500 image IDs, as
    written by ``benchmarks/calibrate_stats.py``: ``"all:pearson"``, ``"severity:kendall"``,
    ``"auc:delong"``, ...; None if it was not measured.

    Examples
    --------
    >>> measured_coverage("no-such-interval") is None
    True
    """
    return _measured().get(key)
