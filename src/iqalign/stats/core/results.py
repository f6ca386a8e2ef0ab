"""Shared plumbing of result objects: plain-data views for JSON and one-row frames."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ResultMixin", "percentile_ci", "to_plain"]


def to_plain(value: Any) -> Any:
    """numpy scalars, tuples, frames and nested results as JSON-ready Python values.

    Non-finite floats become ``None`` (JSON has no NaN); results always say why in a note.
    """
    if isinstance(value, ResultMixin):
        return value.to_dict()
    if isinstance(value, pd.DataFrame):
        return [to_plain(row) for row in value.to_dict("records")]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ResultMixin:
    """``to_dict()`` (JSON-ready) and ``to_frame()`` (the scalar fields as one row)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_frame(self) -> pd.DataFrame:
        row: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, pd.DataFrame | ResultMixin):
                continue
            if isinstance(value, tuple) and len(value) == 2 and field.name.endswith("_ci"):
                row[f"{field.name}_low"], row[f"{field.name}_high"] = value
            elif isinstance(value, tuple):
                row[field.name] = "; ".join(str(v) for v in value)
            else:
                row[field.name] = value
        return pd.DataFrame([row])


def percentile_ci(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile bootstrap interval of the finite ``samples`` (NaN if none are finite)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))
