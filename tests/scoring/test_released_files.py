"""ImageNet-C files are scored as released: the scorers get the file's own pixels.

ImageNet-C's files are 224x224 and its evaluation code only centre-crops 224 (a no-op).
A Resize(256) first would zoom every file 1.14x and re-interpolate it.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.run.engine import BatchScorer


def _released_folder(root, demo_crops):
    """An ImageNet-C-layout folder of lossless 224 px files, plus one 256x300 file."""
    rng = np.random.default_rng(0)
    files = {}
    for k, crop in enumerate(demo_crops):
        # Per-pixel noise: any resampling or shift of the picture would change it.
        noisy = np.clip(crop + rng.integers(-40, 41, crop.shape), 0, 255).astype(np.uint8)
        path = root / "gaussian_noise" / "3" / "n02123045" / f"ILSVRC2012_val_{k + 1:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noisy).save(path)
        files[path.stem] = noisy
    odd = rng.integers(0, 256, (300, 256, 3), dtype=np.uint8)
    path = root / "fog" / "2" / "n02123045" / "ILSVRC2012_val_00000009.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(odd).save(path)
    return files, path


def test_scorers_receive_the_files_pixels_exactly(tmp_path, demo_crops, monkeypatch):
    from iqalign.scoring.data.images import resize_center_crop

    files, odd_path = _released_folder(tmp_path / "inc", demo_crops)
    seen: dict[str, np.ndarray] = {}
    original = BatchScorer._compute_chunk

    def spy(self, view, *rest):
        q, p = original(self, view, *rest)
        pixels = (view.images01 * 255).round().to(dtype=__import__("torch").uint8)
        for row, tv in zip(pixels.permute(0, 2, 3, 1).numpy(), q[:, 0].tolist(), strict=True):
            seen[str(tv)] = row.copy()  # keyed by the row's TV score: unique per picture
        return q, p

    monkeypatch.setattr(BatchScorer, "_compute_chunk", spy)
    config = ScoreConfig(data=str(tmp_path / "inc"), out=str(tmp_path / "run"), metrics=("tv",),
                         layout="imagenet-c", workers=0, batch_size=2)  # fmt: skip
    table = read_scores(score(config).out).set_index("image_id")
    assert len(table) == 3
    for image_id, pixels in files.items():
        got = seen[str(table.loc[image_id, "q_tv"])]
        assert got.shape == (224, 224, 3)
        assert np.array_equal(got, pixels)  # not resized, not shifted, not re-encoded
    # A file of another size gets the usual Resize(256)+CenterCrop(224) ...
    odd = seen[str(table.loc[odd_path.stem, "q_tv"])]
    with Image.open(odd_path) as image:
        assert np.array_equal(odd, resize_center_crop(image.convert("RGB")))
    # ... and the manifest says so.
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    resized = manifest["pipeline"]["imagenet_c_files_resized"]
    assert resized["files"] == resized["probed"] == 3 and resized["resized"] == 1
    assert resized["resized_examples"] == [str(odd_path)]
