"""``iqalign score``, ``iqalign metrics list``, ``iqalign models list`` through typer."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from iqalign.cli import app

pytest.importorskip("torch", reason="needs the [scoring] extra")
pytestmark = pytest.mark.scoring
runner = CliRunner()


def test_score_small_demo_run(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "score", "--data", "demo", "--models", "efficientnet_lite0", "--metrics", "tv,tg_maxprob",
        "--corruptions", "fog", "--severities", "2", "--limit", "2", "--workers", "0",
        "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "4 (0 images skipped)" in result.output
    assert (out / "shards").is_dir() and (out / "manifest.json").is_file()
    again = runner.invoke(app, [
        "score", "--data", "demo", "--models", "efficientnet_lite0", "--metrics", "tv,tg_maxprob",
        "--corruptions", "fog", "--severities", "2", "--limit", "2", "--out", str(out),
    ])  # fmt: skip
    assert again.exit_code == 0 and "already complete" in again.output


def test_score_from_a_config_file_with_cli_override(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        '[score]\ndata = "demo"\nmetrics = ["tv"]\ncorruptions = "none"\nlimit = 3\n'
        f'workers = 0\nout = "{tmp_path / "ignored"}"\n'
    )
    out = tmp_path / "chosen"
    result = runner.invoke(app, ["score", "--config", str(config), "--out", str(out), "--limit",
                                 "1", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    import pandas as pd

    assert len(pd.read_parquet(out / "shards")) == 1 and not (tmp_path / "ignored").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--metrics", "piqee"], "Did you mean: 'piqe'"),
        (["--models", "resnet43", "--metrics", "tv"], "Did you mean: 'resnet34'"),
        (["--metrics", "tv", "--severities", "7"], "severities"),
        (["--metrics", "tv", "--weights", "resnet34"], "NAME=VALUE"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, arguments, message):
    result = runner.invoke(app, ["score", "--data", "demo", "--out", str(tmp_path / "o"),
                                 *arguments])  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output


def test_missing_out_is_bad_input():
    result = runner.invoke(app, ["score", "--data", "demo", "--metrics", "tv"])
    assert result.exit_code == 2 and "--out" in result.output


def test_metrics_list_shows_families_orientation_and_readiness(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty: other tests' stand-ins unseen
    result = runner.invoke(app, ["metrics", "list"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "tv" in lines and "false" in lines["tv"]
    assert "strong_tg" in lines["tg_entropy"] and "false" in lines["tg_entropy"]
    assert "yes" in lines["piqe"] and "needs weights" in lines["clipiqa"]
    assert "X0" in lines["psnr"]
    family = runner.invoke(app, ["metrics", "list", "--family", "zsclip"])
    assert {line.split()[0] for line in family.output.splitlines()[1:] if line.strip()} == {
        "zsclip_maxprob", "zsclip_entropy", "zsclip_maxlogit",
    }  # fmt: skip


def test_models_list_shows_what_is_usable_offline():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "yes (offline)" in lines["efficientnet_lite2"]
    assert "resnet34-b627a593.pth" in lines["resnet34"]
