"""CR2 variance and Bell-McCaffrey df against the textbook matrix formulas.

The reference builds the hat matrix of the stratum intercepts, takes each cluster's
``(I - H_cc)^(-1/2)`` by an eigendecomposition (pseudo-inverse on zero eigenvalues), and
forms Bell & McCaffrey's (2002) ``G`` matrix explicitly, as clubSandwich's
``vcovCR(type = "CR2")`` and ``Wald_test(test = "Satterthwaite")`` do; the module's
one-number-per-cell shortcut and trace algebra must give the same numbers.
"""

import numpy as np
import pytest

from iqalign.stats.core.cluster import cluster_robust_variance


def _dense_reference(x, e, strata, clusters):
    n = x.size
    same = strata[:, None] == strata[None, :]
    hat = same / same.sum(axis=1, keepdims=True)
    residual_maker = np.eye(n) - hat
    b = np.zeros(n)
    for c in np.unique(clusters):
        at = np.flatnonzero(clusters == c)
        values, vectors = np.linalg.eigh(np.eye(at.size) - hat[np.ix_(at, at)])
        inv_sqrt = np.where(values > 1e-10, 1 / np.sqrt(np.clip(values, 1e-10, None)), 0.0)
        b[at] = (vectors * inv_sqrt) @ vectors.T @ x[at]
    cols = np.stack([np.where(clusters == c, b, 0.0) for c in np.unique(clusters)], axis=1)
    variance = float(np.sum((cols.T @ e) ** 2))
    g = cols.T @ residual_maker @ cols
    return variance, float(np.trace(g) ** 2 / np.trace(g @ g))


@pytest.mark.parametrize(
    "layout",
    ["nested", "crossed", "unbalanced"],
)
def test_cr2_and_df_match_the_matrix_formulas(layout):
    rng = np.random.default_rng({"nested": 0, "crossed": 1, "unbalanced": 2}[layout])
    if layout == "nested":  # clusters inside strata (image IDs inside labels)
        clusters = np.repeat(np.arange(12), 5)
        strata = clusters // 3
    elif layout == "crossed":  # each cluster in every stratum (image IDs across conditions)
        clusters = np.repeat(np.arange(8), 6)
        strata = np.tile(np.arange(6), 8)
    else:
        clusters = rng.integers(0, 9, 70)
        strata = rng.integers(0, 4, 70)
    q, y = rng.normal(size=clusters.size), rng.normal(size=clusters.size)
    mean = lambda v: (np.bincount(strata, v) / np.bincount(strata))[strata]  # noqa: E731
    x, e = q - mean(q), y - mean(y)
    got = cluster_robust_variance(x, e, strata, clusters)
    variance, df = _dense_reference(x, e, strata, clusters)
    assert got.variance == pytest.approx(variance, rel=1e-10)
    assert got.df == pytest.approx(df, rel=1e-10)
    assert got.n_clusters == np.unique(clusters).size


def test_sparse_and_dense_df_agree(monkeypatch):
    from iqalign.stats.core import cluster as _cluster

    rng = np.random.default_rng(3)
    clusters, strata = rng.integers(0, 30, 400), rng.integers(0, 7, 400)
    x, e = rng.normal(size=400), rng.normal(size=400)
    dense = cluster_robust_variance(x, e, strata, clusters)
    monkeypatch.setattr(_cluster, "_DENSE_CELLS", 0)
    sparse = cluster_robust_variance(x, e, strata, clusters)
    assert sparse.df == pytest.approx(dense.df, rel=1e-12)
    assert sparse.variance == dense.variance
