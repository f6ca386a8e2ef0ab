"""Logit-derived scores; the accuracy estimators that are no longer per-image metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqalign.errors import ScoringConfigError, UnknownNameError
from iqalign.scoring.metrics.confidence import logit_score


def test_logit_scores_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 1000)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    t = torch.tensor(logits)
    np.testing.assert_allclose(logit_score("maxprob", t).numpy(), p.max(1), rtol=1e-5)
    entropy = -(p * np.log(p)).sum(1)
    np.testing.assert_allclose(logit_score("entropy", t).numpy(), entropy, rtol=1e-4)
    np.testing.assert_allclose(logit_score("negentropy", t).numpy(), -entropy, rtol=1e-4)
    np.testing.assert_allclose(
        logit_score("maxlogit", t, logit_scale=100.0).numpy(), logits.max(1) / 100, rtol=1e-5
    )


@pytest.mark.parametrize("name", ["msp", "atc", "atc_ne", "doc"])
def test_the_old_estimator_metrics_say_where_they_went(name):
    from iqalign.scoring import create_metric

    with pytest.raises(UnknownNameError, match="iqalign estimate") as info:
        create_metric(f"{name}:efficientnet_lite0")
    assert "tg_maxprob" in str(info.value)


def test_an_old_config_with_estimator_settings_says_where_they_went(tmp_path):
    from iqalign.scoring.run.config import load_config

    path = tmp_path / "run.toml"
    path.write_text('[score]\nout = "x"\nmetrics = ["tv"]\n[score.atc_thresholds]\nm = 0.5\n')
    with pytest.raises(ScoringConfigError, match=r"atc_thresholds: .*iqalign estimate"):
        load_config(path)
