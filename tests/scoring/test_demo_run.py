"""The whole demo: every bundled photo, clean + 15 corruptions x 5 severities, real models."""

from __future__ import annotations

import pytest

from iqalign.scoring import ScoreConfig, read_scores, score
from iqalign.scoring.demo import list_demo_items

MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
METRICS = ("tv", "piqe", "brisque_live", "psnr", "gmsd", "tg_maxprob", "tg_entropy",
           "tg_maxlogit", "msp", "atc", "atc_ne", "doc")  # fmt: skip


@pytest.mark.slow
def test_full_demo_run(tmp_path):
    result = score(ScoreConfig(data="demo", models=MODELS, metrics=METRICS, out=str(tmp_path)))
    table = read_scores(tmp_path)
    photos = len(list_demo_items())
    assert result.rows == len(table) == photos * 76 and result.skipped == 0
    assert table.groupby(["corruption", "severity"]).size().eq(photos).all()
    for model in MODELS:
        accuracy = table.groupby("severity")[f"correct_{model}"].mean()
        # Real weights on real photos: clean images are mostly right, severity 5 much less so.
        assert accuracy[0] >= 0.6 and accuracy[5] < accuracy[0] - 0.15, accuracy.to_dict()
        confidence = table.groupby("severity")[f"q_tg_maxprob_{model}"].mean()
        assert confidence[5] < confidence[0]
    assert table.filter(like="q_").notna().all().all()
