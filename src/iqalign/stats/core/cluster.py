"""Small-sample cluster-robust variance of a stratified score: CR2 with Bell-McCaffrey df.

A score ``U = sum_i x_i e_i`` (``x`` centred within strata, ``e = y - mean_s y`` the
residual of the null model with one intercept per stratum) has, when rows are clustered
(76 rows per source image), the sandwich variance ``sum_c (x_c' e_c)^2``. That estimator
is biased low when strata hold few clusters: centring on the stratum mean makes the
clusters' residuals within a stratum negatively correlated (with 2 clusters per stratum
it is half the truth). The bias-reduced linearisation (CR2; Bell & McCaffrey 2002,
Pustejovsky & Tipton 2018) rescales each cluster's residuals by
``(I - H_cc)^(-1/2)``, ``H`` the hat matrix of the stratum intercepts. ``H_cc`` is block
diagonal over the (cluster, stratum) cells with blocks ``J / n_s``, so the rescaling
is one number per cell, ``(1 - n_cs / n_s)^(-1/2)``, applied to the cell mean: a few
bincounts, any table size.

The reference distribution is ``t`` (``F(1, df)`` for the squared statistic) with
Bell & McCaffrey's Satterthwaite degrees of freedom under a working model of
independent, equal-variance rows: ``df = tr(G)^2 / tr(G^2)``, where
``G_cd = b_c' (I - H)_cd b_d`` and ``b_c = A_c x_c``. ``G = diag(b_c'b_c) - P' N^-1 P``
with ``P`` the per-(stratum, cluster) sums of ``b``, so ``tr(G^2)`` needs only the
strata x strata matrix ``P P'``. With many clusters df is large and the test is the
usual chi-square one; with 2 clusters per stratum it is about the number of strata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iqalign.stats.core.codes import unique_codes
from iqalign.stats.core.memo import remember

__all__ = ["ClusterVariance", "cluster_robust_variance"]

_DENSE_CELLS = 5_000_000  # strata x clusters above which P P' is formed sparse (40 MB dense)


@dataclass(frozen=True)
class ClusterVariance:
    """CR2 variance of ``sum x e``, its Bell-McCaffrey df and the number of clusters."""

    variance: float
    df: float
    n_clusters: int


def cluster_robust_variance(
    x: np.ndarray, e: np.ndarray, strata: np.ndarray, clusters: np.ndarray
) -> ClusterVariance:
    """CR2 variance and df of ``sum(x * e)`` (``x``, ``e`` centred within ``strata``).

    Examples
    --------
    Two clusters per stratum, one row each: CR2 doubles the naive ``sum u_c^2`` (0.5).

    >>> x = np.array([1.0, -1.0]); e = np.array([0.5, -0.5])
    >>> v = cluster_robust_variance(x, e, np.array([0, 0]), np.array([0, 1]))
    >>> round(v.variance, 12), round(v.df, 12), v.n_clusters
    (1.0, 1.0, 2)
    """
    c = remember("cr2-cells", (strata, clusters), lambda: _Cells.of(strata, clusters))
    x_mean = np.bincount(c.cell, weights=x, minlength=c.n_cell.size) / c.n_cell
    b = x + (c.factor * x_mean)[c.cell]
    u = np.bincount(c.clusters, weights=b * e, minlength=c.n_clusters)
    variance = float(u @ u)
    df = _satterthwaite_df(b, c.cell, c.cell_stratum, c.cell_cluster, c.n_s, c.n_clusters)
    return ClusterVariance(variance, df, c.n_clusters)


@dataclass(frozen=True)
class _Cells:
    """The (cluster, stratum) cells of a table and the CR2 factor of each: the same for
    every score test on the same strata and clusters (every pair of a run)."""

    clusters: np.ndarray
    n_clusters: int
    cell: np.ndarray
    n_cell: np.ndarray
    cell_stratum: np.ndarray
    cell_cluster: np.ndarray
    n_s: np.ndarray
    factor: np.ndarray

    @classmethod
    def of(cls, strata: np.ndarray, clusters: np.ndarray) -> _Cells:
        # int32 codes: a run keeps one of these per (stratifier, model); half the memory
        strata = unique_codes(strata)[1].astype(np.int32)
        clusters = unique_codes(clusters)[1].astype(np.int32)
        n_strata, n_clusters = int(strata.max()) + 1, int(clusters.max()) + 1
        # (cluster, stratum) cells, coded in sorted order as np.unique would; hashing beats
        # sorting here: a few cells per image, millions of rows
        cell = pd.factorize(clusters.astype(np.int64) * n_strata + strata, sort=True)[0]
        cell = cell.astype(np.int32)
        n_cell = np.bincount(cell).astype(np.float64)
        cell_stratum = np.zeros(n_cell.size, dtype=np.int64)
        cell_stratum[cell] = strata
        cell_cluster = np.zeros(n_cell.size, dtype=np.int64)
        cell_cluster[cell] = clusters
        n_s = np.bincount(strata, minlength=n_strata).astype(np.float64)
        share = n_cell / n_s[cell_stratum]
        # A cell that is its stratum's only cluster has H_cc's eigenvalue 1; x and e have no
        # component along it (both centred there), so the pseudo-inverse factor is 0.
        with np.errstate(divide="ignore"):
            factor = np.where(share < 1 - 1e-12, 1.0 / np.sqrt(1.0 - share) - 1.0, 0.0)
        return cls(clusters, n_clusters, cell, n_cell, cell_stratum, cell_cluster, n_s, factor)


def _satterthwaite_df(
    b: np.ndarray,
    cell: np.ndarray,
    cell_stratum: np.ndarray,
    cell_cluster: np.ndarray,
    n_s: np.ndarray,
    n_clusters: int,
) -> float:
    """``tr(G)^2 / tr(G^2)`` for ``G = diag(b_c'b_c) - P' N^-1 P`` (module docs)."""
    bb = np.bincount(cell_cluster[cell], weights=b * b, minlength=n_clusters)
    p = np.bincount(cell, weights=b)  # P's non-zero entries, one per cell
    k_diag = np.bincount(cell_cluster, weights=p * p / n_s[cell_stratum], minlength=n_clusters)
    scaled = p / np.sqrt(n_s[cell_stratum])
    n_strata = n_s.size
    if n_strata * n_clusters <= _DENSE_CELLS:
        dense = np.zeros((n_strata, n_clusters))
        dense[cell_stratum, cell_cluster] = scaled
        k_frobenius = float(np.sum((dense @ dense.T) ** 2))
    else:
        from scipy import sparse

        matrix = sparse.csr_matrix((scaled, (cell_stratum, cell_cluster)), (n_strata, n_clusters))
        k_frobenius = float((matrix @ matrix.T).power(2).sum())
    trace = float(bb.sum() - k_diag.sum())
    trace_sq = float(bb @ bb - 2 * bb @ k_diag + k_frobenius)
    return trace * trace / trace_sq if trace_sq > 0 else float("nan")
