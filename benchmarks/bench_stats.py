"""Benchmark of the statistics engine on an ImageNet-C-sized synthetic scores table.

Generates ``--ids`` image IDs x 76 rows (50,000 x 76 = 3.8M rows by default) from the
common_corruptions DAG, then times:

- ``per_id_cv_s``: :func:`iqalign.stats.stratified_cv` within each image ID, k folds;
- ``sklearn_loop_s``: the scikit-learn loop it replaces (StandardScaler +
  LogisticRegression + roc_auc_score per stratum and fold, same folds, same penalty),
  timed on a random sample of ``--loop-sample`` strata and extrapolated to all strata
  (``sklearn_loop_extrapolated`` says so);
- ``max_abs_auc_diff`` / ``max_abs_ce_diff``: vectorised vs loop on the sampled strata;
- ``cluster_bootstrap_s``: :func:`iqalign.stats.group_correlations` (75 groups, Pearson,
  Spearman and Kendall, all scopes) with ``--boot`` cluster resamples over image IDs;
- ``pooled_s`` and ``ci_test_s``: the pooled test (1000 bootstrap resamples) and the
  per-image conditional logistic score test; ``ci_test_label_cr2_s`` and
  ``ci_test_condition_cr2_s``: the score test given label and given (corruption,
  severity), where rows share image IDs and the variance is CR2 over all image IDs;
- ``peak_rss_mb``: the process's peak resident memory.

The last line printed is one JSON object. Run: ``python benchmarks/bench_stats.py``
(``--ids 2000 --loop-sample 200`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def _df(*results) -> list[float]:
    """The Bell-McCaffrey df that the CR2 tests report in their variance label."""
    return [float(r.variance.rsplit("(df ", 1)[1].rstrip(")")) for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=50_000, help="image IDs (x 76 rows)")
    parser.add_argument("--folds", type=int, default=5, help="folds per image ID")
    parser.add_argument(
        "--loop-sample", type=int, default=1000, help="strata timed in the sklearn loop"
    )
    parser.add_argument("--boot", type=int, default=1000, help="cluster bootstrap resamples")
    parser.add_argument(
        "--penalty", default="l2", choices=("l2", "none"), help="same for both paths"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from iqalign.stats import ci_test, group_correlations, predictability, simulate_scores

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # reference code: tests/
    from tests.stats.reference import sklearn_cross_validate

    from iqalign.stats.analyses.stratified import cross_validate_arrays, stratified_cv
    from iqalign.stats.core.table import get_stratum_codes

    load_before = os.getloadavg()
    table, simulate_s = _timed(simulate_scores, "common_corruptions", args.ids, seed=args.seed)
    cv, per_id_cv_s = _timed(
        stratified_cv, table, "q_sim", "correct_sim", "image_id", n_folds=args.folds,
        penalty=args.penalty, seed=args.seed,
    )  # fmt: skip

    # the same folds again (same seed), to compare fit by fit with the loop
    q, m = table["q_sim"].to_numpy(), table["correct_sim"].to_numpy(np.float64)
    strata, keys = get_stratum_codes(table, ["image_id"])
    rng = np.random.default_rng(args.seed)
    scores = cross_validate_arrays(
        q, m, strata, len(keys), None, n_folds=args.folds, penalty=args.penalty, rng=rng
    )
    sample = np.sort(
        np.random.default_rng(1).choice(len(keys), min(args.loop_sample, len(keys)), replace=False)
    )
    # one BLAS/OpenMP thread for the loop: its fastest setting on a shared machine (with two,
    # its many tiny BLAS calls busy-wait against the other processes and run ~4x slower)
    with threadpool_limits(1):
        loop, loop_measured_s = _timed(
            sklearn_cross_validate, q, m, strata, scores.folds, args.folds,
            penalty=args.penalty, only_strata=sample,
        )  # fmt: skip
    at = (sample[:, None] * args.folds + np.arange(args.folds)).ravel()
    both = (scores.status[at] == 0) & (loop["status"].to_numpy() == "used")
    agree = (scores.status[at] == 0) == (loop["status"].to_numpy() == "used")
    sklearn_loop_s = loop_measured_s * len(keys) / sample.size

    groups, cluster_bootstrap_s = _timed(
        group_correlations, table, "q_sim", "correct_sim", n_boot=args.boot
    )
    pooled, pooled_s = _timed(predictability, table, "q_sim", "correct_sim", n_boot=1000)
    test, ci_test_s = _timed(ci_test, table, "q_sim", "correct_sim", "image_id")
    # clustered: rows share image IDs across strata, CR2 variance over 50,000 clusters
    by_label, ci_label_s = _timed(ci_test, table, "q_sim", "correct_sim", "label")
    by_condition, ci_condition_s = _timed(
        ci_test, table, "q_sim", "correct_sim", ["corruption", "severity"]
    )

    result = {
        "rows": len(table),
        "ids": args.ids,
        "folds": args.folds,
        "penalty": args.penalty,
        "simulate_s": round(simulate_s, 2),
        "per_id_cv_s": round(per_id_cv_s, 2),
        "per_id_folds_used": cv.n_folds_used,
        "per_id_folds_skipped": cv.skipped,
        "per_id_mean_auc": round(cv.mean_auc_score, 4),
        "sklearn_loop_s": round(sklearn_loop_s, 1),
        "sklearn_loop_extrapolated": sample.size < len(keys),
        "sklearn_loop_sampled_strata": int(sample.size),
        "sklearn_loop_measured_s": round(loop_measured_s, 2),
        "sklearn_loop_blas_threads": 1,
        "speedup": round(sklearn_loop_s / per_id_cv_s, 1),
        "fits_compared": int(both.sum()),
        "skip_status_agrees": bool(agree.all()),
        "max_abs_auc_diff": float(
            np.max(np.abs(scores.auc[at][both] - loop["auc"].to_numpy()[both]))
        ),
        "max_abs_ce_diff": float(np.max(np.abs(scores.ce[at][both] - loop["ce"].to_numpy()[both]))),
        "cluster_bootstrap_s": round(cluster_bootstrap_s, 2),
        "cluster_bootstrap_resamples": args.boot,
        "group_pearson_r": round(float(groups.correlations.iloc[0]["r"]), 4),
        "pooled_s": round(pooled_s, 2),
        "pooled_auc": round(pooled.auc_score, 4),
        "ci_test_s": round(ci_test_s, 2),
        "ci_test_p": test.p_value,
        "ci_test_label_cr2_s": round(ci_label_s, 2),
        "ci_test_condition_cr2_s": round(ci_condition_s, 2),
        "ci_test_cr2_df": [round(x, 1) for x in _df(by_label, by_condition)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
