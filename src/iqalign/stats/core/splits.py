"""Train/test splits and cross-validation folds that keep an image's rows together.

ImageNet-C holds 76 rows per source image (clean + 15 corruptions x 5 severities). A
split that puts some of an image's rows in training and others in testing leaks the
image's content across the split, so every split here assigns whole *units* (by default
image IDs, GroupKFold-style) to one side. Inside a stratum that is itself a single image
(the per-image-ID analysis) the units are the rows.

All randomness comes from one ``numpy.random.Generator`` resolved once by the caller.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> units = np.repeat(np.arange(10), 3)           # 10 images, 3 rows each
>>> test = split_by_unit(units, 0.2, rng)
>>> int(test.sum()), len(set(units[test]) & set(units[~test]))
(6, 0)
"""

from __future__ import annotations

import numpy as np

from iqalign.errors import DegenerateDataError, ParameterError
from iqalign.stats.core.codes import unique_codes
from iqalign.stats.core.memo import remember

__all__ = ["assign_folds", "resample_counts", "split_by_unit"]


def split_by_unit(units: np.ndarray, test_size: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean test mask: a random ``test_size`` share of the units (at least one each side)."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    return remember("split", (units, test_size), lambda: _split(units, test_size, rng), rng)


def _split(units: np.ndarray, test_size: float, rng: np.random.Generator) -> np.ndarray:
    uniques, inverse = unique_codes(units)
    n_units = uniques.size
    if n_units < 2:
        raise DegenerateDataError(
            f"a train/test split by image ID needs at least 2 image IDs; the table has {n_units}"
        )
    n_test = min(max(round(test_size * n_units), 1), n_units - 1)
    in_test = np.zeros(n_units, dtype=bool)
    in_test[rng.permutation(n_units)[:n_test]] = True
    return in_test[inverse]


def assign_folds(
    strata: np.ndarray, units: np.ndarray | None, n_folds: int, rng: np.random.Generator
) -> np.ndarray:
    """Fold ``0..n_folds-1`` of each row; the units of each stratum are dealt out in random order.

    ``units=None`` makes every row its own unit. A stratum with fewer units than folds
    leaves some of its folds empty; callers count those.

    Examples
    --------
    >>> strata = np.array([0, 0, 0, 0, 1, 1, 1])
    >>> folds = assign_folds(strata, None, 2, np.random.default_rng(1))
    >>> np.bincount(folds[:4]).tolist(), np.bincount(folds[4:]).tolist()
    ([2, 2], [2, 1])
    """
    if n_folds < 2:
        raise ParameterError(
            f"n_folds must be an integer >= 2 (one fold leaves nothing to train on), "
            f"got {n_folds!r}"
        )
    key = (strata, units, n_folds)
    return remember("folds", key, lambda: _folds(strata, units, n_folds, rng), rng)


def _folds(
    strata: np.ndarray, units: np.ndarray | None, n_folds: int, rng: np.random.Generator
) -> np.ndarray:
    if units is None:
        unit_stratum = strata
        inverse = np.arange(strata.size)
    else:
        span = int(units.max()) + 1 if units.size else 1
        pairs, inverse = unique_codes(strata.astype(np.int64) * span + units)
        unit_stratum = pairs // span
    order = np.lexsort((rng.random(unit_stratum.size), unit_stratum))
    sorted_strata = unit_stratum[order]
    position = np.arange(order.size)
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_strata[1:] != sorted_strata[:-1]
    start = np.maximum.accumulate(np.where(first, position, 0))
    fold_of_unit = np.empty(order.size, dtype=np.int64)
    fold_of_unit[order] = (position - start) % n_folds
    return fold_of_unit[inverse]


def resample_counts(n_units: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` bootstrap resamples of ``n_units`` units (image IDs) drawn with
    replacement, as multiplicities: an integer ``size x n_units`` matrix.

    Examples
    --------
    >>> counts = resample_counts(4, 2, np.random.default_rng(0))
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((2, 4), [4, 4])
    """
    return remember("resamples", (n_units, size), lambda: _draw(n_units, size, rng), rng)


def _draw(n_units: int, size: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.integers(0, n_units, size=(size, n_units))
    draws += (np.arange(size) * n_units)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n_units).reshape(size, n_units)
