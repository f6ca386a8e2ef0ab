"""Calibration on synthetic data with known truth (slow: hundreds of replicates).

Under a DAG that makes M independent of Q given the strata, a test at level 0.05 must
reject in about 5% of replicates (here: within 3%-7% over >= 1000 replicates, i.e. more
than 4 standard errors either side), and it must detect a planted dependence of modest
size (a log-odds slope of 0.1 per SD of Q).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.special import expit, logit

from iqalign.causal import parse_dag
from iqalign.stats import ci_test, group_correlations, simulate_scores

from .conftest import NULL_DAG as NULL_TEXT
from .conftest import null_dag

pytestmark = pytest.mark.slow

# Q and M are both clustered by image (Q through X0, M through the image's label) yet independent
CLUSTERED_NULL = parse_dag("""
name: clustered_null
nodes:
  X0: {column: image_id}
  Y: {column: label}
  C: {column: corruption}
  Q: {column: "q_*"}
  M: {column: "correct_*"}
edges: ["X0 -> Q", "C -> Q", "Y -> M"]
implies: ["Q _||_ M"]
""")


def _rates(p_values):
    p = np.asarray(p_values)
    return float(np.mean(p < 0.05)), float(sps.kstest(p, "uniform").pvalue)


def test_per_image_tests_hold_their_level_under_the_null():
    dag = null_dag()
    p = {"score": [], "cmh": []}
    for seed in range(1500):
        table = simulate_scores(dag, n_ids=50, seed=seed)
        for test in p:
            p[test].append(ci_test(table, "sim", "sim", by="image_id", test=test).p_value)
    for test, values in p.items():
        rate, ks = _rates(values)
        assert 0.03 <= rate <= 0.07, (test, rate)
        assert ks > 0.001, (test, ks)


def test_heterogeneous_null_is_not_anticonservative():
    """Within an image, M varies with severity and Q with corruption (crossed): still a null."""
    dag = parse_dag(NULL_TEXT.replace('"S -> Q"', '"S -> M"'))
    p = [
        ci_test(simulate_scores(dag, n_ids=50, seed=s), "sim", "sim", by="image_id").p_value
        for s in range(1000)
    ]
    rate, _ = _rates(p)
    assert 0.02 <= rate <= 0.07, rate


def test_cluster_robust_variance_holds_the_level_where_the_model_variance_does_not():
    robust, model = [], []
    for seed in range(1000):
        table = simulate_scores(CLUSTERED_NULL, n_ids=60, n_labels=20, seed=seed)
        robust.append(ci_test(table, "sim", "sim").p_value)
        model.append(ci_test(table, "sim", "sim", cluster=None).p_value)
    rate, ks = _rates(robust)
    assert 0.03 <= rate <= 0.07 and ks > 0.001, (rate, ks)
    assert (
        _rates(model)[0] > 0.15
    )  # rows of an image are not independent: the naive test over-rejects


def test_planted_dependence_of_modest_size_is_detected():
    dag = null_dag(("Q -> M",))
    found = {"score": 0, "cmh": 0}
    effects = []
    for seed in range(200):
        table = simulate_scores(dag, n_ids=100, strengths={"Q -> M": 0.1}, seed=seed)
        for test in found:
            result = ci_test(table, "sim", "sim", by="image_id", test=test)
            found[test] += result.p_value < 0.05
            if test == "score":
                effects.append(result.effect)
    assert found["score"] / 200 >= 0.8, found
    assert found["cmh"] / 200 >= 0.5, found  # the median split throws information away
    assert 0.05 < np.mean(effects) < 0.15


def test_cluster_bootstrap_interval_covers_the_population_correlation():
    """75 groups made from the same images, with known population group means."""
    rng = np.random.default_rng(123)
    severity, corruption = np.repeat(np.arange(1, 6), 15), np.tile(np.arange(15), 5)
    mu_q = -0.3 * severity + rng.normal(0, 0.3, 15)[corruption]
    p = expit(1.2 - 0.25 * severity + 0.5 * mu_q + rng.normal(0, 0.3, 75))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    accuracy = (expit(logit(p)[:, None] + nodes[None, :]) * weights / weights.sum()).sum(axis=1)
    truth = sps.pearsonr(mu_q, accuracy).statistic
    covered = {"basic-z": 0, "percentile": 0}
    n_ids, replicates = 1000, 40
    for seed in range(replicates):
        r = np.random.default_rng(seed)
        image, group = np.repeat(np.arange(n_ids), 75), np.tile(np.arange(75), n_ids)
        q = mu_q[group] + r.normal(size=n_ids)[image] + r.normal(size=image.size)
        m = r.random(image.size) < expit(logit(p[group]) + r.normal(size=n_ids)[image])
        frame = pd.DataFrame(
            {
                "image_id": image,
                "corruption": corruption[group].astype(str),
                "severity": severity[group],
                "q_x": q,
                "correct_x": m.astype(int),
            }
        )
        for method in covered:
            row = group_correlations(
                frame, "x", "x", n_boot=400, seed=seed, ci_method=method
            ).correlations.iloc[0]
            covered[method] += row["ci_low"] <= truth <= row["ci_high"]
    assert covered["basic-z"] / replicates >= 0.85, covered
    assert covered["percentile"] < covered["basic-z"], covered
