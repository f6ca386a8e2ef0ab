"""Planning a run: what is pending, read from the folder, with no model loaded."""

from __future__ import annotations

import inspect

import pytest

from iqalign.scoring import ScoreConfig, score
from iqalign.scoring.run import engine, prepare, ray_backend
from iqalign.scoring.run.plan import PendingBatch, RunPlan, plan_run
from iqalign.scoring.run.writer import RunStore


def _config(out, **changes) -> ScoreConfig:
    settings = dict(
        data="demo", out=str(out), metrics=("tv",), corruptions="fog", severities="1,3",
        limit=4, workers=0, batch_size=8, shard_images=2, device="cpu",
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


def _no_models(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("planning loaded a model")

    from iqalign.scoring.models import registry as models

    monkeypatch.setattr(prepare, "build_scorers", refuse)
    monkeypatch.setattr(prepare, "create_metric", refuse)
    monkeypatch.setattr(models, "create_model", refuse)


def test_a_half_finished_run_plans_exactly_its_missing_batches(tmp_path, monkeypatch):
    out = tmp_path / "half"
    original = RunStore.write_part

    def crash_after_first(self, index, *parts):
        if index > 0:
            raise KeyboardInterrupt("simulated crash")
        original(self, index, *parts)

    monkeypatch.setattr(RunStore, "write_part", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        score(_config(out))
    monkeypatch.setattr(RunStore, "write_part", original)
    _no_models(monkeypatch)
    plan = plan_run(_config(out))
    # 4 images of 3 pictures (clean, fog 1, fog 3) in 2 shards; 8-row batches hold 2 of
    # them. Shard 0 is on disk: only shard 1's batches are left.
    assert plan.status == "resume" and plan.shards == ((0, 2), (2, 4))
    assert plan.pending == (PendingBatch(1, (2, 3)),)
    assert (plan.rows_total, plan.rows_done) == (12, 6)
    # The batch size follows the device: 3 rows a batch -> one image a batch.
    assert plan_run(_config(out, batch_size=3)).pending == (
        PendingBatch(1, (2,)), PendingBatch(1, (3,)),
    )  # fmt: skip


def test_a_new_run_plans_every_batch(tmp_path, monkeypatch):
    _no_models(monkeypatch)
    plan = plan_run(_config(tmp_path / "new"))
    assert plan.status == "new" and plan.device == "cpu" and plan.rows_done == 0
    assert [b.items for b in plan.pending] == [(0, 1), (2, 3)]


def test_both_backends_are_handed_the_same_plan_type(tmp_path, monkeypatch):
    import torch

    seen = []

    class Stop(Exception):
        pass

    def record(self, plan, scorers, sink, progress):
        seen.append((type(self).__name__, type(plan)))
        raise Stop

    for backend in (engine.LocalBackend, ray_backend._RayBackend):
        signature = inspect.signature(backend.score_pending)
        assert signature.parameters["plan"].annotation == "RunPlan"
        monkeypatch.setattr(backend, "score_pending", record)
    monkeypatch.setattr(ray_backend._RayBackend, "device", lambda self, c: torch.device("cpu"))
    with pytest.raises(Stop):
        score(_config(tmp_path / "local"))
    with pytest.raises(Stop):
        score(_config(tmp_path / "ray"), backend=ray_backend._RayBackend(None, None))
    assert seen == [("LocalBackend", RunPlan), ("_RayBackend", RunPlan)]
