"""The metric registry: every metric on a 2-image batch, names, orientation, readiness."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from iqalign.errors import MissingDependencyError, UnknownNameError, WeightsNotFoundError
from iqalign.scoring.corruptions.pictures import corrupt_array, corruption_seed
from iqalign.scoring.metrics.registry import (
    METRIC_SPECS,
    PYIQA_WEIGHT_FREE,
    create_metric,
    get_metric_spec,
    list_metrics,
    metric_column,
)
from tests.scoring.helpers import (
    View,
    write_arniqa_standins,
    write_clip_rn50_standin,
    write_pyiqa_brisque_standin,
)


@pytest.fixture(scope="module")
def corrupted01(demo_crops):
    """The two demo crops with Gaussian noise (severity 3): a distorted batch."""
    noisy = [corrupt_array(c, "gaussian_noise", 3, corruption_seed(str(i), "g", 3))
             for i, c in enumerate(demo_crops)]  # fmt: skip
    return torch.from_numpy(np.stack(noisy)).permute(0, 3, 1, 2).float() / 255


def _logits():
    generator = torch.Generator().manual_seed(0)
    return {"m": torch.randn(2, 1000, generator=generator) * 4}


@pytest.mark.parametrize("name", sorted(METRIC_SPECS))
def test_every_own_metric_on_two_images(name, batch01):
    spec = METRIC_SPECS[name]
    if name == "brisque_pyiqa":
        write_pyiqa_brisque_standin()  # pyiqa's SVM file needs the internet; random stand-in
    source = {"classifier": "m", "clip": "clip:ViT-B-32"}.get(spec.source or "")
    metric = create_metric(f"{name}:{source}" if source else name)
    logits = {source: _logits()["m"]} if source else {}
    view = View(batch01, logits=logits, scales={source: 1.0} if source else {})
    values = metric.compute(view)
    assert values.shape == (2,) and torch.isfinite(values).all()
    assert metric.column == metric_column(name, source)


@pytest.mark.parametrize("name", sorted(PYIQA_WEIGHT_FREE))
def test_weight_free_pyiqa_metrics_offline(name, batch01, corrupted01):
    metric = create_metric(name)
    assert metric.weight_files == ()
    values = metric.compute(View(corrupted01, refs01=batch01))
    assert values.shape == (2,) and torch.isfinite(values.double()).all()
    if metric.spec.needs_reference:  # a full-reference metric sees the damage
        perfect = metric.compute(View(batch01, refs01=batch01)).double()
        better = perfect > values.double() if metric.spec.higher_is_better else perfect < values
        assert better.all()


@pytest.mark.parametrize(
    ("name", "writer"),
    [("clipiqa", write_clip_rn50_standin), ("arniqa", write_arniqa_standins),
     ("brisque_pyiqa", write_pyiqa_brisque_standin)],
)  # fmt: skip
def test_paper_pyiqa_metrics_with_standin_weights(name, writer, batch01):
    """CLIP-IQA, ARNIQA and pyiqa's BRISQUE through pyiqa's loaders (random weights)."""
    files = writer()
    files = files if isinstance(files, list) else [files]
    metric = create_metric(name)
    assert sorted(metric.weight_files) == sorted(str(f) for f in files)
    with torch.inference_mode():
        values = metric.compute(View(batch01))
    assert values.shape == (2,) and torch.isfinite(values.double()).all()


def _pyiqa_learned():
    try:
        return [s.name for s in list_metrics() if s.loader.endswith("create_pyiqa_metric")
                and s.name not in PYIQA_WEIGHT_FREE]  # fmt: skip
    except MissingDependencyError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("name", _pyiqa_learned())
def test_learned_pyiqa_metrics_load_or_fail_fast(name):
    """No weights here: each learned pyiqa metric fails at once, naming what is missing.

    (CLIP-IQA, ARNIQA and BRISQUE load when the stand-ins of the test above exist.)
    """
    started = time.perf_counter()
    try:
        create_metric(name)
    except WeightsNotFoundError as err:
        assert name in str(err) and "looked in" in str(err)
    except MissingDependencyError as err:
        assert "pip install" in str(err)
    assert time.perf_counter() - started < 20


def test_total_variation_grows_with_noise_and_falls_with_blur(batch01, corrupted01):
    tv = create_metric("tv")
    blurred = torch.nn.functional.avg_pool2d(batch01, 5, stride=1, padding=2)
    clean, noisy, soft = (tv.compute(View(x)) for x in (batch01, corrupted01, blurred))
    assert (noisy > clean).all() and (soft < clean).all()
    assert tv.spec.higher_is_better is False


def test_orientation_is_recorded_never_flipped():
    assert get_metric_spec("tg_entropy").higher_is_better is False
    assert get_metric_spec("zsclip_entropy").higher_is_better is False
    assert get_metric_spec("tg_maxlogit").higher_is_better is True
    assert get_metric_spec("piqe").higher_is_better is False  # pyiqa: lower is better
    assert get_metric_spec("brisque").higher_is_better is False
    assert (
        get_metric_spec("psnr").needs_reference and get_metric_spec("psnr").family == "classic_fr"
    )
    assert {s.family for s in list_metrics()} <= {
        "classic_nr", "classic_fr", "tv", "strong_tg", "zsclip", "accuracy_estimator",
    }  # fmt: skip


def test_column_names_are_safe_identifiers():
    import re

    assert metric_column("tg_maxlogit", "efficientnet_lite1") == "q_tg_maxlogit_efficientnet_lite1"
    assert metric_column("zsclip_maxlogit", "clip:ViT-B-32") == "q_zsclip_maxlogit_vit_b_32"
    assert metric_column("clipiqa+") == "q_clipiqa_plus"
    for spec in list_metrics():
        assert re.fullmatch(r"q_[a-z0-9_]+", metric_column(spec.name)), spec.name


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownNameError, match="Did you mean: 'piqe'"):
        create_metric("piqee")
    with pytest.raises(UnknownNameError, match="needs a classifier"):
        create_metric("tg_maxlogit")
    with pytest.raises(UnknownNameError, match="takes no ':source'"):
        create_metric("tv:resnet34")


def test_readiness_checks_the_paper_metrics_files(tmp_path, monkeypatch):
    from iqalign.scoring.metrics.registry import metric_readiness

    assert metric_readiness(get_metric_spec("tv")) == "yes"
    assert metric_readiness(get_metric_spec("piqe")) == "yes"
    assert metric_readiness(get_metric_spec("tg_maxlogit")) == "as its model"
    write_pyiqa_brisque_standin()
    assert metric_readiness(get_metric_spec("brisque_pyiqa")) == "yes (cached)"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert metric_readiness(get_metric_spec("brisque_pyiqa")) == "needs weights"
    monkeypatch.setenv("IQALIGN_DATA", str(tmp_path))  # LIVE's BRISQUE model is not there
    assert metric_readiness(get_metric_spec("brisque")) == "needs model"


def test_entropy_equals_pyiqa_entropy():
    """Our histogram entropy replaces pyiqa's one-hot version: identical values."""
    import torch
    from pyiqa.archs.entropy_arch import entropy as pyiqa_entropy

    from iqalign.scoring.metrics.iqa import grey_entropy

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 64, 48, generator=generator)
    images[1] = 0.5  # one grey level: entropy 0
    images[2] = (images[2] * 4).round() / 4  # a few levels
    ours = grey_entropy(images)
    theirs = pyiqa_entropy(images)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert ours[1].abs() < 1e-6 and 0 < ours[2] < ours[0] <= 8
