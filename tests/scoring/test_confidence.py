"""Logit-derived scores and the ATC / DoC accuracy estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqalign.errors import ScoringConfigError
from iqalign.scoring.confidence import (
    apply_estimator,
    fit_atc_threshold,
    fit_estimator,
    logit_score,
)


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


@pytest.mark.parametrize("seed", range(5))
def test_atc_threshold_reproduces_clean_accuracy(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random(997)
    correct = rng.random(997) < rng.uniform(0.1, 0.95)
    t = fit_atc_threshold(scores, correct)
    assert abs(np.mean(scores > t) - np.mean(correct)) <= 1 / 997


def test_atc_extremes_and_ties():
    scores = np.array([0.5, 0.5, 0.5, 0.9])
    assert np.mean(scores > fit_atc_threshold(scores, np.ones(4))) == 1.0
    assert np.mean(scores > fit_atc_threshold(scores, np.zeros(4))) == 0.0
    assert np.mean(scores > fit_atc_threshold(scores, np.array([1, 0, 0, 0]))) == 0.25


def test_estimators_fit_on_clean_and_apply():
    clean = np.array([0.9, 0.8, 0.3, 0.6])
    correct = np.array([1, 1, 0, 0])
    atc = fit_estimator("atc", clean, correct, column="q_atc_m")
    assert atc.clean_accuracy == 0.5 and atc.n_clean == 4
    assert apply_estimator(atc, clean).mean() == 0.5
    doc = fit_estimator("doc", clean, correct, column="q_doc_m")
    assert doc.parameter == pytest.approx(clean.mean() - 0.5)
    # DoC's group mean on the clean rows is the clean accuracy itself.
    assert apply_estimator(doc, clean).mean() == pytest.approx(0.5)
    assert doc.to_dict()["offset"] == pytest.approx(doc.parameter)


def test_no_clean_rows_needs_a_given_value():
    empty = np.array([])
    with pytest.raises(ScoringConfigError, match=r"\[score.atc_thresholds\]"):
        fit_estimator("atc", empty, empty, column="q_atc_m")
    given = fit_estimator("atc", empty, empty, column="q_atc_m", given=0.7)
    assert given.parameter == 0.7 and given.source == "config"
