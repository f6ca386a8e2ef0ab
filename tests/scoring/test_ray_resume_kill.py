"""``kill -9`` of the Ray driver mid-run, then the same command: the uninterrupted table.

The driver (``iqalign score --backend ray``, which starts its own local cluster) is the
only writer of parts, and writes whole shards only. Killed after its first shard, the
rerun must skip the shards on disk, score the rest and end with the local engine's table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scoring import ray_cases

pytestmark = pytest.mark.ray


def _command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "iqalign", "score", "--config", str(config), "--out", str(out),
            "--backend", "ray", "--quiet"]  # fmt: skip


def _environment() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    # A small object store (Ray's default takes 30% of RAM): these batches are ~1 MB.
    return {**os.environ, "PYTHONPATH": path, "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.02"}


def _end_session(session: int) -> None:
    """Anything the killed driver's local cluster left behind, by PID (ours only)."""
    import psutil

    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                process.kill()
        except (OSError, psutil.Error):
            continue


def test_kill_9_of_the_driver_then_rerun_equals_an_uninterrupted_run(tmp_path, ray_reference):
    pytest.importorskip("ray")
    config = tmp_path / "run.toml"
    config.write_text(ray_cases.CONFIG_TOML)
    out = tmp_path / "killed"
    driver = subprocess.Popen(
        _command(config, out), env=_environment(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not list((out / "parts").glob("part-*.parquet")):
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard written in time"
            time.sleep(0.02)
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as a crash would
        driver.wait()
    finally:
        time.sleep(1)
        _end_session(driver.pid)
    done_before = len(list((out / "parts").glob("part-*.parquet")))
    assert 1 <= done_before < ray_cases.SHARDS, "the kill must land mid-run"
    assert not (out / "shards").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"

    rerun = subprocess.run(_command(config, out), env=_environment(), capture_output=True)
    assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    ray_cases.assert_same_run(out, ray_reference)
    timings = json.loads((out / "manifest.json").read_text())["timings"]
    # Each shard is one photo of 5 rows: the rerun scored only those not on disk.
    assert timings["rows_scored_this_session"] == ray_cases.ROWS - 5 * done_before
