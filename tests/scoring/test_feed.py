"""The loader fits the machine's shared memory, or says so before any image is read.

The engine-level tests point the check at a real, small tmpfs (``IQALIGN_SHM_DIR``), the
way a container with Docker's default 64 MB ``/dev/shm`` looks to it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from iqalign.errors import ScoringConfigError
from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.run import feed
from iqalign.scoring.run.feed import PICTURE_BYTES, batch_bytes, default_workers, plan_feed

MB = 1_000_000


def _free(monkeypatch, free):
    monkeypatch.setattr(feed, "shm_free_bytes", lambda: ("/dev/shm", free))


def test_a_plan_that_fits_is_kept(monkeypatch):
    _free(monkeypatch, 10_000 * MB)
    plan = plan_feed(16, 100 * MB)
    assert (plan.workers, plan.prefetch, plan.note) == (16, 4, None)
    assert plan.need_bytes == (16 * 4 + 2) * 100 * MB


def test_prefetch_is_lowered_first_then_workers(monkeypatch):
    _free(monkeypatch, 1000 * MB)  # 800 MB usable
    plan = plan_feed(4, 100 * MB)  # (4 x 4 + 2) x 100 MB = 1.8 GB; prefetch 1: 600 MB
    assert (plan.workers, plan.prefetch, plan.need_bytes) == (4, 1, 600 * MB)
    assert "docker run --shm-size" in plan.note and "4 workers x prefetch 4" in plan.note
    plan = plan_feed(4, 50 * MB)  # prefetch 3: (12 + 2) x 50 = 700 MB fits
    assert (plan.workers, plan.prefetch) == (4, 3)
    plan = plan_feed(8, 100 * MB)  # prefetch 1 needs 1 GB: 6 workers x 1 = 800 MB
    assert (plan.workers, plan.prefetch, plan.need_bytes) == (6, 1, 800 * MB)


def test_too_little_shared_memory_names_the_fixes(monkeypatch):
    _free(monkeypatch, 64 * MB)  # Docker's default
    with pytest.raises(ScoringConfigError) as info:
        plan_feed(16, 60 * MB)
    message = str(info.value)
    assert "--batch-size" in message and "--workers" in message and "--shm-size" in message


def test_no_workers_need_no_shared_memory(monkeypatch):
    _free(monkeypatch, 0)
    assert plan_feed(0, 100 * MB).need_bytes == 0


def test_references_are_counted_only_when_a_full_reference_metric_runs():
    assert batch_bytes(228, 3, with_refs=False) == 228 * PICTURE_BYTES
    assert batch_bytes(228, 3, with_refs=True) == 231 * PICTURE_BYTES


def test_default_workers_leave_two_cores(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)))
    assert default_workers() == 14
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    assert default_workers() == 1


@contextlib.contextmanager
def _tmpfs(path, size):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def _config(out, **changes):
    # 4 photos x (clean, fog 1): batches of 4 images = 8 pictures = 1.2 MB
    settings = dict(data="demo", out=str(out), metrics=("tv",), corruptions="fog",
                    severities="1", limit=4, workers=2, batch_size=8)  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


def test_a_small_shm_gives_a_fitted_run_with_a_note(tmp_path, monkeypatch):
    with _tmpfs(tmp_path / "shm", "10m") as shm:
        monkeypatch.setenv("IQALIGN_SHM_DIR", str(shm))
        result = score(_config(tmp_path / "run"))
    assert len(read_scores(result.out)) == 8
    manifest = json.loads((result.out / "manifest.json").read_text())
    (note,) = manifest["notes"]
    assert "2 workers x prefetch 4" in note and "using 2 workers x prefetch 2" in note


def test_a_tiny_shm_stops_before_any_image_is_read(tmp_path, monkeypatch):
    with _tmpfs(tmp_path / "shm", "2m") as shm:
        monkeypatch.setenv("IQALIGN_SHM_DIR", str(shm))
        with pytest.raises(ScoringConfigError, match="docker run --shm-size"):
            score(_config(tmp_path / "run"))
    assert not list((tmp_path / "run" / "parts").glob("*.parquet"))


def test_workers_start_after_opencv_ran_threads_here(tmp_path):
    """Forking while this process's OpenCV pool runs used to hang every worker."""
    import os
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import cv2, numpy as np
        cv2.setNumThreads(2)
        for _ in range(20):  # start OpenCV's pool in this (the parent) process
            cv2.GaussianBlur(np.random.rand(1024, 1024).astype(np.float32), (31, 31), 5)
        from iqalign.scoring import ScoreConfig, score
        score(ScoreConfig(data="demo", out={str(tmp_path / "run")!r}, metrics=("tv",),
                          corruptions="fog", severities="1", limit=2, workers=2))
        assert cv2.getNumThreads() == 2  # the parent's setting is restored
        print("done")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=180, env=os.environ.copy(), check=False)  # fmt: skip
    assert done.returncode == 0 and "done" in done.stdout, done.stderr[-2000:]
