"""Quality metrics that run on the CPU, in the loader workers, beside decoding.

A metric computed per image with numpy (BRISQUE as published, any future numpy metric)
would cost the main process 16-20 ms per image and a device sync per batch if it ran
there: the GPU would wait for it. Such a metric says so in its spec
(:attr:`~iqalign.scoring.metrics.registry.MetricSpec.worker`: ``"module:function"`` returning a
function of one ``(224, 224, 3)`` uint8 array), and the workers that render a picture
compute it on the very uint8 pixels the GPU metrics get (the engine divides those same
bytes by 255), so its values are the ones a direct call gives. The values travel back
with the batch; the main process only places them in their column.

One image never stops a run: a metric that raises, or returns a value that is not a
finite number, leaves NaN in that cell and a failure (picture, metric, reason) that the
engine writes to ``failures.csv`` and counts against ``--max-failures``.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CellFailure", "WorkerMetrics", "failure_reason"]

#: A metric's value that could not be had: (picture index, metric key, reason, message).
CellFailure = tuple[int, str, str, str]

# Functions built once per process (each worker builds its own on first use).
_BUILT: dict[str, Callable[[np.ndarray], float]] = {}


def failure_reason(err: BaseException) -> str:
    """The short reason a failure is counted under: the exception's type."""
    return type(err).__name__


def _build(loader: str) -> Callable[[np.ndarray], float]:
    if loader not in _BUILT:
        module_name, _, function = loader.partition(":")
        _BUILT[loader] = getattr(importlib.import_module(module_name), function)()
    return _BUILT[loader]


@dataclass(frozen=True)
class WorkerMetrics:
    """The worker-side metrics of a run, by key, in column order (picklable: names only)."""

    entries: tuple[tuple[str, str], ...] = ()  # (metric key, "module:function")

    @property
    def keys(self) -> tuple[str, ...]:
        """The metric keys, in the order of :meth:`compute`'s columns."""
        return tuple(key for key, _ in self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def compute(
        self, pictures: list[np.ndarray]
    ) -> tuple[np.ndarray, list[CellFailure], dict[str, float]]:
        """Every metric on every picture: ``(values (n, m), failures, CPU seconds per key)``."""
        values = np.full((len(pictures), len(self.entries)), np.nan, dtype=np.float64)
        failures: list[CellFailure] = []
        seconds: dict[str, float] = {}
        for column, (key, loader) in enumerate(self.entries):
            begin = time.process_time()
            function = _build(loader)
            for row, picture in enumerate(pictures):
                try:
                    value = float(function(picture))
                except Exception as err:  # one image must not end the run; counted, though
                    failures.append((row, key, failure_reason(err), str(err)[:300]))
                    continue
                if not math.isfinite(value):
                    failures.append((row, key, "non-finite value", f"{key} gave {value}"))
                    continue
                values[row, column] = value
            seconds[key] = time.process_time() - begin
        return values, failures, seconds

    @classmethod
    def of(cls, metrics: list[Any]) -> WorkerMetrics:
        """The worker-side metrics among a run's metric objects, in their column order."""
        return cls(tuple((m.key, m.spec.worker) for m in metrics if m.spec.worker))
