"""``impl="imagenet-c"`` against outputs of the original ImageNet-C code (golden data).

The golden files (``shared/reference/imagenet_c``, beside the repository; not written by
this project) hold ``np.uint8(method(crop, severity))`` of the original
``make_imagenet_c.py`` functions for two photos x 19 corruptions x 5 severities, each after
``np.random.seed(seed)``; motion_blur and snow through ImageMagick 6.9.11-60 (Q16) via
Wand, as the original. Every case must be pixel-identical: no tolerance is needed with
this stack (numpy 2.4, scipy 1.17, scikit-image 0.26, OpenCV 5.0, Pillow 13 with
libjpeg-turbo 3.2, ImageMagick 6.9.11-60). A failure here on another stack means a
library's numerics moved: see docs/corruptions.md before loosening anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iqalign.scoring import corrupt


def _reference_root() -> Path | None:
    override = os.environ.get("IQALIGN_IMAGENET_C_REFERENCE")
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "imagenet_c"
        if (candidate / "index.json").is_file():
            return candidate
    return None


ROOT = _reference_root()
if ROOT is None and os.environ.get("CI"):
    raise RuntimeError("CI: the golden ImageNet-C data (shared/reference/imagenet_c) is missing")
pytestmark = pytest.mark.skipif(ROOT is None, reason="golden data shared/reference not found")
INDEX = json.loads((ROOT / "index.json").read_text()) if ROOT else {"cases": [], "inputs": []}


def _pixels(relative: str) -> np.ndarray:
    with Image.open(ROOT / relative) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _sha(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    crops = {}
    for entry in INDEX["inputs"]:
        crops[entry["photo"]] = _pixels(entry["png"])
        assert _sha(crops[entry["photo"]]) == entry["pixel_sha256"]  # the file is intact
    return crops


@pytest.mark.parametrize(
    "case", INDEX["cases"], ids=lambda c: f"{c['photo']}-{c['corruption']}-{c['severity']}"
)
def test_equals_the_original_code(case, inputs):
    expected = _pixels(case["png"])
    assert _sha(expected) == case["pixel_sha256"]
    got = corrupt(inputs[case["photo"]], case["corruption"], case["severity"], seed=case["seed"])
    assert got.dtype == np.uint8 and got.shape == expected.shape
    delta = np.abs(got.astype(np.int16) - expected)
    assert delta.max() == 0, f"max |delta| {delta.max()} on {np.count_nonzero(delta)} values"


def test_all_19_corruptions_and_5_severities_of_both_photos_are_covered():
    from iqalign.imagenet_c import CORRUPTIONS, EXTRA_CORRUPTIONS

    seen = {(c["photo"], c["corruption"], c["severity"]) for c in INDEX["cases"]}
    photos = {e["photo"] for e in INDEX["inputs"]}
    assert seen == {
        (p, c, s) for p in photos for c in CORRUPTIONS + EXTRA_CORRUPTIONS for s in range(1, 6)
    }
    assert len(photos) == 2


def test_the_crop_equals_the_originals_resize_and_center_crop():
    """Our Resize(256)+CenterCrop(224) gives the golden input crops from the source photos."""
    import skimage.data

    from iqalign.scoring.data.images import resize_center_crop

    for entry in INDEX["inputs"]:
        photo = Image.fromarray(getattr(skimage.data, entry["photo"])()).convert("RGB")
        assert _sha(resize_center_crop(photo)) == entry["pixel_sha256"]


def test_the_jpeg_the_original_saved_is_what_corrupt_dataset_writes(tmp_path):
    """The golden JPEG hashes: quality 85 with optimize=True, byte for byte (libjpeg-turbo)."""
    import io

    from PIL import features

    if features.version("libjpeg_turbo") is None:
        pytest.skip("JPEG bytes depend on the codec; the golden data used libjpeg-turbo")
    case = INDEX["cases"][0]
    buffer = io.BytesIO()
    Image.fromarray(_pixels(case["png"])).save(buffer, format="JPEG", quality=85, optimize=True)
    assert hashlib.sha256(buffer.getvalue()).hexdigest() == case["jpeg85_sha256"]
