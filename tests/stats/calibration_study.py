"""Calibration of the tests and intervals on clustered data with known truth (measured).

A seeded generator of ImageNet-C-shaped tables (76 rows per source image: clean + 15
corruptions x 5 severities) in which Q and M are *both* clustered by image ID, and:

- :func:`rejection_rates` -- under the null ``Q _||_ M | strata`` (Q = image effect +
  corruption effect + noise; M = Bernoulli with an image and a label effect, or for the
  (corruption, severity) strata an image effect and a severity effect shared with Q),
  the share of replicates each CI test rejects at level 0.05, or refuses (too few
  clusters), with ``ids_per_stratum`` image IDs per label, or in all for the
  (corruption, severity) strata, which every image spans;
- :func:`pooled_auc_coverage` -- how often the pooled AUC intervals of
  :func:`~iqalign.stats.predictability_arrays` contain the population AUC;
- :func:`group_coverage` -- how often the cluster-bootstrap intervals of
  :func:`~iqalign.stats.group_correlations` contain the population correlation of the
  group means (all groups, within a severity, within a corruption).

``benchmarks/calibrate_stats.py`` runs them all and writes the measured table in
docs/stats.md; ``tests/stats/test_calibration.py`` (slow) checks the targets.
Each replicate runs the array-level test on the generated arrays (no DataFrame).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logit

from iqalign.stats.core.coverage import COVERAGE_TARGET, measured_coverage

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "COVERAGE_TARGET",
    "draw_null",
    "group_coverage",
    "measured_coverage",
    "pooled_auc_coverage",
    "rejection_rates",
]


_CONDITIONS = 76
_ROWS = 1_000  # image IDs per replicate for the label strata: few strata when many IDs each


def _design(
    n_ids: int, rows_per_id: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Image, corruption (0 clean) and severity codes of ``rows_per_id`` conditions per ID."""
    image = np.repeat(np.arange(n_ids), rows_per_id)
    if rows_per_id == _CONDITIONS:
        condition = np.tile(np.arange(_CONDITIONS), n_ids)
    else:  # a random subset of conditions per image (for the LR test's size limits)
        condition = np.argsort(rng.random((n_ids, _CONDITIONS)), axis=1)[:, :rows_per_id].ravel()
    corruption = np.where(condition == 0, 0, (condition - 1) // 5 + 1)
    severity = np.where(condition == 0, 0, (condition - 1) % 5 + 1)
    return image, condition, corruption, severity


def draw_null(
    strata: str, ids_per_stratum: int, rng: np.random.Generator, rows_per_id: int = _CONDITIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One null table as arrays ``(q, m, strata codes, image codes)`` (module docs).

    Examples
    --------
    >>> q, m, s, c = draw_null("label", 2, np.random.default_rng(0))
    >>> q.size, int(s.max()) + 1, int(c.max()) + 1
    (7600, 50, 100)
    """
    if strata == "label":
        n_labels = max(2, 100 // ids_per_stratum)
        n_ids = n_labels * ids_per_stratum
    else:
        n_labels, n_ids = 1, ids_per_stratum
    image, condition, corruption, severity = _design(n_ids, rows_per_id, rng)
    label = (np.arange(n_ids) % n_labels)[image]
    shared = -0.3 * severity if strata == "condition" else 0.0  # a design effect on both
    q = rng.normal(size=n_ids)[image] + rng.normal(size=16)[corruption] + shared
    q = q + rng.normal(size=image.size)
    eta = logit(0.7) + rng.normal(size=n_ids)[image] + 0.5 * rng.normal(size=n_labels)[label]
    m = (rng.random(image.size) < expit(eta + shared)).astype(np.float64)
    codes = label if strata == "label" else condition
    return q, m, codes, image


def rejection_rates(
    test: str,
    strata: str,
    ids_per_stratum: int,
    replicates: int,
    seed: int = 0,
    alpha: float = 0.05,
    rows_per_id: int = _CONDITIONS,
) -> dict:
    """Share of null replicates rejected at ``alpha`` and share refused (module docs)."""
    from iqalign.errors import IqalignError
    from iqalign.stats.analyses.citests import _cmh_test, _lr_test, _score_test

    run = {"score": _score_test, "cmh": _cmh_test, "lr": _lr_test}[test]
    rng = np.random.default_rng([seed, ids_per_stratum, len(strata), len(test)])
    p_values, refused = [], 0
    for _ in range(replicates):
        q, m, codes, image = draw_null(strata, ids_per_stratum, rng, rows_per_id)
        n_strata = int(codes.max()) + 1
        try:
            p_values.append(run(q, m, codes, n_strata, image, alpha)["p_value"])
        except IqalignError:
            refused += 1
    p = np.asarray(p_values)
    return {
        "test": test,
        "strata": strata,
        "ids_per_stratum": ids_per_stratum,
        "replicates": replicates,
        "refused": refused / replicates,
        "tested": int(p.size),
        "rejection": float(np.mean(p < alpha)) if p.size else float("nan"),
    }


_CORRUPTION_EFFECT = np.random.default_rng(11).normal(size=16)  # fixed: part of the population


def _pooled_population(
    n_ids: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q with a per-image effect; M depends on the image's Q effect and on severity."""
    image, _, corruption, severity = _design(n_ids, _CONDITIONS, rng)
    effect = rng.normal(size=n_ids)
    q = effect[image] + _CORRUPTION_EFFECT[corruption] - 0.3 * severity
    q = q + rng.normal(size=image.size)
    eta = logit(0.7) + 0.5 * effect[image] - 0.2 * severity + rng.normal(size=n_ids)[image]
    m = (rng.random(image.size) < expit(eta)).astype(np.float64)
    return q, m, image


def pooled_auc_coverage(n_ids: int, replicates: int, seed: int = 0, n_boot: int = 200) -> dict:
    """Coverage of the pooled AUC's clustered-DeLong and bootstrap intervals (95%)."""
    from iqalign.stats.analyses.predictability import predictability_arrays
    from iqalign.stats.core.auc import roc_auc_score

    q, m, _ = _pooled_population(20_000, np.random.default_rng([seed, 1]))
    truth = roc_auc_score(m, q)  # the model is monotone in Q: its AUC is AUC(Q) or 1 - it
    rng = np.random.default_rng([seed, n_ids])
    hits = {"delong": 0, "bootstrap": 0}
    for _ in range(replicates):
        q, m, image = _pooled_population(n_ids, rng)
        result = predictability_arrays(q, m, image, n_boot=n_boot, rng=rng)
        target = truth if result.slope_sign > 0 else 1.0 - truth
        hits["delong"] += result.auc_delong_ci[0] <= target <= result.auc_delong_ci[1]
        hits["bootstrap"] += result.auc_bootstrap_ci[0] <= target <= result.auc_bootstrap_ci[1]
    return {"n_ids": n_ids, "replicates": replicates, "truth": truth} | {
        k: v / replicates for k, v in hits.items()
    }


def _group_truth(
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[tuple[str, str], float]]:
    """Population group means of Q and accuracies of 75 (corruption, severity) groups."""
    from scipy import stats as sps

    severity, corruption = np.repeat(np.arange(1, 6), 15), np.tile(np.arange(15), 5)
    mu_q = -0.3 * severity + rng.normal(0, 0.3, 15)[corruption]
    p = expit(1.2 - 0.25 * severity + 0.5 * mu_q + rng.normal(0, 0.3, 75))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    accuracy = (expit(logit(p)[:, None] + nodes[None, :]) * weights / weights.sum()).sum(axis=1)
    scopes = {"all": np.arange(75), "severity=3": np.flatnonzero(severity == 3)}
    scopes["corruption=c0"] = np.flatnonzero(corruption == 0)
    truth = {
        (scope, method): float(test(mu_q[at], accuracy[at]).statistic)
        for scope, at in scopes.items()
        for method, test in (
            ("pearson", sps.pearsonr),
            ("spearman", sps.spearmanr),
            ("kendall", sps.kendalltau),
        )
    }
    return severity, corruption, mu_q, p, truth


def group_coverage(
    n_ids: int,
    replicates: int,
    seed: int = 0,
    n_boot: int = 200,
    methods: tuple[str, ...] = ("pearson", "spearman", "kendall"),
) -> list[dict]:
    """Coverage of the group correlations' cluster intervals, per scope and method;
    ``shown`` is the share of replicates that printed an interval at all."""
    import pandas as pd

    from iqalign.stats.analyses.groups import group_correlations

    severity, corruption, mu_q, p, truth = _group_truth(np.random.default_rng(123))
    truth = {key: value for key, value in truth.items() if key[1] in methods}
    rng = np.random.default_rng([seed, n_ids])
    image, group = np.repeat(np.arange(n_ids), 75), np.tile(np.arange(75), n_ids)
    hits = dict.fromkeys(truth, 0)
    shown = dict.fromkeys(truth, 0)
    estimates: dict = {key: [] for key in truth}
    for _ in range(replicates):
        q = mu_q[group] + rng.normal(size=n_ids)[image] + rng.normal(size=image.size)
        m = rng.random(image.size) < expit(logit(p[group]) + rng.normal(size=n_ids)[image])
        frame = pd.DataFrame(
            {
                "image_id": image,
                "corruption": np.char.add("c", corruption[group].astype(str)),
                "severity": severity[group],
                "q_x": q,
                "correct_x": m.astype(np.int8),
            }
        )
        rows = group_correlations(
            frame, "x", "x", n_boot=n_boot, seed=rng, methods=methods
        ).correlations
        rows = rows.set_index(["scope", "method"])
        for key, value in truth.items():
            low, high = rows.loc[key, ["ci_low", "ci_high"]]
            shown[key] += bool(np.isfinite(low))
            column = "r_disattenuated" if key[1] == "pearson" else "r_bias_corrected"
            estimates[key].append((rows.loc[key, "r"], rows.loc[key, column]))
            hits[key] += bool(low <= value <= high)  # no interval: not covered
    return [
        {
            "n_ids": n_ids,
            "scope": scope,
            "method": method,
            "replicates": replicates,
            "coverage": hits[(scope, method)] / replicates,
            "shown": shown[(scope, method)] / replicates,
            "truth": truth[(scope, method)],
            "mean_r": float(np.mean([e[0] for e in estimates[(scope, method)]])),
            "mean_corrected": float(np.nanmean([e[1] for e in estimates[(scope, method)]])),
        }
        for scope, method in truth
    ]


# ---- label-free accuracy estimation: how wrong on a new corruption? -------------------

_EST_SEVERITIES = np.arange(1, 6)
_EST_NOISE = 0.5  # SD of the confidence's own noise on the log-odds scale
_EST_NODES = np.polynomial.hermite_e.hermegauss(60)


def _est_corruptions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per corruption (rows) and severity (columns): accuracy log-odds level and the
    confidence's bias -- a new draw is a new corruption from the same population."""
    strength = rng.uniform(0.4, 1.6, (n, 1))
    level = 2.0 - 0.45 * strength * _EST_SEVERITIES[None, :]
    bias = rng.normal(0.0, 0.35, (n, 1)) + 0.1 * _EST_SEVERITIES[None, :]
    return level, bias


def _est_population(level: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Population accuracy, mean confidence and the confidence's latent log-odds scale, with
    image hardness h ~ N(0, 1) and confidence = sigmoid(level + bias - h + noise)."""
    nodes, weights = _EST_NODES
    weights = weights / weights.sum()
    accuracy = (expit(level[..., None] - nodes) * weights).sum(-1)
    spread = np.sqrt(1.0 + _EST_NOISE**2)
    confidence = (expit((level + bias)[..., None] - spread * nodes) * weights).sum(-1)
    return accuracy, confidence, spread


def _est_table(
    n_ids: int, level: np.ndarray, bias: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Target IDs with every (corruption, severity) row, then as many source IDs with a
    clean row (the clean track's fits), as a scores table."""
    import pandas as pd

    n_c = level.shape[0]
    hard = rng.normal(size=(n_ids, 1, 1))
    p = expit(level[None] - hard)
    correct = rng.random(p.shape) < p
    noise = rng.normal(0.0, _EST_NOISE, p.shape)
    conf = expit((level + bias)[None] - hard + noise)
    src_hard = rng.normal(size=n_ids)
    src_correct = rng.random(n_ids) < expit(2.0 - src_hard)
    src_conf = expit(2.0 - src_hard + rng.normal(0.0, _EST_NOISE, n_ids))
    image = np.repeat(np.arange(n_ids), n_c * 5)
    return pd.DataFrame({
        "image_id": np.concatenate([image, n_ids + np.arange(n_ids)]),
        "corruption": np.concatenate([np.tile(np.repeat(np.arange(n_c), 5), n_ids).astype(str),
                                      np.full(n_ids, "none")]),
        "severity": np.concatenate([np.tile(_EST_SEVERITIES, n_c * n_ids), np.zeros(n_ids, int)]),
        "q_tg_maxprob_m": np.concatenate([conf.ravel(), src_conf]),
        "correct_m": np.concatenate([correct.ravel(), src_correct]).astype(np.int8),
    })  # fmt: skip


def _est_truths(
    table: pd.DataFrame, level: np.ndarray, bias: np.ndarray, n_ids: int
) -> dict[str, float]:
    """The population MAE on a new corruption of each clean-track estimator *as fitted on
    this replicate's source* (its DoC offset, its ATC threshold), over 4,000 corruptions."""
    from scipy.special import ndtr

    accuracy, confidence, spread = _est_population(level, bias)
    source = table.iloc[-n_ids:]
    conf, correct = source["q_tg_maxprob_m"].to_numpy(), source["correct_m"].to_numpy()
    offset = conf.mean() - correct.mean()
    ordered = np.sort(conf)
    k = round((1.0 - correct.mean()) * conf.size)  # Garg et al.: P_S(score < t) = error
    t = ordered[min(k, conf.size - 1)]
    atc = ndtr((level + bias - logit(t)) / spread)
    return {
        "AC": float(np.abs(confidence - accuracy).mean()),
        "DoC": float(np.abs(confidence - offset - accuracy).mean()),
        "ATC-MC": float(np.abs(atc - accuracy).mean()),
    }


def estimation_coverage(
    n_ids: int, replicates: int, seed: int = 0, n_boot: int = 200, n_corruptions: int = 15
) -> list[dict]:
    """Coverage of the MAE intervals of :func:`~iqalign.stats.estimation.accuracy.estimate_accuracy`
    for the MAE on a *new* corruption (clean-track estimators, as fitted), per estimator:
    the interval printed (``used``), the basic and the percentile interval of the same
    resamples; with the mean observed and bias-corrected MAE beside the truth."""
    from iqalign.stats.estimation._confidence import clean_confidence
    from iqalign.stats.estimation.accuracy import estimate_accuracy

    rng = np.random.default_rng([seed, n_ids, n_corruptions])
    population = _est_corruptions(4_000, np.random.default_rng([seed, 1]))
    stats: dict = {}
    for _ in range(replicates):
        level, bias = _est_corruptions(n_corruptions, rng)
        table = _est_table(n_ids, level, bias, rng)
        truths = _est_truths(table, *population, n_ids)
        result = estimate_accuracy(table, n_boot=n_boot, seed=int(rng.integers(2**31)),
                                   source_ids=range(n_ids, 2 * n_ids),
                                   builders=(clean_confidence,))  # fmt: skip
        for row in result.summary.to_dict("records"):
            truth, mae = truths[row["estimator"]], row["MAE"]
            resampled = result.resampled[("m", row["estimator"])]
            low_b, high_b = 2 * mae - np.quantile(resampled, [0.975, 0.025])
            low_p, high_p = np.quantile(resampled, [0.025, 0.975])
            entry = stats.setdefault(row["estimator"], {k: [] for k in _EST_KEYS})
            entry["used"].append(row["MAE_ci_low"] <= truth <= row["MAE_ci_high"])
            entry["basic"].append(max(low_b, 0) <= truth <= max(high_b, 0))
            entry["percentile"].append(low_p <= truth <= high_p)
            entry["width"].append(row["MAE_ci_high"] - row["MAE_ci_low"])
            entry["mae"].append(mae - truth)
            entry["corrected"].append(row["MAE_bias_corrected"] - truth)
            entry["truth"].append(truth)
    return [{"n_ids": n_ids, "n_corruptions": n_corruptions, "replicates": replicates,
             "estimator": name} | {k: float(np.mean(v)) for k, v in entry.items()}
            for name, entry in stats.items()]  # fmt: skip


_EST_KEYS = ("used", "basic", "percentile", "width", "mae", "corrected", "truth")
