"""Splits and folds never put one image on both sides and are reproducible."""

import numpy as np
import pytest

from iqalign.errors import DegenerateDataError
from iqalign.stats.core.splits import assign_folds, split_by_unit


def test_split_keeps_units_whole_and_is_seeded():
    units = np.repeat(np.arange(100), 7)
    a = split_by_unit(units, 0.2, np.random.default_rng(3))
    b = split_by_unit(units, 0.2, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.unique(units[a]).size == 20
    assert not set(units[a]) & set(units[~a])


def test_split_needs_two_units():
    with pytest.raises(DegenerateDataError, match="at least 2 image IDs"):
        split_by_unit(np.zeros(5, dtype=np.int64), 0.2, np.random.default_rng(0))


def test_folds_are_grouped_balanced_and_per_stratum():
    rng = np.random.default_rng(0)
    strata = np.repeat(np.arange(20), 40)
    units = rng.integers(0, 30, strata.size)
    folds = assign_folds(strata, units, 5, np.random.default_rng(1))
    for s in range(20):
        in_s = strata == s
        for u in np.unique(units[in_s]):
            assert np.unique(folds[in_s & (units == u)]).size == 1  # one unit, one fold
        per_fold = [np.unique(units[in_s & (folds == f)]).size for f in range(5)]
        assert max(per_fold) - min(per_fold) <= 1


def test_row_folds_when_units_is_none():
    strata = np.repeat(np.arange(3), 76)
    folds = assign_folds(strata, None, 5, np.random.default_rng(0))
    assert sorted(np.bincount(folds[:76]).tolist()) == [15, 15, 15, 15, 16]
