"""Can Q tell a user how well the model will do on a new set of images? Measured honestly.

:func:`estimate_accuracy` runs every set-level estimator under one protocol and scores it
against the true accuracy of held-out sets:

- **Source** (labelled): a random ``source_fraction`` of the image IDs; every fit uses
  only their rows. **Target** (labels hidden): the other image IDs; no evaluated row was
  ever used in a fit.
- ``protocol="loco"`` (leave one corruption out): the targets are the (corruption,
  severity) groups of the target IDs; an estimator that learns from labelled corrupted
  rows predicts corruption c from fits that never saw c (its rows, Q values and bin
  edges included). ``protocol="mixtures"``: the targets are the p_c mixtures (the run's
  ``variant`` rows if it was scored with ``--mixture``, else drawn as in
  :mod:`iqalign.stats.analyses.mixtures`); nothing is held out.
- **Tracks**: each estimator is labelled with what it saw. ``clean``: labelled clean
  source images only, or no labels (AC, DoC, ATC-MC, ATC-NE). ``shifts``: also the
  labelled corrupted source images of the other corruptions (Q-mean and Q-dist of every
  quality column, DoC and ATC fitted on all source rows, DoC-reg). Ranks and the
  "best estimator" comparison (:func:`compare_within_tracks`) stay within a track: a Q
  map that learnt from labelled corruptions is compared with confidence estimators that
  learnt from the same rows, not with AC.
- **Errors**: MAE over the target groups, its bias-corrected value and a 95 % interval
  from a bootstrap that resamples the corruptions (each with its severities) jointly
  with the target image IDs: how wrong the estimator will be on a *new* corruption
  (:mod:`iqalign.stats.estimation._score`); the max error, without an interval.

The run is read through the scores contract (:func:`iqalign.scores.read_run`, a
:class:`~iqalign.scores.ScoredRun`): quality columns as
:class:`~iqalign.scores.MetricInfo`, task models as :class:`~iqalign.scores.ModelInfo`
(registry name and column slug), so a model named ``timm:resnet50`` whose columns say
``timm_resnet50`` keeps its baselines. AC, DoC and ATC find the task model's confidence
and entropy columns (``tg_maxprob``, ``tg_entropy``) by their role; the scoring-time
``msp``/``atc``/``atc_ne``/``doc`` columns of older runs (role ``legacy_estimator``) are
ignored (with a note).

More estimators plug in as *builders* (:data:`BUILDERS`, or ``builders=`` of
:func:`estimate_accuracy`): ``builder(data, model) -> list[Estimator]`` with
:class:`EstimationData` and :class:`Estimator` (:mod:`iqalign.stats.estimation._base`).

Examples
--------
>>> from iqalign.stats.analyses.simulate import simulate_scores
>>> table = simulate_scores("common_corruptions", n_ids=200, seed=0)
>>> result = estimate_accuracy(table, n_boot=20, seed=0)
>>> result.summary[["track", "estimator"]].values.tolist()
[['shifts', 'Q-mean q_sim'], ['shifts', 'Q-dist q_sim']]
>>> bool((result.summary["MAE"] < 0.2).all())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError
from iqalign.scores import MetricInfo, ModelInfo, ScoredRun, models_in, read_run
from iqalign.stats.core.results import ResultMixin
from iqalign.stats.estimation._agreement import agreement_builder
from iqalign.stats.estimation._base import Builder, EstimationData, Estimator, SortedSource
from iqalign.stats.estimation._confidence import clean_confidence, shifts_confidence
from iqalign.stats.estimation._design import TRACKS, build_design
from iqalign.stats.estimation._probs import probability_builder
from iqalign.stats.estimation._q import is_legacy_estimator, q_based
from iqalign.stats.estimation._score import score_estimators

__all__ = [
    "BUILDERS",
    "PROTOCOLS",
    "TRACKS",
    "TRACK_MEANING",
    "Builder",
    "EstimationData",
    "EstimationResult",
    "Estimator",
    "SortedSource",
    "compare_within_tracks",
    "describe_comparison",
    "estimate_accuracy",
    "read_log_probs",
]

PROTOCOLS = ("loco", "mixtures")
#: What the estimators of each track saw, in words (the CLI's and the report's titles).
TRACK_MEANING = {
    "clean": "fitted on labelled clean source images only (or no labels)",
    "shifts": "also fitted on the labelled source corruptions other than the held-out one",
}
#: The built-in builders, in order; a builder adds rows (estimators) to the ranking.
BUILDERS: tuple[Builder, ...] = (
    clean_confidence, agreement_builder, probability_builder, shifts_confidence, q_based,
)  # fmt: skip
# What a "best estimator" is compared with: every estimator from the literature (confidence,
# agreement, prediction-matrix), i.e. every kind but the Q-based maps under test.
Q_KINDS = ("Q mean", "Q distribution")


@dataclass(frozen=True)
class EstimationResult(ResultMixin):
    """Per (model, estimator) errors (``summary``) and per target group values (``groups``);
    ``resampled``: each (model, estimator)'s bootstrap MAEs, in the same resamples."""

    protocol: str
    source_fraction: float
    seed: int
    n_boot: int
    n_source_ids: int
    n_target_ids: int
    n_target_groups: int
    n_folds: int
    summary: pd.DataFrame
    groups: pd.DataFrame
    source_ids: tuple = ()
    notes: tuple[str, ...] = field(default=())
    resampled: Mapping[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def resampled_units(self) -> str:
        """What each bootstrap resample draws, in words (the CLI's and the report's)."""
        if self.n_folds > 1:
            return (f"the {self.n_folds} corruptions (each with its severities) jointly with "
                    "the target image IDs")  # fmt: skip
        return "the target image IDs"


def read_log_probs(run_dir: str | Path, models: Mapping[str, ModelInfo]) -> dict[str, list]:
    """The saved log-probabilities (``--save-probs``) of each task model that has them."""
    from iqalign.errors import ScoresNotFoundError
    from iqalign.scores import load_log_probs

    found = {}
    for slug in models:
        try:
            found[slug] = load_log_probs(run_dir, slug)
        except ScoresNotFoundError:
            continue  # the builder says what is missing and how to get it
    return found


def _inputs(
    table: ScoredRun | pd.DataFrame | str | Path,
    metrics: Mapping[str, MetricInfo] | None,
    models: Mapping[str, ModelInfo] | Sequence[str] | None,
    log_probs: Mapping[str, Sequence[np.ndarray]] | None,
) -> tuple[
    pd.DataFrame, dict[str, MetricInfo], dict[str, ModelInfo], Mapping[str, Sequence], list[str]
]:
    """The table, the usable metric records, the model records, the log-probabilities
    (given, else the run folder's) and the notes so far."""
    run = table if isinstance(table, ScoredRun) else _read(table)
    model_infos = _model_infos(run, models)
    notes: list[str] = []
    metric_infos = _usable_metrics(run.metrics if metrics is None else metrics, notes)
    if log_probs is None and run.path is not None:
        log_probs = read_log_probs(run.path, model_infos)
    return run.table, metric_infos, model_infos, log_probs or {}, notes


def _check_protocol(protocol: str, n_boot: int) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")


def estimate_accuracy(
    table: ScoredRun | pd.DataFrame | str | Path,
    *,
    metrics: Mapping[str, MetricInfo] | None = None,
    models: Mapping[str, ModelInfo] | Sequence[str] | None = None,
    protocol: str = "loco",
    source_fraction: float = 0.5,
    n_boot: int = 200,
    seed: int = 0,
    p_values: Sequence[float] | None = None,
    source_ids: Sequence | None = None,
    builders: Sequence[Builder] | None = None,
    log_probs: Mapping[str, Sequence[np.ndarray]] | None = None,
) -> EstimationResult:
    """Fit every estimator on the source and score it on the target groups (module doc).

    Parameters
    ----------
    table
        A :class:`~iqalign.scores.ScoredRun`, a run folder or Parquet path (read with
        :func:`~iqalign.scores.read_run`), or a DataFrame (family unknown).
    metrics
        The quality columns' records, keyed by column; ``None``: the run's.
    models
        The task models (records keyed by slug, or slugs); ``None``: the run's.
    protocol
        ``"loco"`` (leave one corruption out) or ``"mixtures"``.
    source_fraction
        The share of image IDs drawn (with ``seed``) as the labelled source.
    n_boot
        Bootstrap resamples for the error intervals.
    seed
        Seed of the source draw and the bootstrap.
    p_values
        The p_c of ``protocol="mixtures"``; ``None``: the default ones.
    source_ids
        The labelled image IDs; ``None``: drawn.
    builders
        The estimators to fit; ``None``: :data:`BUILDERS`.
    log_probs
        Per model slug, its log-softmax per shard; ``None``: the run folder's, if any.

    Returns
    -------
    EstimationResult
        Every estimator's estimate and error per target group, and their summaries.
    """
    _check_protocol(protocol, n_boot)
    frame, metric_infos, model_infos, probs, notes = _inputs(table, metrics, models, log_probs)
    rng = np.random.default_rng(seed)
    design = build_design(frame, protocol, source_fraction, rng, p_values, source_ids)
    data = EstimationData(frame, design, metric_infos, model_infos, notes, log_probs=probs)
    estimators = _build(data, BUILDERS if builders is None else builders)
    truths = {m: _truth(frame, info, design.pair_row) for m, info in model_infos.items()}
    summary, groups, resampled = score_estimators(design, estimators, truths, n_boot, rng)
    return EstimationResult(
        protocol, source_fraction, seed, n_boot, design.n_source_ids, design.n_target_ids,
        len(design.group_keys), design.n_folds, summary, groups, design.source_ids,
        tuple(dict.fromkeys(notes + design.notes)), resampled,
    )  # fmt: skip


def _read(table: pd.DataFrame | str | Path) -> ScoredRun:
    return ScoredRun.from_table(table) if isinstance(table, pd.DataFrame) else read_run(table)


def _model_infos(
    run: ScoredRun, models: Mapping[str, ModelInfo] | Sequence[str] | None
) -> dict[str, ModelInfo]:
    known = dict(run.models)
    if not known:
        raise ScoresTableError(
            "the scores table has no correctness column of any task model (as "
            "iqalign.scores.performance_column names it); accuracy estimation needs "
            "labelled correctness (0/1) for at least one task model"
        )
    if models is None:
        return known
    if isinstance(models, Mapping):
        return dict(models)
    missing = [m for m in models if m not in known]
    if missing:
        raise ScoresTableError(f"no correctness column for model(s) {missing}; the table has "
                               f"{models_in(run.table.columns)}")  # fmt: skip
    return {m: known[m] for m in models}


def _usable_metrics(metrics: Mapping[str, MetricInfo], notes: list[str]) -> dict[str, MetricInfo]:
    """The quality columns estimation may use: every one but the legacy estimator columns."""
    legacy = [c for c, info in metrics.items() if is_legacy_estimator(info)]
    if legacy:
        notes.append(
            f"{len(legacy)} scoring-time MSP/ATC/DoC column(s) of an older run are ignored "
            f"({', '.join(legacy)}): they are not quality metrics, and AC, DoC and ATC are "
            "computed here from the tg_maxprob / tg_entropy columns"
        )
    return {c: info for c, info in metrics.items() if not is_legacy_estimator(info)}


def _build(data: EstimationData, builders: Sequence[Builder]) -> list[Estimator]:
    estimators: list[Estimator] = []
    for model in data.models:
        names: set[str] = set()
        for builder in builders:
            for e in builder(data, model):
                e.check(data.design)
                if e.name in names:
                    raise ValueError(
                        f"two estimators named {e.name!r} for {model}; a builder must give "
                        "each estimator of a model its own name"
                    )
                names.add(e.name)
                estimators.append(e)
    return estimators


def _truth(frame: pd.DataFrame, info: ModelInfo, pair_row: np.ndarray) -> np.ndarray:
    values = frame[info.correct_column].to_numpy(dtype=np.float64, na_value=np.nan)[pair_row]
    if not np.isin(values, (0.0, 1.0)).all():
        raise ScoresTableError(
            f"column {info.correct_column!r} must be 0/1 on every target row (correctness)"
        )
    return values


def compare_within_tracks(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (model, track): the best estimator by MAE, the best estimator from the literature
    (any kind but the Q-based maps :data:`Q_KINDS`) of the same track (the baseline), and
    ``separated``: whether the best one's interval
    lies wholly below the baseline's. Where it does not, the two are not distinguishable
    at this size, whatever their MAEs say.

    Examples
    --------
    >>> summary = pd.DataFrame({"model": "m", "track": "shifts", "estimator": ["Q", "ATC"],
    ...     "kind": ["Q mean", "confidence"], "MAE": [0.05, 0.08],
    ...     "MAE_ci_low": [0.03, 0.06], "MAE_ci_high": [0.07, 0.10]})
    >>> compare_within_tracks(summary)[["best", "baseline", "separated"]].values.tolist()
    [['Q', 'ATC', False]]
    """
    rows = []
    for (model, track), part in summary.groupby(["model", "track"], sort=False):
        best = part.loc[part["MAE"].idxmin()]
        baseline = part[~part["kind"].isin(Q_KINDS)]
        base = baseline.loc[baseline["MAE"].idxmin()] if not baseline.empty else None
        rows.append({
            "model": model, "track": track, "best": best["estimator"],
            "best_MAE": best["MAE"], "best_ci": (best["MAE_ci_low"], best["MAE_ci_high"]),
            "baseline": None if base is None else base["estimator"],
            "baseline_MAE": np.nan if base is None else base["MAE"],
            "baseline_ci": (np.nan, np.nan) if base is None else
                           (base["MAE_ci_low"], base["MAE_ci_high"]),
            "separated": bool(base is not None and best["MAE_ci_high"] < base["MAE_ci_low"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def describe_comparison(row: Mapping) -> str:
    """One sentence for a row of :func:`compare_within_tracks`: the best estimator of the
    track, and whether it is distinguishable from the best baseline from the literature.

    Examples
    --------
    >>> row = {"track": "shifts", "best": "Q-mean q_tv", "best_MAE": 0.05,
    ...        "best_ci": (0.03, 0.07), "baseline": "DoC-reg", "baseline_MAE": 0.08,
    ...        "baseline_ci": (0.06, 0.10), "separated": False}
    >>> describe_comparison(row)  # doctest: +NORMALIZE_WHITESPACE
    'shifts track: Q-mean q_tv (MAE 0.050 [0.030, 0.070]) and the best baseline from the
    literature DoC-reg (MAE 0.080 [0.060, 0.100]) are not distinguishable at this size
    (their intervals overlap)'
    """
    best = f"{row['best']} (MAE {row['best_MAE']:.3f} {_interval(row['best_ci'])})"
    head = f"{row['track']} track: "
    if row["baseline"] is None:
        return head + f"best {best}; no baseline from the literature in this track"
    if row["baseline"] == row["best"]:
        return head + f"best {best}, a baseline from the literature"
    base = f"{row['baseline']} (MAE {row['baseline_MAE']:.3f} {_interval(row['baseline_ci'])})"
    if row["separated"]:
        return (head + f"{best} beats the best baseline from the literature {base}; intervals "
                "separate")  # fmt: skip
    return (head + f"{best} and the best baseline from the literature {base} are not "
            "distinguishable at this size (their intervals overlap)")  # fmt: skip


def _interval(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return "[–]" if pd.isna(low) else f"[{low:.3f}, {high:.3f}]"
