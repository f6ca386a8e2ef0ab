"""``iqalign estimate`` end to end: outputs, exit codes, one-line errors."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from iqalign.cli import app
from tests.stats.test_estimation import scored_table

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    (folder / "shards").mkdir()
    scored_table(n_ids=40).to_parquet(folder / "shards" / "part-0.parquet")
    return folder


def test_estimate_prints_and_writes_the_ranked_table(run_dir, tmp_path):
    result = runner.invoke(
        app, ["estimate", str(run_dir), "--n-boot", "20", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "M = m, clean track" in result.output and "M = m, shifts track" in result.output
    assert "ATC-NE" in result.output and "DoC-reg" in result.output
    assert "m, shifts track: " in result.output  # the like-for-like sentence
    summary = pd.read_csv(tmp_path / "estimation_summary.csv")
    groups = pd.read_csv(tmp_path / "estimation_groups.csv")
    payload = json.loads((tmp_path / "estimation.json").read_text())
    assert set(summary["estimator"]) == set(groups["estimator"])
    assert payload["n_target_groups"] == 9 and payload["n_source_ids"] == 20
    assert {c["track"] for c in payload["comparisons"]} == {"clean", "shifts"}
    assert (summary["MAE_ci_low"] <= summary["MAE"]).all()
    assert (summary["MAE"] <= summary["MAE_ci_high"]).all()
    # the table's MAE is the mean |estimate - truth| of the groups file
    mae = groups.assign(a=groups["error"].abs()).groupby("estimator")["a"].mean()
    pd.testing.assert_series_equal(
        summary.set_index("estimator")["MAE"], mae.loc[summary["estimator"]], check_names=False
    )


def test_default_output_folder_is_inside_the_run(run_dir):
    result = runner.invoke(
        app, ["estimate", str(run_dir), "--n-boot", "0", "--protocol", "mixtures"]
    )
    assert result.exit_code == 0, result.output
    assert (run_dir / "estimation" / "estimation_summary.csv").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--protocol", "lopo"], "--protocol must be one of loco, mixtures"),
        (["--source-fraction", "1.5"], "--source-fraction must be between 0 and 1"),
        (["--n-boot", "-1"], "--n-boot must be 0 or more"),
    ],
)
def test_bad_options_exit_2_with_one_line(run_dir, options, message):
    result = runner.invoke(app, ["estimate", str(run_dir), *options])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_missing_run_exits_2_with_one_line(tmp_path):
    result = runner.invoke(app, ["estimate", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such Parquet file or run folder" in result.output
    assert len(result.output.strip().splitlines()) == 1
