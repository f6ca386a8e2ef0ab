"""Out-of-range statistics options exit 2 with one line, before any analysis runs."""

import pytest
from typer.testing import CliRunner

from iqalign.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--alpha", "0", "alpha must lie strictly between 0 and 1"),
        ("--alpha", "1", "alpha must lie strictly between 0 and 1"),
        ("--alpha", "-0.1", "alpha must lie strictly between 0 and 1"),
        ("--folds", "1", "folds must be an integer >= 2"),
        ("--C", "0", "C must be a finite number > 0"),
        ("--C", "inf", "C must be a finite number > 0"),
        ("--n-boot", "0", "n-boot must be an integer >= 10"),
        ("--margin", "-1", "margin must be a finite number > 0"),
        ("--margin", "0", "margin must be a finite number > 0"),
    ],
)
def test_analyze_rejects_out_of_range_options(tmp_path, option, value, says):
    # the table does not exist: a bad option must be reported before the table is read
    args = ["analyze", str(tmp_path / "none.parquet"), "--q", "q", "--m", "m", option, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: "), result.output
    assert says in lines[0] and "Traceback" not in result.output


def test_report_rejects_zero_resamples(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path), "--n-boot", "0"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --n-boot: n-boot must be an integer >= 10 (fewer resamples leave an "
        "interval's tails undefined), got 0"
    ]


def test_in_range_options_pass_the_checks(tmp_path):
    args = ["analyze", str(tmp_path / "none.parquet"), "--q", "q", "--m", "m", "--alpha", "0.1"]
    result = runner.invoke(app, [*args, "--folds", "2", "--C", "0.5", "--margin", "0.2"])
    assert result.exit_code == 2 and "no such Parquet file" in result.output  # got past them
