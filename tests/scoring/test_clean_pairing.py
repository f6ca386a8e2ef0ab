"""ImageNet-C with its clean images: one run, one table, FR metrics against the clean crop.

The folder is made the way a user makes one: clean validation images in class folders,
then ``iqalign corrupt`` (the original ImageNet-C code) writes the released-style files.
Every value is checked against a direct computation on the decoded files -- pyiqa for the
full-reference metrics, BRISQUE as published for ``brisque`` -- not against the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.errors import DataSourceError, ScoringConfigError
from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.corruptions.dataset import corrupt_dataset
from iqalign.scoring.data.images import (
    center_crop,
    decode_image,
    jpeg_roundtrip,
    resize_center_crop,
)

WNID = "n02123045"  # tabby: the demo cat's class
IDS = ("ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002")
PAIRS = (("fog", 2), ("gaussian_noise", 4), ("contrast", 1))


def make_clean_folder(root, demo_crops, ids=IDS, wnid=WNID):
    """Clean validation images in ImageNet's class-folder layout (larger than 224 px)."""
    folder = root / wnid
    folder.mkdir(parents=True, exist_ok=True)
    for image_id, crop in zip(ids, demo_crops, strict=False):
        big = Image.fromarray(crop).resize((300, 260), Image.Resampling.BICUBIC)
        big.save(folder / f"{image_id}.JPEG", quality=95)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory, demo_crops):
    root = tmp_path_factory.mktemp("paired")
    clean = make_clean_folder(root / "val", demo_crops)
    for corruption, severity in PAIRS:
        corrupt_dataset(str(clean), root / "inc", layout="imagenet", corruptions=corruption,
                        severities=str(severity), workers=0)  # fmt: skip
    return clean, root / "inc"


def _config(out, data, clean, **changes) -> ScoreConfig:
    settings = dict(
        data=str(data), clean=None if clean is None else str(clean), out=str(out),
        layout="imagenet-c",
        models=("efficientnet_lite0",), metrics=("tv", "psnr", "ssim", "brisque", "tg_maxprob"),
        workers=0, batch_size=4,
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


@pytest.fixture(scope="module")
def paired_run(folders, tmp_path_factory):
    clean, inc = folders
    out = tmp_path_factory.mktemp("run") / "paired"
    result = score(_config(out, inc, clean))
    return out, result, read_scores(out)


def test_one_table_holds_the_clean_rows_and_every_released_file(paired_run):
    _, result, table = paired_run
    assert result.status == "complete" and len(table) == len(IDS) * (1 + len(PAIRS))
    for image_id in IDS:
        rows = table[table["image_id"] == image_id]
        assert sorted(zip(rows["corruption"], rows["severity"], strict=True)) == sorted(
            [("none", 0), *PAIRS]
        )
        assert (rows["label"] == 281).all()  # the class folder's label, clean row included
    clean_rows = table[table["corruption"] == "none"]
    assert len(clean_rows) == len(IDS) and (clean_rows["severity"] == 0).all()


def _expected_pictures(folders, image_id):
    """What the engine must score, computed here from the files themselves."""
    clean_dir, inc = folders
    clean = jpeg_roundtrip(resize_center_crop(decode_image(clean_dir / WNID / f"{image_id}.JPEG")))
    released = {
        (c, s): center_crop(decode_image(inc / c / str(s) / WNID / f"{image_id}.JPEG"))[0]
        for c, s in PAIRS
    }
    return clean, released


def test_fr_metrics_equal_pyiqa_on_the_file_and_the_clean_crop(paired_run, folders):
    import pyiqa
    import torch

    _, _, table = paired_run
    metrics = {name: pyiqa.create_metric(name, device="cpu") for name in ("psnr", "ssim")}

    def tensor(array):
        return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].float() / 255

    for image_id in IDS:
        clean, released = _expected_pictures(folders, image_id)
        for (c, _), picture in [(("none", 0), clean), *released.items()]:
            row = table[(table["image_id"] == image_id) & (table["corruption"] == c)]
            for name, metric in metrics.items():
                expected = float(metric(tensor(picture), tensor(clean)))
                assert row[f"q_{name}"].item() == pytest.approx(expected, rel=1e-6, abs=1e-6)
            assert np.isfinite(row["q_psnr"].item())


def test_cpu_metrics_equal_a_direct_call_on_the_decoded_file(paired_run, folders):
    from iqalign.scoring.metrics.brisque import brisque_score

    _, _, table = paired_run
    for image_id in IDS:
        clean, released = _expected_pictures(folders, image_id)
        for (c, _), picture in [(("none", 0), clean), *released.items()]:
            row = table[(table["image_id"] == image_id) & (table["corruption"] == c)]
            assert row["q_brisque"].item() == brisque_score(picture)  # bit for bit


def test_each_clean_image_is_decoded_once_per_image_id(folders, tmp_path, monkeypatch):
    from iqalign.scoring.run import pipeline

    clean, inc = folders
    decoded: list[str] = []
    real = pipeline.decode_image

    def counting(path, *args, **kwargs):
        decoded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "decode_image", counting)  # workers=0: this process
    score(_config(tmp_path / "run", inc, clean, metrics=("psnr",), models=()))
    clean_reads = [p for p in decoded if str(clean) in p and str(inc) not in p]
    assert sorted(clean_reads) == sorted(str(clean / WNID / f"{i}.JPEG") for i in IDS)
    assert len(decoded) == len(IDS) * (1 + len(PAIRS))  # and each released file once


def test_a_released_file_without_its_clean_image_is_named(folders, tmp_path, demo_crops):
    _, inc = folders
    partial = make_clean_folder(tmp_path / "val", demo_crops[:1], ids=IDS[:1])
    with pytest.raises(DataSourceError) as info:
        score(_config(tmp_path / "a", inc, partial))
    message = str(info.value)
    assert IDS[1] in message and "--unpaired skip" in message and "without a clean image" in message
    result = score(_config(tmp_path / "b", inc, partial, unpaired="skip"))
    table = read_scores(result.out)
    assert set(table["image_id"]) == {IDS[0]} and len(table) == 1 + len(PAIRS)
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert len(skipped) == len(PAIRS) and (skipped["stage"] == "pairing").all()
    assert skipped["path"].str.contains(IDS[1]).all()


def test_a_clean_image_without_released_files_is_named(folders, tmp_path, demo_crops):
    _, inc = folders
    extra = make_clean_folder(tmp_path / "val", np.concatenate([demo_crops, demo_crops[:1]]),
                              ids=(*IDS, "ILSVRC2012_val_00000003"))  # fmt: skip
    with pytest.raises(DataSourceError, match="ILSVRC2012_val_00000003"):
        score(_config(tmp_path / "a", inc, extra))
    result = score(_config(tmp_path / "b", inc, extra, unpaired="skip"))
    assert len(read_scores(result.out)) == len(IDS) * (1 + len(PAIRS))
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert list(skipped["path"].str.contains("ILSVRC2012_val_00000003")) == [True]


def test_a_clean_image_of_another_class_is_refused(folders, tmp_path, demo_crops):
    _, inc = folders
    other = make_clean_folder(tmp_path / "val", demo_crops, wnid="n01440764")
    with pytest.raises(DataSourceError, match="do not belong together"):
        score(_config(tmp_path / "a", inc, other))


def test_without_clean_fr_metrics_are_refused_naming_the_option(folders, tmp_path):
    _, inc = folders
    with pytest.raises(ScoringConfigError, match="--clean IMAGENET_VAL_DIR"):
        score(_config(tmp_path / "a", inc, None, metrics=("psnr",)))


def test_an_unreadable_clean_image_skips_its_id_and_lists_every_picture(folders, tmp_path,
                                                                        demo_crops):  # fmt: skip
    _, inc = folders
    broken = make_clean_folder(tmp_path / "val", demo_crops)
    path = broken / WNID / f"{IDS[1]}.JPEG"
    path.write_bytes(path.read_bytes()[:200])
    result = score(_config(tmp_path / "run", inc, broken, metrics=("psnr", "tv"), models=(),
                           max_failures=1.0))  # fmt: skip
    table = read_scores(result.out)
    assert set(table["image_id"]) == {IDS[0]}
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert len(skipped) == 1 + len(PAIRS) and (skipped["image_id"] == IDS[1]).all()
    assert skipped["reason"].str.contains("truncated|unreadable").all()
