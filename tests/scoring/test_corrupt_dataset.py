"""``iqalign corrupt``: an ImageNet-C-layout folder that scores like on-the-fly corruption."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from iqalign.cli import app
from iqalign.scoring import ScoreConfig, corrupt, read_scores, score
from iqalign.scoring.corruptions.dataset import MANIFEST_NAME, corrupt_dataset
from iqalign.scoring.corruptions.pictures import corruption_seed

# Random (glass_blur, motion_blur through ImageMagick) and deterministic corruptions.
CORRUPTIONS, SEVERITIES = "glass_blur,motion_blur,fog,contrast", "1,4"
N_FILES = 2 * 4 * 2


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Two real photos in ImageNet class folders (tabby cat, espresso)."""
    from iqalign.scoring.data.sources import load_source

    root = tmp_path_factory.mktemp("src")
    demo = {i.image_id: i.path for i in load_source("demo")}
    for wnid, photo in (("n02123045", "chelsea"), ("n07920052", "coffee")):
        (root / wnid).mkdir()
        shutil.copy(demo[photo], root / wnid / f"{photo}.png")
    return root


@pytest.fixture(scope="module")
def written(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("inc") / "imagenet-c"
    result = CliRunner().invoke(app, [
        "corrupt", "--data", str(source), "--out", str(out), "--corruptions", CORRUPTIONS,
        "--severities", SEVERITIES, "--workers", "2",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_layout_and_files_are_the_public_api_saved_as_jpeg_85(written, source):
    from iqalign.scoring.data.images import resize_center_crop

    files = sorted(p.relative_to(written).as_posix() for p in written.rglob("*.JPEG"))
    assert len(files) == N_FILES
    assert "motion_blur/4/n02123045/chelsea.JPEG" in files
    with Image.open(source / "n02123045" / "chelsea.png") as photo:
        crop = resize_center_crop(photo.convert("RGB"))
    picture = corrupt(crop, "motion_blur", 4, seed=corruption_seed("chelsea", "motion_blur", 4))
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=85, optimize=True)
    assert (written / "motion_blur/4/n02123045/chelsea.JPEG").read_bytes() == buffer.getvalue()
    manifest = json.loads((written / MANIFEST_NAME).read_text())
    assert manifest["corruption_impl"] == "imagenet-c" and manifest["skipped"] == []


def test_scoring_the_folder_gives_the_rows_of_on_the_fly_scoring(written, source, tmp_path):
    common = dict(models=("efficientnet_lite0",), metrics=("tv", "piqe", "tg_maxlogit"),
                  workers=0, batch_size=8)  # fmt: skip
    released = read_scores(score(ScoreConfig(
        data=str(written), layout="imagenet-c", out=str(tmp_path / "a"), **common
    )).out)  # fmt: skip
    on_the_fly = read_scores(score(ScoreConfig(
        data=str(source), corruptions=CORRUPTIONS, severities=SEVERITIES,
        out=str(tmp_path / "b"), **common,
    )).out)  # fmt: skip
    fly_pipeline = json.loads((tmp_path / "b" / "manifest.json").read_text())["pipeline"]
    assert fly_pipeline["corruption_impl"] == "imagenet-c"
    file_pipeline = json.loads((tmp_path / "a" / "manifest.json").read_text())["pipeline"]
    assert file_pipeline["imagenet_c_files_resized"]["resized"] == 0  # 224 px, as released
    keys = ["image_id", "label", "corruption", "severity"]
    on_the_fly = on_the_fly[on_the_fly["corruption"] != "none"]
    merged = released.merge(on_the_fly, on=keys, suffixes=("_file", "_fly"), validate="1:1")
    assert len(merged) == len(released) == len(on_the_fly) == N_FILES
    columns = [c for c in released.columns if c.startswith(("q_", "pred_", "correct_"))]
    for column in columns:
        # Same pixels in both runs, but other batches: a CPU convolution may sum in another
        # order (measured: 1 of 16 tg_maxlogit values off by 9e-8 relative). Float
        # rounding only; predictions are equal.
        np.testing.assert_allclose(merged[f"{column}_file"], merged[f"{column}_fly"],
                                   rtol=1e-6, atol=1e-6, err_msg=column)  # fmt: skip


def test_resume_makes_only_missing_files(written, source, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(written, out)
    victim = out / "fog" / "1" / "n07920052" / "coffee.JPEG"
    original = victim.read_bytes()
    victim.unlink()
    result = corrupt_dataset(str(source), out, corruptions=CORRUPTIONS, severities=SEVERITIES,
                             workers=1)  # fmt: skip
    assert (result.written, result.existing) == (1, N_FILES - 1)
    assert victim.read_bytes() == original
    again = corrupt_dataset(str(source), out, corruptions=CORRUPTIONS, severities=SEVERITIES)
    assert (again.written, again.existing) == (0, N_FILES)


def test_unreadable_images_are_skipped_and_recorded(source, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(source, data)
    (data / "n02123045" / "broken.png").write_text("not pixels")
    result = corrupt_dataset(str(data), tmp_path / "out", corruptions="contrast",
                             severities="1", workers=1)  # fmt: skip
    assert result.written == 2 and [s["image_id"] for s in result.skipped] == ["broken"]
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert "not an image" in manifest["skipped"][0]["reason"]


def test_bad_options_exit_2_with_one_line(source, tmp_path):
    for option, value in (("--impl", "imagenet_c"), ("--corruptions", "fogg")):
        result = CliRunner().invoke(app, [
            "corrupt", "--data", str(source), "--out", str(tmp_path / "x"), option, value,
        ])  # fmt: skip
        assert result.exit_code == 2
        assert result.output.strip().startswith("error:") and len(result.output.splitlines()) <= 2


def test_the_extra_corruptions_can_be_written(source, tmp_path):
    result = corrupt_dataset(str(source), tmp_path / "x", corruptions="extra", severities="2",
                             workers=1, limit=1)  # fmt: skip
    folders = sorted(p.name for p in (tmp_path / "x").iterdir() if p.is_dir())
    assert result.written == 4 and folders == ["gaussian_blur", "saturate", "spatter",
                                               "speckle_noise"]  # fmt: skip
    assert pd.Series(folders).isin(["fog"]).sum() == 0
