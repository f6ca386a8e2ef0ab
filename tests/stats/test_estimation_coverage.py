"""Coverage of the MAE interval of iqalign.stats.estimation (slow: many replicates).

A population with known group means: image ID i has a hardness h_i shared by all its
groups (so rows of one ID are correlated, as in ImageNet-C), P(correct) = sigmoid(a_g -
h_i), and AC's ingredient (the confidence) is that probability plus a group-specific bias
and noise. AC needs no fit, so the population MAE of AC over the groups is known from a
very large draw, and each replicate's 95 % interval either covers it or not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqalign.stats.estimation import estimate_accuracy

GROUPS = [("blur", s) for s in (1, 2, 3, 4, 5)] + [("fog", s) for s in (1, 2, 3, 4, 5)]
LEVEL = np.linspace(2.0, -1.0, len(GROUPS))
BIAS = np.linspace(-0.06, 0.08, len(GROUPS))


def draw(n_ids: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n_ids, groups) correctness and confidence."""
    hard = rng.normal(0, 1, (n_ids, 1))
    p = 1 / (1 + np.exp(-(LEVEL[None, :] - hard)))
    correct = rng.random(p.shape) < p
    confidence = np.clip(p + BIAS[None, :] + rng.normal(0, 0.1, p.shape), 0, 1)
    return correct, confidence


def population_mae(rng) -> float:
    correct, confidence = draw(2_000_000, rng)
    return float(np.abs(confidence.mean(0) - correct.mean(0)).mean())


def replicate_table(n_ids: int, rng) -> pd.DataFrame:
    correct, confidence = draw(n_ids, rng)
    ids = np.repeat(np.arange(n_ids), len(GROUPS))
    table = pd.DataFrame({
        "image_id": ids.astype(str), "corruption": [c for c, _ in GROUPS] * n_ids,
        "severity": [s for _, s in GROUPS] * n_ids,
        "q_tg_maxprob_m": confidence.ravel(), "correct_m": correct.ravel().astype(int),
    })  # fmt: skip
    clean = pd.DataFrame({"image_id": ["src0", "src1"], "corruption": "none", "severity": 0,
                          "q_tg_maxprob_m": [0.9, 0.5], "correct_m": [1, 0]})  # fmt: skip
    return pd.concat([clean, table], ignore_index=True)


@pytest.mark.slow
def test_mae_interval_covers_the_population_mae():
    rng = np.random.default_rng(2026)
    truth = population_mae(rng)
    hits, widths, n_rep = [], [], 200
    for _ in range(n_rep):
        table = replicate_table(150, rng)
        result = estimate_accuracy(table, n_boot=200, seed=int(rng.integers(2**31)),
                                   source_ids=["src0", "src1"])  # fmt: skip
        ac = result.summary.set_index("estimator").loc["AC"]
        hits.append(ac["MAE_ci_low"] <= truth <= ac["MAE_ci_high"])
        widths.append(ac["MAE_ci_high"] - ac["MAE_ci_low"])
    coverage = float(np.mean(hits))
    print(f"population MAE {truth:.4f}; coverage {coverage:.3f} over {n_rep}; "
          f"mean width {np.mean(widths):.4f}")  # fmt: skip
    # The basic bootstrap interval of an MAE undercovers a little (|.| is not smooth; 0.89-0.92
    # measured for 50-600 IDs, docs/estimation.md); the plain percentile interval covers
    # 0.59 here, the bias-shifted one 0.87. 200 replicates: SE of a coverage ~0.02.
    assert 0.85 <= coverage <= 0.99
