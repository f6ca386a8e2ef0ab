"""A broken run stops with its error; a rare odd image is skipped and counted."""

from __future__ import annotations

import json

import pytest

from iqalign.errors import ScoringStoppedError
from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.run.failures import FailureWatch


def _config(out, **changes) -> ScoreConfig:
    settings = dict(
        data="demo", out=str(out), models=("efficientnet_lite0",), metrics=("tv",),
        corruptions="fog", severities="1", workers=0, batch_size=4,
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


def test_a_broken_corruption_stops_the_run_instead_of_completing(tmp_path, monkeypatch):
    from iqalign.scoring.run import pipeline

    def broken(image, corruption, severity, seed, *implementation):
        raise ValueError("the corruption library is broken")

    monkeypatch.setattr(pipeline, "corrupt_array", broken)
    with pytest.raises(ScoringStoppedError) as info:
        score(_config(tmp_path / "run"))
    message = str(info.value)  # 11 images: 22 pictures, half of them fail: limit 6
    assert "pictures failed the same way (limit 6" in message
    assert "corrupt: fog: ValueError" in message and "rerun" in message
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
    assert manifest["failures"]["corrupt: fog: ValueError"] > 6


def test_one_odd_image_is_skipped_counted_and_the_run_completes(tmp_path, monkeypatch):
    from iqalign.scoring.run import pipeline

    real, calls = pipeline.corrupt_array, []

    def odd(image, corruption, severity, seed, *implementation):
        calls.append(seed)
        if len(calls) == 3:  # workers=0: rendered in order, in this process
            raise MemoryError("this one image")
        return real(image, corruption, severity, seed, *implementation)

    monkeypatch.setattr(pipeline, "corrupt_array", odd)
    result = score(_config(tmp_path / "run"))
    assert result.skipped == 1  # one picture; the image's clean row is kept
    assert len(read_scores(result.out)) == 11 * 2 - 1  # 11 images x (clean, fog 1)
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["failures"] == {"corrupt: fog: MemoryError": 1}


def test_the_limit_is_one_percent_of_a_large_run_and_a_floor_of_20():
    small, large = FailureWatch(500), FailureWatch(100_000)
    assert (small.limit, large.limit) == (20, 1000)
    assert (FailureWatch(40).limit, FailureWatch(100_000, fraction=0).limit) == (10, 0)
    large.record(50, [("decode: unreadable image", "x.jpg: truncated")] * 1000)
    with pytest.raises(ScoringStoppedError, match="1001 pictures failed the same way"):
        large.record(10, [("decode: unreadable image", "y.jpg: truncated")])


def test_failures_of_different_reasons_are_counted_apart():
    watch = FailureWatch(100_000)
    watch.record(100, [("corrupt: fog: ValueError", "a")] * 900 + [("decode: x", "b")] * 900)
    assert watch.summary() == {"corrupt: fog: ValueError": 900, "decode: x": 900}
