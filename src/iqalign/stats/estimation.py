"""Can Q tell a user how well the model will do on a new set of images? Measured honestly.

:func:`estimate_accuracy` runs every set-level estimator of :mod:`iqalign.stats.estimators`
(AC, DoC, ATC-MC, ATC-NE, and Q-mean / Q-dist for every quality column, including Q
from a model other than M) under one protocol and scores it against the true accuracy:

- **Source** (labelled): a random ``source_fraction`` of the image IDs. AC, DoC and ATC
  are fitted on the *clean* rows of those IDs only. The Q-based maps need several labelled
  groups, so they also see the source IDs' corrupted rows -- except the ones the target
  comes from.
- **Target** (labels hidden): only the other image IDs, so no evaluated row was ever used
  in a fit. ``protocol="loco"`` (leave one corruption out): the targets are the
  (corruption, severity) groups; the Q maps for corruption c are fitted on clean + the
  other corruptions, then predict c's severities. ``protocol="mixtures"``: the targets are
  the p_c mixtures (the run's ``variant`` rows if it was scored with ``--mixture``, else
  drawn as in :mod:`iqalign.stats.mixtures`); the Q maps see every source group.

Per (model, estimator): mean absolute error (MAE) and max absolute error over the target
groups, with 95 % intervals from a cluster bootstrap over the *target* image IDs (one ID's rows
move together; the fitted estimators are held fixed, so the interval covers the
evaluation sample, not the refitting of the source). An absolute error turns resampling
noise into upward bias, so the interval is the basic (pivotal) bootstrap interval, not the
percentile one (:func:`_basic_interval`; measured coverage about 0.90).

The group means of the bootstrap come from one matrix product: per target ID and group,
every estimator's per-row ingredient is summed once (numpy ``bincount``); each resample is
a vector of ID counts.

Examples
--------
>>> from iqalign.stats.simulate import simulate_scores
>>> table = simulate_scores("common_corruptions", n_ids=200, seed=0)
>>> result = estimate_accuracy(table, n_boot=20, seed=0)
>>> sorted(result.summary["estimator"])
['Q-dist q_sim', 'Q-mean q_sim']
>>> bool((result.summary["MAE"] < 0.2).all())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError
from iqalign.stats._estimation_design import Design, build_design
from iqalign.stats._estimation_q import Estimator, finite_values, q_estimators, q_stats
from iqalign.stats._results import ResultMixin
from iqalign.stats.estimators import fit_atc_threshold, negative_entropy
from iqalign.stats.table import PERFORMANCE_PREFIX, QUALITY_PREFIX, load_scores

__all__ = [
    "CONFIDENCE_METRICS",
    "ENTROPY_METRICS",
    "ESTIMATOR_FAMILY",
    "PROTOCOLS",
    "EstimationResult",
    "QColumn",
    "describe_q_columns",
    "estimate_accuracy",
    "read_run_columns",
]

PROTOCOLS = ("loco", "mixtures")
CONFIDENCE_METRICS = ("tg_maxprob", "msp")  # per-image MSP of a classifier
ENTROPY_METRICS = ("tg_entropy",)  # per-image softmax entropy of a classifier
ESTIMATOR_FAMILY = "accuracy_estimator"  # msp/atc/doc columns: ingredients, not Q
_DERIVED = ("msp", "atc", "atc_ne", "doc")


@dataclass(frozen=True)
class QColumn:
    """What is known of one ``q_*`` column (from the run's manifest, else its name)."""

    column: str
    metric: str
    family: str
    source_model: str | None = None


@dataclass(frozen=True)
class EstimationResult(ResultMixin):
    """Per (model, estimator) errors (``summary``) and per target group values (``groups``)."""

    protocol: str
    source_fraction: float
    seed: int
    n_boot: int
    n_source_ids: int
    n_target_ids: int
    n_target_groups: int
    summary: pd.DataFrame
    groups: pd.DataFrame
    source_ids: tuple = ()
    notes: tuple[str, ...] = field(default=())


def describe_q_columns(
    table: pd.DataFrame,
    manifest_columns: Mapping[str, Any] | None = None,
    models: Sequence[str] = (),
) -> list[QColumn]:
    """One :class:`QColumn` per ``q_*`` column; without a manifest entry the metric and
    source model are read off the name (``q_<metric>_<model>`` for a known model)."""
    described = manifest_columns or {}
    out = []
    for column in (str(c) for c in table.columns):
        if not column.startswith(QUALITY_PREFIX):
            continue
        entry = described.get(column) or {}
        name, source = column.removeprefix(QUALITY_PREFIX), entry.get("source_model")
        if not entry:
            source = next((m for m in models if name.endswith(f"_{m}")), None)
            name = name.removesuffix(f"_{source}") if source else name
        metric = str(entry.get("metric", name))
        family = str(entry.get("family", ESTIMATOR_FAMILY if metric in _DERIVED else "unknown"))
        out.append(QColumn(column, metric, family, source))
    return out


def read_run_columns(run_dir: str | Path) -> tuple[pd.DataFrame, list[QColumn]]:
    """A run folder's scores (``shards/``) and its described Q columns (``manifest.json``);
    a Parquet file or a folder without a manifest works too (names are then parsed)."""
    import json

    from iqalign.errors import ScoresNotFoundError

    run = Path(run_dir)
    if not run.exists():
        raise ScoresNotFoundError(
            f"{run}: no such run folder or scores table; create one with "
            "'iqalign score ... --out DIR' or 'iqalign demo'"
        )
    manifest: dict[str, Any] = {}
    if (run / "manifest.json").is_file():
        try:
            manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ScoresNotFoundError(f"{run / 'manifest.json'}: not valid JSON ({err})") from err
    frame = load_scores(run / "shards" if (run / "shards").is_dir() else run)
    columns = manifest.get("columns") if isinstance(manifest.get("columns"), dict) else None
    return frame, describe_q_columns(frame, columns, _models_of(frame))


def estimate_accuracy(
    table: pd.DataFrame | str | Path,
    *,
    q_columns: Sequence[QColumn] | None = None,
    models: Sequence[str] | None = None,
    protocol: str = "loco",
    source_fraction: float = 0.5,
    n_boot: int = 200,
    seed: int = 0,
    p_values: Sequence[float] | None = None,
    source_ids: Sequence | None = None,
) -> EstimationResult:
    """Fit every estimator on the source and score it on the target groups (module doc).

    ``source_ids`` (optional) names the labelled image IDs; by default a random
    ``source_fraction`` of them, drawn with ``seed``. Q columns of the accuracy-estimator
    family (msp/atc/doc) are ingredients of AC/ATC/DoC, never Q.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    frame = load_scores(table)
    models = list(models or _models_of(frame))
    q_columns = (
        list(q_columns) if q_columns is not None else describe_q_columns(frame, None, models)
    )
    rng = np.random.default_rng(seed)
    design = build_design(frame, protocol, source_fraction, rng, p_values, source_ids)
    notes: list[str] = []
    usable = [q for q in q_columns if q.family != ESTIMATOR_FAMILY and q.metric not in _DERIVED]
    stats = [st for q in usable if (st := q_stats(frame, design, q, notes)) is not None]
    estimators = []
    for model in models:
        estimators += _confidence_estimators(frame, design, model, q_columns, notes)
        estimators += q_estimators(design, model, _correct(frame, model), stats, notes)
    truths = {m: _correct(frame, m)[design.pair_row] for m in models}
    summary, groups = _score(design, estimators, truths, n_boot, rng)
    return EstimationResult(
        protocol, source_fraction, seed, n_boot, design.n_source_ids, design.n_target_ids,
        len(design.group_keys), summary, groups, design.source_ids,
        tuple(dict.fromkeys(notes + design.notes)),
    )  # fmt: skip


def _models_of(frame: pd.DataFrame) -> list[str]:
    models = [str(c).removeprefix(PERFORMANCE_PREFIX) for c in frame.columns
              if str(c).startswith(PERFORMANCE_PREFIX)]  # fmt: skip
    if not models:
        raise ScoresTableError(
            f"the scores table has no {PERFORMANCE_PREFIX}<model> column: accuracy estimation "
            "needs labelled correctness (0/1) for at least one task model"
        )
    return models


def _correct(frame: pd.DataFrame, model: str) -> np.ndarray:
    values = frame[f"{PERFORMANCE_PREFIX}{model}"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ScoresTableError(
            f"column '{PERFORMANCE_PREFIX}{model}' must be 0/1 for every row (correctness)"
        )
    return values


def _find(q_columns: Sequence[QColumn], model: str, metrics: Sequence[str]) -> str | None:
    for metric in metrics:
        for q in q_columns:
            if q.metric == metric and q.source_model == model:
                return q.column
    return None


def _confidence_estimators(
    frame: pd.DataFrame, design: Design, model: str, q_columns: Sequence[QColumn],
    notes: list[str],
) -> list[Estimator]:  # fmt: skip
    """AC, DoC, ATC-MC and ATC-NE, fitted on the clean rows of the source IDs."""
    source = design.is_source & (design.cs_code == design.clean_cs)
    correct = _correct(frame, model)[source]
    out: list[Estimator] = []
    conf_col = _find(q_columns, model, CONFIDENCE_METRICS)
    conf = finite_values(frame, conf_col, notes, "AC/DoC/ATC-MC") if conf_col else None
    if conf is None and conf_col is None:
        notes.append(f"{model}: no per-image max-probability column (score with tg_maxprob), "
                     "so AC, DoC and ATC-MC were skipped")  # fmt: skip
    if conf is not None:
        target = conf[design.pair_row]
        offset = float(conf[source].mean() - correct.mean())
        t = fit_atc_threshold(conf[source], correct)
        out += [
            Estimator(model, "AC", "confidence", conf_col, "same model", target),
            Estimator(model, "DoC", "confidence", conf_col, "same model", target, offset),
            Estimator(model, "ATC-MC", "confidence", conf_col, "same model",
                       (target >= t).astype(np.float64)),
        ]  # fmt: skip
    ent_col = _find(q_columns, model, ENTROPY_METRICS)
    entropy = finite_values(frame, ent_col, notes, "ATC-NE") if ent_col else None
    if ent_col is None:
        notes.append(f"{model}: no per-image entropy column (score with tg_entropy), "
                     "so ATC-NE was skipped")  # fmt: skip
    if entropy is not None:
        score = negative_entropy(entropy)
        t = fit_atc_threshold(score[source], correct)
        values = (score[design.pair_row] >= t).astype(np.float64)
        out.append(Estimator(model, "ATC-NE", "confidence", ent_col, "same model", values))
    return out


def _score(
    design: Design, estimators: list[Estimator], truths: dict[str, np.ndarray],
    n_boot: int, rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Point values and cluster-bootstrap errors of every estimator over the target groups."""
    from iqalign.stats._estimation_design import bootstrap_group_means

    columns: dict[int, int] = {}
    arrays = []
    for array in [*truths.values(), *(e.values for e in estimators)]:
        if id(array) not in columns:
            columns[id(array)] = len(arrays)
            arrays.append(array)
    point, boot = bootstrap_group_means(design, arrays, n_boot, rng)
    group_rows, summary_rows = [], []
    for e in estimators:
        k, t = columns[id(e.values)], columns[id(truths[e.model])]
        estimate = e.finish(point[:, k].copy(), design.group_fold)
        group_rows.append(_group_frame(design, e, estimate, point[:, t]))
        errors = np.abs(e.finish(boot[:, :, k].copy(), design.group_fold) - boot[:, :, t])
        summary_rows.append(_summary_row(e, np.abs(estimate - point[:, t]), errors))
    summary = pd.DataFrame(summary_rows)
    if not summary.empty:
        summary = summary.sort_values(["model", "MAE"], kind="stable").reset_index(drop=True)
        summary.insert(2, "rank", summary.groupby("model").cumcount() + 1)
    groups = pd.concat(group_rows, ignore_index=True) if group_rows else pd.DataFrame()
    return summary, groups


def _group_frame(design: Design, e: Estimator, estimate, truth) -> pd.DataFrame:
    frame = design.group_keys.copy()
    frame.insert(0, "estimator", e.name)
    frame.insert(0, "model", e.model)
    frame["n_images"] = design.group_size
    frame["true_accuracy"] = truth
    frame["estimate"] = estimate
    frame["error"] = estimate - truth
    return frame


def _summary_row(e: Estimator, abs_error: np.ndarray, boot_errors: np.ndarray) -> dict:
    row = {
        "model": e.model, "estimator": e.name, "kind": e.kind, "Q column": e.q_column,
        "Q from": e.q_source, "n_groups": int(abs_error.size),
        "MAE": float(abs_error.mean()), "MAE_ci_low": np.nan, "MAE_ci_high": np.nan,
        "max_error": float(abs_error.max()), "max_ci_low": np.nan, "max_ci_high": np.nan,
    }  # fmt: skip
    if boot_errors.shape[0]:
        for name, values in (("MAE", np.nanmean(boot_errors, axis=1)),
                             ("max", np.nanmax(boot_errors, axis=1))):  # fmt: skip
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _basic_interval(
                row["MAE" if name == "MAE" else "max_error"], values
            )
    return row


def _basic_interval(point: float, values: np.ndarray) -> tuple[float, float]:
    """Basic (pivotal) bootstrap interval ``[2 point - q97.5, 2 point - q2.5]``, clipped at 0.

    Resampling adds noise to both the estimate and the true group accuracy, and |error|
    turns noise into upward bias, so the plain percentile interval of an MAE sits above
    the MAE. Measured coverage of the population MAE (tests/stats/test_estimation_coverage.py,
    docs/estimation.md): percentile 0.09-0.83, percentile shifted by the bootstrap bias
    0.66-0.89, basic 0.89-0.92 for 50-600 target IDs -- the best of the three, still a
    little under 95 % because |.| is not smooth at 0.
    """
    high, low = 2.0 * point - np.percentile(values, [2.5, 97.5])
    return max(float(low), 0.0), max(float(high), 0.0)
