"""``--save-probs``: each task model's log-softmax per row, aligned with the table, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from iqalign.errors import ScoresNotFoundError
from iqalign.scores import load_log_probs
from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.run.writer import RunStore

MODELS = ("efficientnet_lite0", "efficientnet_lite1")


def _config(out, **changes) -> ScoreConfig:
    settings = dict(
        data="demo", out=str(out), models=MODELS, metrics=("tg_maxprob",), save_probs=True,
        corruptions="fog,contrast", severities="2", limit=3, workers=0, batch_size=4,
        shard_images=2, mixture=(0.5,),
    )  # fmt: skip
    settings.update(changes)
    return ScoreConfig(**settings)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probs") / "run"
    score(_config(out))
    return out, read_scores(out)


def test_log_probs_are_row_aligned_with_the_table(run):
    out, table = run
    assert len(table) == 3 * (3 + 1)  # clean, fog 2, contrast 2, and one mixture row each
    for model in MODELS:
        parts = load_log_probs(out, model)
        assert len(parts) == 2 and all(p.dtype == np.float16 for p in parts)
        logp = np.concatenate(parts).astype(np.float64)
        assert logp.shape == (len(table), 1000)
        np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, atol=5e-3)
        # the same row: its prediction and its max probability, as the table has them
        assert (logp.argmax(1) == table[f"pred_{model}"].to_numpy()).mean() >= 0.99
        np.testing.assert_allclose(np.exp(logp.max(1)), table[f"q_tg_maxprob_{model}"],
                                   atol=2e-3, rtol=2e-3)  # fmt: skip


def test_log_probs_equal_the_model_on_the_rendered_picture(run):
    import torch

    from iqalign.scoring.data.sources import load_source
    from iqalign.scoring.models.registry import create_model
    from iqalign.scoring.run.pipeline import plan_work, render_item

    out, table = run
    item = load_source("demo")[0]
    work = plan_work([item], ("fog", "contrast"), (2,))[0]
    pictures = torch.from_numpy(render_item(work)["images"]).permute(0, 3, 1, 2)
    model = create_model(MODELS[0])
    with torch.inference_mode():
        expected = torch.log_softmax(model(pictures.float() / 255), dim=1).half().numpy()
    logp = np.concatenate(load_log_probs(out, MODELS[0]))
    rows = table.index[(table["image_id"] == item.image_id) & table["variant"].isna()]
    np.testing.assert_allclose(logp[rows].astype(np.float32), expected.astype(np.float32),
                               atol=1e-2)  # fmt: skip


def test_the_manifest_says_where_they_are(run):
    out, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["probabilities"][MODELS[1]]
    assert entry["path"] == f"probs/{MODELS[1]}/" and entry["dtype"] == "float16"


def test_a_resumed_run_has_the_same_log_probs(run, tmp_path, monkeypatch):
    out, _ = run
    original = RunStore.write_part

    def crash_after_first(self, index, *parts):
        if index > 0:
            raise KeyboardInterrupt("simulated crash")
        original(self, index, *parts)

    monkeypatch.setattr(RunStore, "write_part", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        score(_config(tmp_path / "crashy"))
    monkeypatch.setattr(RunStore, "write_part", original)
    score(_config(tmp_path / "crashy"))
    for model in MODELS:
        np.testing.assert_array_equal(np.concatenate(load_log_probs(tmp_path / "crashy", model)),
                                      np.concatenate(load_log_probs(out, model)))  # fmt: skip


def test_without_save_probs_the_reader_says_how_to_get_them(tmp_path):
    out = tmp_path / "plain"
    score(_config(out, save_probs=False, mixture=()))
    with pytest.raises(ScoresNotFoundError, match="--save-probs"):
        load_log_probs(out, MODELS[0])


def test_the_cli_flag(tmp_path):
    from iqalign.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, [
        "score", "--data", "demo", "--out", str(out), "--models", MODELS[0], "--metrics", "tv",
        "--corruptions", "none", "--limit", "2", "--workers", "0", "--save-probs", "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert np.concatenate(load_log_probs(out, MODELS[0])).shape == (2, 1000)
