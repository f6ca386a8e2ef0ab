"""A run is never stopped by one image: NaN cells and failure lines instead, up to a limit.

The odd files sit inside an ImageNet-C-layout folder, as they would in a real download: a
flat (constant) picture, on which BRISQUE is undefined; a picture 1 pixel wide; and a
truncated JPEG.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.errors import ScoringStoppedError
from iqalign.scoring import ScoreConfig, read_scores, score

WNID = "n02123045"


def _save(root, corruption, severity, name, array=None, raw=None):
    folder = root / corruption / str(severity) / WNID
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.JPEG"
    if raw is not None:
        path.write_bytes(raw)
    else:
        Image.fromarray(array).save(path, quality=85)
    return path


def _odd_folder(root, demo_crops, flat=1):
    """Two photos x two corruptions, ``flat`` constant pictures, a 1-px-wide one, a cut one."""
    for k, crop in enumerate(demo_crops):
        for corruption in ("fog", "snow"):
            _save(root, corruption, 3, f"ILSVRC2012_val_0000000{k + 1}", crop)
    for k in range(flat):
        _save(
            root, "contrast", 5, f"ILSVRC2012_val_0000010{k}", np.full((224, 224, 3), 128, np.uint8)
        )
    thin = np.random.default_rng(0).integers(0, 256, (224, 1, 3), dtype=np.uint8)
    _save(root, "pixelate", 2, "ILSVRC2012_val_00000200", thin)
    whole = _save(root, "fog", 1, "ILSVRC2012_val_00000300", demo_crops[0]).read_bytes()
    _save(root, "fog", 1, "ILSVRC2012_val_00000300", raw=whole[: len(whole) // 3])
    return root


def _config(out, data, **changes) -> ScoreConfig:
    settings = dict(
        data=str(data), out=str(out), layout="imagenet-c", models=("efficientnet_lite0",),
        metrics=("tv", "brisque", "tg_maxprob"), workers=0, batch_size=4,
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


@pytest.mark.parametrize("workers", [0, 2])
def test_odd_images_give_nan_cells_and_failure_lines_not_a_stopped_run(tmp_path, demo_crops,
                                                                       workers):  # fmt: skip
    data = _odd_folder(tmp_path / "inc", demo_crops)
    result = score(_config(tmp_path / "run", data, workers=workers))
    assert result.status == "complete"
    table = read_scores(result.out).set_index("image_id")
    # the flat picture is scored -- by every metric that is defined on it
    flat = table.loc["ILSVRC2012_val_00000100"]
    assert np.isnan(flat["q_brisque"]) and np.isfinite(flat["q_tv"])
    assert np.isfinite(flat["q_tg_maxprob_efficientnet_lite0"])
    failures = pd.read_csv(result.out / "failures.csv")
    line = failures[failures["image_id"] == "ILSVRC2012_val_00000100"]
    assert list(line["metric"]) == ["brisque"] and list(line["reason"]) == ["ScoringConfigError"]
    assert "no local contrast" in line["message"].item()
    # every NaN cell has its line, and every line its NaN cell
    nan_cells = {(i, c.removeprefix("q_")) for c in table.columns if c.startswith("q_")
                 for i in table.index[table[c].isna()]}  # fmt: skip
    assert nan_cells == set(zip(failures["image_id"], failures["metric"], strict=True))
    # the 1-px-wide picture is scored (resized, as any file of another size)
    assert "ILSVRC2012_val_00000200" in table.index
    # the truncated file is the one skipped picture
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert list(skipped["image_id"]) == ["ILSVRC2012_val_00000300"] and result.skipped == 1
    assert skipped["reason"].str.contains("truncated").all()
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["counts"]["failed_cells"] == len(failures) == result.failed_cells
    assert manifest["failures"]["metric brisque: ScoringConfigError"] >= 1
    assert manifest["failures"]["decode: unreadable image"] == 1


def test_max_failures_stops_a_run_that_is_mostly_failing(tmp_path, demo_crops):
    data = _odd_folder(tmp_path / "inc", demo_crops, flat=8)
    with pytest.raises(ScoringStoppedError) as info:
        score(_config(tmp_path / "run", data, max_failures=0.05))
    message = str(info.value)
    assert "metric brisque: ScoringConfigError" in message and "--max-failures" in message
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
    # the same folder with a tolerance that accepts it completes, every failure listed
    result = score(_config(tmp_path / "ok", data, max_failures=1.0))
    assert result.failed_cells >= 8


def test_a_device_metric_that_raises_on_one_picture_spares_the_others(tmp_path, demo_crops,
                                                                      monkeypatch):  # fmt: skip
    from iqalign.scoring.metrics import iqa

    real = iqa.total_variation

    def picky(images01):
        if (images01.flatten(1).std(dim=1) == 0).any():
            raise ValueError("flat picture in this batch")
        return real(images01)

    monkeypatch.setattr(iqa, "total_variation", picky)
    data = _odd_folder(tmp_path / "inc", demo_crops)
    result = score(_config(tmp_path / "run", data, metrics=("tv",), batch_size=8))
    table = read_scores(result.out).set_index("image_id")
    assert np.isnan(table.loc["ILSVRC2012_val_00000100", "q_tv"])
    others = table.drop(index="ILSVRC2012_val_00000100")
    assert others["q_tv"].notna().all()  # the rest of the batch kept its values
    failures = pd.read_csv(result.out / "failures.csv")
    assert list(zip(failures["image_id"], failures["metric"], failures["reason"],
                    strict=True)) == [("ILSVRC2012_val_00000100", "tv", "ValueError")]  # fmt: skip


def test_a_device_metric_giving_nan_is_reported(tmp_path, demo_crops, monkeypatch):
    import torch

    from iqalign.scoring.metrics import iqa

    real = iqa.total_variation

    def nan_on_flat(images01):
        values = real(images01)
        return torch.where(images01.flatten(1).std(dim=1) == 0, torch.nan, values)

    monkeypatch.setattr(iqa, "total_variation", nan_on_flat)
    result = score(_config(tmp_path / "run", _odd_folder(tmp_path / "inc", demo_crops),
                           metrics=("tv",)))  # fmt: skip
    failures = pd.read_csv(result.out / "failures.csv")
    assert list(failures["reason"]) == ["non-finite value"]
    assert list(failures["image_id"]) == ["ILSVRC2012_val_00000100"]
