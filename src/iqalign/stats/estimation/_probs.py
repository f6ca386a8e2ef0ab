"""Estimators that need each image's class probabilities (``iqalign score --save-probs``).

:mod:`iqalign.stats.estimation.label_free` holds the estimators (checked against their authors'
code); this module feeds them a run's per-row log-softmax (:func:`iqalign.scores.
load_log_probs`, one memory map per shard) inside the estimation protocol. All four are
in the ``clean`` track: whatever they fit comes from the labelled clean *source* images.

- **TS-AC** (Guo et al. 2017): the temperature that minimises the source NLL, then the
  mean temperature-scaled max probability. Its ingredient is that probability per row,
  so the two-way bootstrap resamples it like AC's.
- **MaNo** (Xie et al. 2024): the source decides the normalisation (softmax or Taylor);
  the score is ``(mean_ik s_ik^4)^(1/4)``, so the ingredient is ``mean_k s_ik^4`` per row
  and the map takes the fourth root of a group mean. Read as an accuracy, unfitted: the
  clean track has no labelled shifted sets to fit the authors' line on. (Our rows hold
  log-softmax values, not logits: the Taylor branch sees them shifted by the row's
  log-sum-exp; the softmax branch is unaffected.)
- **Nuclear norm** (Deng et al. 2023) and **COT** (Lu et al. 2023; temperature-scaled
  first, as the authors do, with the source's label marginal) are not functions of a
  group mean: each target group's estimate is computed once on all its rows and held fixed
  across the bootstrap, so their intervals resample the groups' truths and the
  corruptions but not the estimate's own sampling noise (small next to the spread across
  corruptions at ImageNet-C's sizes). COT solves exact transports of at most
  :data:`COT_MAX_ROWS` rows: larger groups are batched as the authors' code does
  (``run_estimation.py``, 10,000 rows), with the protocol's seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from iqalign.errors import ScoresTableError
from iqalign.stats.estimation import label_free
from iqalign.stats.estimation._base import EstimationData, Estimator

__all__ = ["COT_MAX_ROWS", "LogProbRows", "probability_builder"]

COT_MAX_ROWS = 10_000  # the authors' batch size (luyuzhe111/COT, run_estimation.py)
_BLOCK_ROWS = 4096
_MANO_ORDER = 4.0


class LogProbRows:
    """A task model's per-row log-softmax over a run's shards (memory maps, read lazily)."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0, *(len(p) for p in self.parts)])
        self.n_rows = int(self.starts[-1])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (table positions) as float32 ``(len(rows), classes)``."""
        rows = np.asarray(rows, dtype=np.int64)
        part = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.empty((rows.size, self.parts[0].shape[1]), dtype=np.float32)
        for p in np.unique(part):
            chosen = part == p
            out[chosen] = self.parts[p][rows[chosen] - self.starts[p]]
        return out

    def per_row(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``function`` of each block of rows (float32), concatenated: one value per row."""
        values = []
        for array in self.parts:
            for lo in range(0, len(array), _BLOCK_ROWS):
                values.append(function(np.asarray(array[lo : lo + _BLOCK_ROWS], np.float32)))
        return np.concatenate(values) if values else np.empty(0)


def probability_builder(data: EstimationData, model: str) -> list[Estimator]:
    """TS-AC, MaNo, nuclear norm and COT for ``model`` -- when its probabilities were saved."""
    parts = data.log_probs.get(model)
    if parts is None:
        data.notes.append(
            f"{model}: temperature-scaled AC, the nuclear norm, COT and MaNo need each "
            "image's probabilities: score the run with --save-probs"
        )
        return []
    rows = LogProbRows(parts)
    if rows.n_rows != len(data.frame):
        raise ScoresTableError(
            f"{model}: {rows.n_rows} rows of log-probabilities for a table of "
            f"{len(data.frame)} rows; they must come from the same run (re-score it)"
        )
    source = np.flatnonzero(data.fit_rows("clean", 0))  # the same for every clean fold
    source_logp = rows.take(source)
    labels = data.frame["label"].to_numpy()[source]  # source labels only
    temperature = label_free.fit_temperature(source_logp, labels)
    normalisation = label_free.mano_normalisation(source_logp)
    found = [_ts_ac(data, model, rows, temperature), _mano(data, model, rows, normalisation)]
    nuclear, cot = _group_estimates(data, rows, labels, temperature)
    group = data.design.pair_group
    found += [
        Estimator(model, "Nuclear norm", "clean", "prediction matrix", nuclear[group]),
        Estimator(model, "COT", "clean", "prediction matrix", cot[group]),
    ]
    data.notes.append(
        f"{model}: temperature {temperature:.3f} (fitted on {source.size} clean source "
        f"images), MaNo normalisation: {normalisation}"
    )
    return found


def _ts_ac(data: EstimationData, model: str, rows: LogProbRows, temperature: float) -> Estimator:
    def scaled_max(z: np.ndarray) -> np.ndarray:
        z = z.astype(np.float64) / temperature
        z -= z.max(axis=1, keepdims=True)
        return 1.0 / np.exp(z).sum(axis=1)  # the max probability: exp(0) / sum

    values = data.at_pairs(("ts-ac", model), rows.per_row(scaled_max))
    return Estimator(model, "TS-AC", "clean", "confidence", values)


def _mano(data: EstimationData, model: str, rows: LogProbRows, normalisation: str) -> Estimator:
    def mean_power(z: np.ndarray) -> np.ndarray:
        if normalisation == "softmax":
            s = z.astype(np.float64)
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=1, keepdims=True)
        else:  # the authors' Taylor normalisation (label_free.mano_score)
            zb = z.astype(np.float64)
            s = 1.0 + zb + zb * zb / 2.0
            s -= s.min(axis=1, keepdims=True)
            s /= np.maximum(s.sum(axis=1, keepdims=True), 1e-12)
        return (s**_MANO_ORDER).mean(axis=1)

    values = data.at_pairs(("mano", model), rows.per_row(mean_power))
    root = [lambda means: np.power(means, 1.0 / _MANO_ORDER)] * data.design.n_folds
    return Estimator(model, "MaNo", "clean", "prediction matrix", values, root)


def _group_estimates(
    data: EstimationData, rows: LogProbRows, labels: np.ndarray, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per target group: the nuclear-norm score and COT's estimate, each on all its rows."""
    design = data.design
    order = np.argsort(design.pair_group, kind="stable")
    bounds = np.searchsorted(design.pair_group[order], np.arange(len(design.group_keys) + 1))
    nuclear, cot = np.full(len(bounds) - 1, np.nan), np.full(len(bounds) - 1, np.nan)
    for g in range(len(bounds) - 1):
        z = rows.take(design.pair_row[order[bounds[g] : bounds[g + 1]]])
        if len(z):
            nuclear[g] = label_free.nuclear_norm_score(z)
            cot[g] = label_free.cot_estimate(z, labels, temperature=temperature,
                                             max_rows=COT_MAX_ROWS, seed=g)  # fmt: skip
    return nuclear, cot
