"""Loading and checking scores tables: every bad input gets a clear, named error."""

import json

import numpy as np
import pandas as pd
import pytest

from iqalign.errors import ColumnNotFoundError, IqalignError, ScoresNotFoundError, ScoresTableError
from iqalign.stats import ci_test, group_correlations, predictability, stratified_cv
from iqalign.stats.core.table import get_stratum_codes, load_scores, prepare_scores, resolve_column


def test_prepare_resolves_short_names_and_returns_aligned_arrays(small_table):
    data = prepare_scores(small_table, "tv", "r34", ["image_id"])
    assert (data.q_column, data.m_column) == ("q_tv", "correct_r34")
    np.testing.assert_array_equal(data.q, small_table["q_tv"].to_numpy())
    assert data.m.dtype == np.float64 and set(np.unique(data.m)) <= {0.0, 1.0}
    assert "image_id" in data.frame.columns and len(data.frame) == len(small_table)


def test_boolean_m_is_accepted(small_table):
    small_table["correct_r34"] = small_table["correct_r34"].astype(bool)
    assert prepare_scores(small_table, "tv", "r34").m.sum() == small_table["correct_r34"].sum()


def test_parquet_file_and_folder_of_shards(tmp_path, small_table):
    small_table.iloc[:10].to_parquet(tmp_path / "part-000.parquet")
    small_table.iloc[10:].to_parquet(tmp_path / "part-001.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps({"seed": 0}))
    (tmp_path / ".part-002.parquet.tmp").write_text("half-written")
    loaded = load_scores(tmp_path)
    assert len(loaded) == len(small_table)
    assert len(load_scores(tmp_path / "part-000.parquet")) == 10


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(ScoresNotFoundError, match="no such Parquet"):
        load_scores(tmp_path / "nope.parquet")
    with pytest.raises(ScoresNotFoundError, match=r"no \*\.parquet files"):
        load_scores(tmp_path)
    assert issubclass(ScoresNotFoundError, FileNotFoundError)


def test_unreadable_parquet_names_the_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ScoresTableError, match=r"bad\.parquet"):
        load_scores(bad)


def test_misspelt_column_suggests_close_names(small_table):
    with pytest.raises(ColumnNotFoundError, match="Did you mean: 'q_tv'") as info:
        prepare_scores(small_table, "q_tvv", "r34")
    assert isinstance(info.value, KeyError) and "quality columns (q_*) are ['q_tv']" in str(
        info.value
    )
    with pytest.raises(ColumnNotFoundError, match="correct_r34"):
        prepare_scores(small_table, "tv", "r43")
    with pytest.raises(ColumnNotFoundError, match="'labels'"):
        resolve_column(small_table, "labels")


def test_empty_table():
    empty = pd.DataFrame({"q_a": pd.Series([], dtype=float), "correct_b": pd.Series([], dtype=int)})
    with pytest.raises(ScoresTableError, match="empty"):
        prepare_scores(empty, "a", "b")


def test_non_binary_m_names_values(small_table):
    small_table.loc[3, "correct_r34"] = 2
    with pytest.raises(ScoresTableError, match=r"must be 0/1.*\[2.0\]"):
        prepare_scores(small_table, "tv", "r34")


def test_accuracy_instead_of_correctness_is_refused(small_table):
    small_table["correct_r34"] = 0.75
    with pytest.raises(ScoresTableError, match="per-image correctness"):
        prepare_scores(small_table, "tv", "r34")


def test_missing_m_and_string_columns(small_table):
    small_table["correct_r34"] = small_table["correct_r34"].astype(float)
    small_table.loc[0, "correct_r34"] = np.nan
    with pytest.raises(ScoresTableError, match="missing values"):
        prepare_scores(small_table, "tv", "r34")
    small_table["correct_r34"] = "yes"
    with pytest.raises(ScoresTableError, match="0/1 or boolean"):
        prepare_scores(small_table, "tv", "r34")
    small_table["correct_r34"] = 1
    small_table["q_tv"] = "high"
    with pytest.raises(ScoresTableError, match="must be numeric"):
        prepare_scores(small_table, "tv", "r34")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_q_raises_or_is_dropped_and_counted(small_table, bad):
    small_table.loc[[2, 5], "q_tv"] = bad
    with pytest.raises(
        ScoresTableError, match=r"2 non-finite values.*image_id='img0'.*nonfinite='drop'"
    ):
        prepare_scores(small_table, "tv", "r34", ["image_id"])
    data = prepare_scores(small_table, "tv", "r34", ["image_id"], nonfinite="drop")
    assert data.n_dropped_nonfinite == 2 and data.n_rows == len(small_table) - 2
    assert np.isfinite(data.q).all() and len(data.frame) == data.n_rows


def test_missing_stratifier_values_are_refused(small_table):
    small_table["label"] = small_table["label"].astype(float)
    small_table.loc[4, "label"] = np.nan
    with pytest.raises(ScoresTableError, match="'label' has 1 missing"):
        prepare_scores(small_table, "tv", "r34", ["label"])


def test_stratum_codes_sorted_keys_and_no_columns():
    frame = pd.DataFrame({"c": ["b", "a", "b", "a"], "s": [2, 1, 1, 1]})
    codes, keys = get_stratum_codes(frame, ["c", "s"])
    assert codes.tolist() == [2, 0, 1, 0]
    assert keys.to_dict("list") == {"c": ["a", "b", "b"], "s": [1, 1, 2]}
    codes, keys = get_stratum_codes(frame, [])
    assert codes.tolist() == [0, 0, 0, 0] and len(keys) == 1


def test_every_analysis_rejects_bad_input_with_our_errors(small_table):
    """The public entry points all pass through the same checks (no library tracebacks)."""
    small_table.loc[1, "q_tv"] = np.nan  # a corrupted row: the group analysis drops clean rows
    calls = [
        lambda: predictability(small_table, "tv", "r34", n_boot=10),
        lambda: stratified_cv(small_table, "tv", "r34", by="label"),
        lambda: ci_test(small_table, "tv", "r34", by="label"),
        lambda: group_correlations(small_table, "tv", "r34", n_boot=10),
    ]
    for call in calls:
        with pytest.raises(IqalignError, match="non-finite"):
            call()
