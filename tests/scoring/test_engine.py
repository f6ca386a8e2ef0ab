"""The engine end to end: the scores-table contract, shared work, resume, odd sources."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.errors import (
    RunMismatchError,
    ScoringConfigError,
    WeightsNotFoundError,
)
from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.run.writer import RunStore

METRICS = ("tv", "piqe", "psnr", "tg_maxlogit", "tg_entropy", "tg_maxprob")


def _config(out, **changes) -> ScoreConfig:
    settings = dict(
        data="demo", out=str(out), models=("efficientnet_lite0",), metrics=METRICS,
        corruptions="fog,gaussian_noise", severities="1,3", limit=2, workers=0, batch_size=8,
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "demo"
    result = score(_config(out))
    return out, result, read_scores(out)


def test_table_follows_the_contract(small_run):
    out, result, table = small_run
    assert result.status == "complete" and result.rows == len(table) == 2 * (1 + 2 * 2)
    assert list(table.columns[:5]) == ["image_id", "label", "corruption", "severity", "variant"]
    assert {"pred_efficientnet_lite0", "correct_efficientnet_lite0"} <= set(table.columns)
    q_columns = [c for c in table.columns if c.startswith("q_")]
    assert "q_tg_maxlogit_efficientnet_lite0" in q_columns and "q_tv" in q_columns
    assert all(table[c].dtype == np.float64 for c in q_columns)
    assert table["label"].dtype == np.int64 and table["severity"].dtype == np.int64
    assert set(table["correct_efficientnet_lite0"]) <= {0, 1}
    clean = table[table["corruption"] == "none"]
    assert len(clean) == 2 and (clean["severity"] == 0).all()
    assert table["variant"].isna().all()
    # Clean and corrupted rows share the clean image's ID.
    assert table.groupby("image_id").size().to_dict() == {"chelsea": 5, "coffee": 5}
    assert table.equals(pd.read_parquet(out / "shards"))


def test_correct_means_top1_in_the_acceptable_set(small_run):
    from iqalign.scoring.data.demo import DEMO_PHOTOS

    _, _, table = small_run
    acceptable = {p.image_id: set(p.labels) for p in DEMO_PHOTOS}
    expected = [int(p in acceptable[i]) for i, p in zip(table["image_id"],
                table["pred_efficientnet_lite0"], strict=True)]  # fmt: skip
    assert table["correct_efficientnet_lite0"].tolist() == expected
    primary = {p.image_id: p.labels[0] for p in DEMO_PHOTOS}
    assert (table["label"] == table["image_id"].map(primary)).all()


def test_manifest_records_orientation_and_families(small_run):
    out, _, table = small_run
    manifest = json.loads((out / "manifest.json").read_text())
    columns = manifest["columns"]
    assert set(columns) == {c for c in table.columns if c.startswith("q_")}
    entropy = columns["q_tg_entropy_efficientnet_lite0"]
    assert entropy["higher_is_better"] is False and entropy["family"] == "strong_tg"
    assert entropy["source_model"] == "efficientnet_lite0"
    assert (
        columns["q_psnr"]["family"] == "classic_fr"
        and columns["q_piqe"]["higher_is_better"] is False
    )
    assert "estimators" not in manifest  # ATC/DoC: fitted by 'iqalign estimate', not here
    model = manifest["models"]["efficientnet_lite0"]
    assert model["weights"][0]["sha256"] and model["input_size"] == 224
    assert manifest["versions"]["torch"] and manifest["pipeline"]["seed"] == 0
    assert manifest["status"] == "complete" and not (out / "parts").exists()
    assert (
        out / "skipped.csv"
    ).read_text().strip() == "image_id,corruption,severity,path,stage,reason"
    assert (out / "failures.csv").read_text().strip() == (
        "image_id,corruption,severity,path,metric,reason,message"
    )


def test_a_classifier_runs_once_per_chunk(tmp_path, monkeypatch):
    """The task model and every tg_* column read one forward pass of the network."""
    from iqalign.scoring.models.registry import Classifier

    calls = []
    original = Classifier.forward
    monkeypatch.setattr(
        Classifier, "forward", lambda self, x: calls.append(len(x)) or original(self, x)
    )
    result = score(_config(tmp_path / "r", batch_size=32))
    # Both source images (5 rows each) fit one 32-row chunk: one forward for 5 columns.
    assert calls == [result.rows] == [10]


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch, small_run):
    _, _, uninterrupted = small_run
    original = RunStore.write_part

    def crash_after_first(self, index, *parts):
        if index > 0:
            raise KeyboardInterrupt("simulated crash")
        original(self, index, *parts)

    out = tmp_path / "crashy"
    monkeypatch.setattr(RunStore, "write_part", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        score(_config(out, shard_images=1))
    assert [p.name for p in (out / "parts").glob("*.parquet")] == ["part-000000.parquet"]
    monkeypatch.setattr(RunStore, "write_part", original)
    resumed = score(_config(out, shard_images=1, batch_size=16))  # execution settings may change
    assert resumed.timings["rows_scored_this_session"] == 5
    pd.testing.assert_frame_equal(read_scores(out), uninterrupted)


def test_rerun_of_a_complete_run_does_nothing(small_run):
    out, _, _ = small_run
    assert score(_config(out)).status == "already complete"


def test_other_settings_on_the_same_folder_are_refused(small_run):
    out, _, _ = small_run
    with pytest.raises(RunMismatchError, match="other settings"):
        score(_config(out, severities="1-5"))


def test_mixtures(tmp_path):
    config = _config(tmp_path / "mix", metrics=("tv",), models=(), corruptions="none",
                     mixture=(0.5,), limit=6)  # fmt: skip
    table = read_scores(score(config).out)
    grid = table[table["variant"].isna()]
    mix = table[table["variant"] == "pc=0.5"]
    assert len(grid) == 6 and (grid["corruption"] == "none").all()
    assert sorted(mix["image_id"]) == sorted(grid["image_id"])
    assert (mix["corruption"] != "none").sum() == 3 and mix["severity"].max() <= 3
    # Clean mixture rows reuse the grid's clean picture: identical scores.
    merged = mix[mix["corruption"] == "none"].merge(grid, on="image_id")
    assert (merged["q_tv_x"] == merged["q_tv_y"]).all()


def _imagenet_c_folder(root, demo_crops):
    for corruption, severity in (("fog", 2), ("snow", 4)):
        for name, crop in zip(("ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"), demo_crops,
                              strict=True):  # fmt: skip
            folder = root / corruption / str(severity) / "n01440764"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(crop).save(folder / f"{name}.JPEG", quality=85)
    return root


def test_an_imagenet_c_folder_alone_is_scored_without_clean_rows(tmp_path, demo_crops):
    data = _imagenet_c_folder(tmp_path / "inc", demo_crops)
    config = _config(tmp_path / "b", data=str(data), metrics=("tg_maxprob", "tv"), limit=0)
    table = read_scores(score(config).out)
    assert len(table) == 4 and set(table["corruption"]) == {"fog", "snow"}
    assert set(table["image_id"]) == {"ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"}
    with pytest.raises(ScoringConfigError, match="full-reference"):
        score(_config(tmp_path / "c", data=str(data), metrics=("psnr",)))


def test_unreadable_files_are_skipped_and_recorded(tmp_path, demo_crops):
    data = tmp_path / "imgs"
    data.mkdir()
    good = [f"good{k}" for k in range(6)]
    for name in good:
        Image.fromarray(demo_crops[0]).save(data / f"{name}.png")
    (data / "notes.png").write_text("not pixels")
    (data / "cut.jpg").write_bytes((data / "good0.png").read_bytes()[:300])
    labels = tmp_path / "labels.csv"
    lines = [f"{name}.png,281" for name in good] + ["notes.png,1", "cut.jpg,2"]
    labels.write_text("file,label\n" + "\n".join(lines) + "\n")
    config = _config(tmp_path / "out", data=str(data), labels=str(labels), limit=0)
    result = score(config)
    table = read_scores(result.out)
    # every picture of the two unreadable files: clean, fog 1, 3, gaussian_noise 1, 3
    assert result.skipped == 2 * 5 and set(table["image_id"]) == set(good)
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert sorted(set(skipped["image_id"])) == ["cut", "notes"]
    assert (skipped["stage"] == "decode").all()
    assert skipped["reason"].str.contains("not an image|truncated|unreadable").all()


def test_task_models_need_labels(tmp_path, demo_crops):
    data = tmp_path / "unlabelled"
    data.mkdir()
    Image.fromarray(demo_crops[0]).save(data / "a.png")
    with pytest.raises(ScoringConfigError, match="need labels"):
        score(_config(tmp_path / "o", data=str(data)))
    table = read_scores(score(_config(tmp_path / "q", data=str(data), models=(),
                                      metrics=("tv",))).out)  # fmt: skip
    assert (table["label"] == -1).all()


def test_missing_weights_stop_the_run_before_any_image_is_read(tmp_path, monkeypatch):
    import iqalign.scoring.run.pipeline as pipeline

    decoded = []
    monkeypatch.setattr(pipeline, "decode_image", lambda p: decoded.append(p))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsNotFoundError, match=r"resnet34-b627a593\.pth"):
        score(_config(tmp_path / "o", models=("resnet34",)))
    assert decoded == []


def test_no_network_is_attempted(tmp_path, monkeypatch):
    """Offline flags set (tests/conftest.py): no socket is opened, even for missing weights."""
    import socket

    attempts = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: attempts.append(a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or [])
    score(_config(tmp_path / "net", metrics=("tv", "tg_maxprob")))
    with pytest.raises(WeightsNotFoundError):
        score(_config(tmp_path / "net2", metrics=("cnniqa",), models=()))
    assert attempts == []
