"""The ImageNet-C pipeline, work planning, mixtures, and bit-for-bit regeneration."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from iqalign.scoring.corruptions.pictures import CORRUPTIONS
from iqalign.scoring.data.sources import ImageItem, load_source
from iqalign.scoring.run.pipeline import (
    RenderSettings,
    jpeg_roundtrip,
    mixture_draws,
    plan_work,
    render_item,
    resize_center_crop,
)


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (300, 300), (1000, 257), (40, 30)])
def test_resize_crop_matches_torchvision(size):
    from torchvision import transforms

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(image)
    assert np.array_equal(resize_center_crop(image), np.asarray(expected))


def test_jpeg_step_is_quality_85(demo_crops):
    out = jpeg_roundtrip(demo_crops[0], 85)
    assert out.shape == demo_crops[0].shape and not np.array_equal(out, demo_crops[0])
    assert np.abs(out.astype(int) - demo_crops[0]).mean() < 4


def _items(n=40):
    return [ImageItem(f"id{i:03d}", i % 1000, (i % 1000,), f"/nowhere/{i}.png") for i in range(n)]


def test_plan_has_clean_and_every_corruption_severity():
    work = plan_work(_items(2), CORRUPTIONS, (1, 2, 3, 4, 5))
    pairs = [(r.corruption, r.severity) for r in work[0].renders]
    assert len(pairs) == 76 and pairs[0] == ("none", 0) and len(set(pairs)) == 76
    assert all(r.variants == (None,) for r in work[0].renders)


def test_mixture_fraction_is_exact_and_seeded():
    ids = [f"id{i:03d}" for i in range(200)]
    draws = mixture_draws(ids, 0.05, (1, 2, 3), seed=0)
    assert len(draws) == 10
    assert draws == mixture_draws(list(reversed(ids)), 0.05, (1, 2, 3), seed=0)
    assert draws != mixture_draws(ids, 0.05, (1, 2, 3), seed=1)
    assert all(c in CORRUPTIONS and s in (1, 2, 3) for c, s in draws.values())


def test_mixture_rows_share_renders_with_the_grid():
    items = _items(100)
    work = plan_work(items, ("fog",), (1,), mixtures=(0.1, 0.2), seed=3)
    rows = [(w.item.image_id, r.corruption, r.severity, v) for w in work for r in w.renders
            for v in r.variants]  # fmt: skip
    for p, expected in ((0.1, 10), (0.2, 20)):
        variant = [row for row in rows if row[3] == f"pc={p:g}"]
        assert len(variant) == 100  # every image ID, once
        assert sum(row[1] != "none" for row in variant) == expected
    # A picture needed by several rows is rendered once.
    for w in work:
        pairs = [(r.corruption, r.severity) for r in w.renders]
        assert len(pairs) == len(set(pairs))


def test_render_is_bit_for_bit_reproducible_and_shares_the_id():
    item = next(i for i in load_source("demo") if i.image_id == "coffee")
    work = plan_work([item], ("gaussian_noise", "glass_blur", "snow"), (2, 5))[0]
    first = render_item(work, settings=RenderSettings(need_ref=True))
    second = render_item(work, seed=0, jpeg_quality=85)
    assert first["images"].shape == (7, 224, 224, 3) and first["renders"] == list(range(7))
    assert np.array_equal(first["images"], second["images"])
    assert np.array_equal(first["images"][0], first["ref"])  # clean row = the FR reference
    assert "ref" not in second  # no full-reference metric: no reference copy
    other_seed = render_item(work, seed=1, jpeg_quality=85)
    assert np.array_equal(other_seed["images"][0], first["images"][0])  # clean: no randomness
    assert not np.array_equal(other_seed["images"][1], first["images"][1])


def test_unreadable_image_is_skipped_with_reason(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG not really")
    work = plan_work([ImageItem("bad", 1, (1,), str(path))], ("fog",), (1,))[0]
    out = render_item(work, 0, 85)
    assert out["images"].shape[0] == 0 and [f[0] for f in out["failed"]] == [0, 1]
    assert all(f[1] == "decode" and "not an image" in f[3] for f in out["failed"])
