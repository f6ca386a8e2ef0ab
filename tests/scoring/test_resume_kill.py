"""``kill -9`` in the middle of a run, then the same command again: the same table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iqalign.scores import load_log_probs
from iqalign.scoring import read_scores

CONFIG = """
[score]
data = "demo"
models = ["efficientnet_lite0"]
metrics = ["tv", "brisque", "tg_maxlogit", "tg_entropy", "tg_maxprob"]
corruptions = "gaussian_noise,glass_blur"
severities = "1-3"
limit = 8
shard_images = 1
workers = 1
save_probs = true
"""


def _command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "iqalign", "score", "--config", str(config), "--out", str(out),
            "--quiet"]  # fmt: skip


def _environment() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _command(config, killed), env=_environment(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not list((killed / "parts").glob("part-*.parquet")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no part written in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its decode workers, at once
    process.wait()
    done_before = len(list((killed / "parts").glob("part-*.parquet")))
    assert 1 <= done_before < 8, "the kill must land mid-run"
    assert not (killed / "shards").exists()

    env = _environment()
    subprocess.run(_command(config, killed), env=env, check=True, capture_output=True)
    straight = tmp_path / "straight"
    subprocess.run(_command(config, straight), env=env, check=True, capture_output=True)

    resumed, reference = read_scores(killed), read_scores(straight)
    assert len(resumed) == 8 * (1 + 2 * 3)
    assert not resumed.duplicated(["image_id", "corruption", "severity", "variant"]).any()
    pd.testing.assert_frame_equal(resumed, reference)
    # the saved probabilities too: written before their part, so none is missing or torn
    for model in ("efficientnet_lite0",):
        np.testing.assert_array_equal(np.concatenate(load_log_probs(killed, model)),
                                      np.concatenate(load_log_probs(straight, model)))  # fmt: skip
