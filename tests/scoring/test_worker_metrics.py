"""CPU metrics run in the loader workers, on the GPU metrics' pixels, with the same values.

Before, BRISQUE ran in the main process on pixels copied back from the device batch
(``_NumpyMetric.compute``: the float batch x 255, rounded to uint8). The workers now run it
on the uint8 pictures themselves; these tests hold the two paths to the same bits and
show that the main process computes no BRISQUE at all.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from iqalign.scoring import ScoreConfig, create_metric, read_scores, score
from iqalign.scoring.data.sources import load_source
from iqalign.scoring.metrics.in_workers import WorkerMetrics
from iqalign.scoring.run.pipeline import RenderSettings, plan_work, render_item


def _work():
    items = [i for i in load_source("demo") if i.image_id in ("chelsea", "coffee")]
    return plan_work(items, ("gaussian_noise", "contrast", "jpeg_compression"), (1, 5))


def test_worker_values_are_bit_identical_to_the_main_process_path():
    import torch

    from iqalign.scoring.run.engine import _View

    brisque = create_metric("brisque")
    settings = RenderSettings(cpu_metrics=WorkerMetrics.of([brisque]))
    for work in _work():
        out = render_item(work, settings=settings)
        assert out["cpu"].shape == (7, 1) and not out["cell_failures"]
        images = torch.from_numpy(out["images"]).permute(0, 3, 1, 2)
        view = _View(images, None, None)  # what the engine's metrics see, as before
        before = brisque.compute(view).numpy()
        assert np.array_equal(out["cpu"][:, 0], before)


def test_a_run_computes_brisque_only_in_the_workers(tmp_path, monkeypatch):
    from iqalign.scoring.metrics import brisque as module

    pids = tmp_path / "pids"
    pids.mkdir()
    real = module.brisque_score

    def recording(image, model=None):
        (pids / str(os.getpid())).touch()
        return real(image, model)

    from iqalign.scoring.metrics import in_workers as worker_metrics

    monkeypatch.setattr(module, "brisque_score", recording)  # forked workers inherit it
    monkeypatch.setattr(worker_metrics, "_BUILT", {})  # built by an earlier test, unpatched
    config = ScoreConfig(data="demo", out=str(tmp_path / "run"), metrics=("brisque", "tv"),
                         corruptions="fog", severities="2", limit=3, workers=2,
                         batch_size=4)  # fmt: skip
    table = read_scores(score(config).out)
    assert table["q_brisque"].notna().all() and len(table) == 6
    seen = {int(p.name) for p in pids.iterdir()}
    assert seen and os.getpid() not in seen


@pytest.mark.parametrize("workers", [0, 2])
def test_the_table_does_not_depend_on_where_brisque_ran(tmp_path, workers):
    config = ScoreConfig(data="demo", out=str(tmp_path / f"w{workers}"), metrics=("brisque",),
                         corruptions="snow,pixelate", severities="3", limit=2,
                         workers=workers, batch_size=4)  # fmt: skip
    table = read_scores(score(config).out)
    from iqalign.scoring.metrics.brisque import brisque_score
    from iqalign.scoring.run.pipeline import RenderSettings as Settings

    items = [i for i in load_source("demo")][:2]
    for work in plan_work(items, ("snow", "pixelate"), (3,)):
        out = render_item(work, settings=Settings())
        rows = table[table["image_id"] == work.item.image_id]
        expected = [brisque_score(p) for p in out["images"]]
        assert list(rows["q_brisque"]) == expected
