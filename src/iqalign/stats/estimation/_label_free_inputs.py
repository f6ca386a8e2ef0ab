"""Input checks and row-chunked helpers of :mod:`iqalign.stats.estimation.label_free`.

The estimators take plain arrays -- per-image log-softmax values ``(N, K)`` (float16,
float32 or float64), predicted classes ``(models, N)`` and labels ``(N,)`` -- and every
check here raises an :mod:`iqalign.errors` class whose message names the argument, what
came and how to fix it. Large arrays are read in row blocks of about 4 M values, so a
50,000 x 1,000 float16 target set never needs a float64 copy of itself.

Examples
--------
>>> check_log_probs(np.zeros((2, 3)), "target_log_probs").shape
(2, 3)
>>> [s.stop for s in row_blocks(5, 2, block_values=4)]
[2, 4, 5]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from iqalign.errors import DegenerateDataError, ParameterError, ScoresTableError

__all__ = [
    "check_labels",
    "check_log_probs",
    "check_predictions",
    "check_range",
    "need_models",
    "row_blocks",
    "softmax_rows",
]

BLOCK_VALUES = 1 << 22  # values per row block (32 MB once in float64)


def row_blocks(n_rows: int, n_cols: int, block_values: int = BLOCK_VALUES) -> Iterator[slice]:
    """Consecutive row slices of about ``block_values`` values each (at least one row)."""
    step = max(1, block_values // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def softmax_rows(block: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Row softmax of ``scale * block`` in float64 (each row renormalised to sum to 1)."""
    z = np.array(block, dtype=np.float64)
    if scale != 1.0:
        z *= scale
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def check_log_probs(values: object, name: str, *, what: str = "log-softmax values") -> np.ndarray:
    """A 2-D float array (images x classes, >= 1 row, >= 2 classes) with only finite values.

    Returned as given (no copy); the finiteness check runs in row blocks.
    """
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ScoresTableError(
            f"{name} must be a 2-D array of per-image {what} (images x classes, at least "
            f"one image and two classes), got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ScoresTableError(
            f"{name} must be a float array (float16, float32 or float64) of per-image "
            f"{what}, got dtype {arr.dtype}"
        )
    for rows in row_blocks(*arr.shape):
        finite = np.isfinite(arr[rows]).all(axis=1)
        if not finite.all():
            first = rows.start + int(np.argmin(finite))
            count = sum(
                int((~np.isfinite(arr[b])).any(axis=1).sum()) for b in row_blocks(*arr.shape)
            )
            raise ScoresTableError(
                f"{name} has {count} row(s) with non-finite {what} (first: row {first}); "
                "drop those images, or recompute the log-softmax in float32 before storing "
                "it, then estimate again"
            )
    return arr


def check_labels(
    labels: object, n_rows: int, n_classes: int, name: str, rows_of: str
) -> np.ndarray:
    """Integer class indices in ``[0, n_classes)``, one per row of ``rows_of``."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ScoresTableError(
            f"{name} must hold one label per row of {rows_of} ({n_rows} rows), got shape "
            f"{arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ScoresTableError(f"{name} must be integer class indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ScoresTableError(
            f"{name} must be class indices in [0, {n_classes}), got values from {arr.min()} "
            f"to {arr.max()}; labels and {rows_of} must use the same class order"
        )
    return arr.astype(np.intp, copy=False)


def check_predictions(values: object, name: str, *, n_models: int | None = None) -> np.ndarray:
    """Predicted classes as a 2-D integer array ``(models, images)`` with >= 1 image."""
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ScoresTableError(
            f"{name} must be a 2-D array of predicted classes (models x images), got shape "
            f"{arr.shape}; stack one model's pred_<model> column per row, e.g. "
            "np.stack([pred_a, pred_b, pred_c])"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ScoresTableError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if n_models is not None and arr.shape[0] != n_models:
        raise ScoresTableError(
            f"{name} has {arr.shape[0]} models but the source predictions have {n_models}; "
            "pass the same models, in the same order, for the source and the target"
        )
    return arr


def check_range(value: object, name: str, low: float, high: float, why: str) -> float:
    """A finite number in the closed interval ``[low, high]``."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not (low <= float(value) <= high):  # type: ignore[arg-type]
        raise ParameterError(f"{name} must be a number in [{low}, {high}] ({why}), got {value!r}")
    return float(value)  # type: ignore[arg-type]


def need_models(n_models: int, minimum: int, method: str) -> None:
    """At least ``minimum`` models (pairs of models are what the method compares)."""
    if n_models < minimum:
        raise DegenerateDataError(
            f"{method} needs the predictions of at least {minimum} models, got {n_models}; "
            f"stack the pred_<model> columns of {minimum} or more classifiers"
        )
