"""The source/target design of :mod:`iqalign.stats.estimation.accuracy` and its two-way bootstrap.

A :class:`Design` holds, as flat numpy arrays, which rows are labelled source rows, which
(row, target group) pairs are evaluated, and the *folds*: under leave-one-corruption-out
each corruption is a fold, whose target groups (its severities) are predicted by
estimators fitted without it. A row may belong to several target groups (the same clean
row sits in many mixtures), hence pairs rather than rows.

What a fit may see is decided here, once (:meth:`Design.fit_rows`): the ``clean`` track
sees the source IDs' clean rows; the ``shifts`` track also the source IDs' corrupted rows,
except the fold's held-out corruption.

The bootstrap (:func:`draw_resamples`) resamples the target image IDs (all of an ID's
rows move together) *and*, jointly, the folds (a corruption with all its severities):
the question it answers is how wrong an estimator will be on a new corruption of this
data set, not only on new images of the corruptions at hand.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError
from iqalign.scores import CLEAN

__all__ = [
    "CLEAN",
    "TRACKS",
    "Design",
    "bootstrap_group_means",
    "build_design",
    "draw_resamples",
]

#: What an estimator saw: ``clean`` -- labelled clean source images only (or no labels);
#: ``shifts`` -- also the labelled corrupted source images of the other corruptions.
TRACKS: tuple[str, ...] = ("clean", "shifts")
_BOOT_CHUNK = 8  # group-sum columns per matrix product: 8 x 25k IDs x 75 groups = 120 MB


@dataclass
class Design:
    """Source rows, target pairs and folds (see the module docstring)."""

    is_source: np.ndarray  # per row: a main-grid row of a source image ID
    cs_code: np.ndarray  # per row: (corruption, severity) code; -1 for mixture rows
    cs_keys: pd.DataFrame  # corruption, severity of each code
    clean_cs: int
    pair_row: np.ndarray
    pair_group: np.ndarray
    pair_tid: np.ndarray  # target image ID code 0..n_target_ids-1
    group_keys: pd.DataFrame
    group_fold: np.ndarray  # per target group: the fold whose fits predict it
    fold_of_cs: np.ndarray  # per (c, s) code: the fold that holds it out, -1 if none
    fold_names: tuple[str, ...]
    n_source_ids: int
    n_target_ids: int
    notes: list[str] = field(default_factory=list)
    source_ids: tuple = ()

    @property
    def n_folds(self) -> int:
        return len(self.fold_names)

    @functools.cached_property
    def group_size(self) -> np.ndarray:
        return np.bincount(self.pair_group, minlength=len(self.group_keys))

    @functools.cached_property
    def pair_fold(self) -> np.ndarray:
        """Per target pair: the fold of its group."""
        return self.group_fold[self.pair_group]

    @functools.cached_property
    def fold_pairs(self) -> tuple[np.ndarray, ...]:
        """Per fold: the indices of its target pairs."""
        order = np.argsort(self.pair_fold, kind="stable")
        bounds = np.searchsorted(self.pair_fold[order], np.arange(self.n_folds + 1))
        return tuple(order[bounds[f] : bounds[f + 1]] for f in range(self.n_folds))

    @functools.cached_property
    def row_fold(self) -> np.ndarray:
        """Per row: the fold that holds its (c, s) group out, -1 if none (or not a grid row)."""
        return np.where(self.cs_code >= 0, self.fold_of_cs[np.maximum(self.cs_code, 0)], -1)

    def fit_rows(self, track: str, fold: int) -> np.ndarray:
        """Per row: may an estimator of ``track`` use it (its labels included) to predict
        the target groups of ``fold``? Only source image IDs, never the held-out corruption."""
        if track == "clean":
            return self.is_source & (self.cs_code == self.clean_cs)
        if track == "shifts":
            return self.is_source & (self.row_fold != fold)
        raise ValueError(f"track must be one of {TRACKS}, got {track!r}")


def build_design(
    frame: pd.DataFrame, protocol: str, source_fraction: float, rng: np.random.Generator,
    p_values: Sequence[float] | None = None, source_ids: Sequence | None = None,
) -> Design:  # fmt: skip
    """Split image IDs into source and target, then lay out the protocol's target groups."""
    for column in ("image_id", "corruption", "severity"):
        if column not in frame.columns:
            raise ScoresTableError(
                f"the scores table has no {column!r} column; accuracy estimation needs "
                "image_id, corruption and severity"
            )
    if not 0.0 < source_fraction < 1.0:
        raise ValueError(f"source_fraction must be in (0, 1), got {source_fraction!r}")
    id_code, ids = pd.factorize(frame["image_id"], sort=True)
    source_id = _split_ids(np.asarray(ids), source_fraction, rng, source_ids)
    n_source = int(source_id.sum())
    main = _main_grid(frame)
    corruption = frame["corruption"].astype(str).to_numpy()
    severity = frame["severity"].to_numpy(dtype=np.int64)
    cs_code, cs_keys = _cs_codes(corruption, severity, main)
    clean = np.flatnonzero(cs_keys["corruption"].to_numpy() == CLEAN)
    if clean.size == 0 or not (source_id[id_code] & (cs_code == clean[0])).any():
        raise ScoresTableError(
            "accuracy estimation fits AC/DoC/ATC on clean rows (corruption 'none') of "
            "the source image IDs, and this table has none; score the clean images too"
        )
    target_code = np.cumsum(~source_id) - 1  # target IDs -> 0..n_target-1
    empty = np.zeros(0, dtype=np.int64)
    design = Design(
        source_id[id_code] & main, cs_code, cs_keys, int(clean[0]), empty, empty, empty,
        pd.DataFrame(), empty, np.full(len(cs_keys), -1, dtype=np.int64), (), n_source,
        len(ids) - n_source,
    )  # fmt: skip
    design.source_ids = tuple(np.asarray(ids)[source_id].tolist())
    target_row = ~source_id[id_code]
    if protocol == "loco":
        _loco_targets(design, target_row & main)
    else:
        _mixture_targets(design, frame, target_row, main, rng, p_values)
    design.pair_tid = target_code[id_code[design.pair_row]]
    return design


def _split_ids(
    ids: np.ndarray, fraction: float, rng: np.random.Generator, given: Sequence | None
) -> np.ndarray:
    """Per image ID: is it a (labelled) source ID? Random, or the IDs the caller gave."""
    if given is not None:
        source = np.isin(ids, np.asarray(list(given), dtype=ids.dtype))
    else:
        source = np.zeros(len(ids), dtype=bool)
        source[rng.permutation(len(ids))[: round(fraction * len(ids))]] = True
    if not 0 < source.sum() < len(ids):
        raise ScoresTableError(
            f"{len(ids)} image IDs split into {int(source.sum())} source and "
            f"{int(len(ids) - source.sum())} target IDs; both parts must be non-empty: "
            "score more images or change --source-fraction"
        )
    return source


def _main_grid(frame: pd.DataFrame) -> np.ndarray:
    """Rows of the (corruption, severity) grid; a run scored with ``--mixture`` also holds
    rows with a ``variant``, which are mixtures, not grid groups."""
    if "variant" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    variant = frame["variant"]
    return (variant.isna() | (variant.astype(str) == "")).to_numpy()


def _cs_codes(
    corruption: np.ndarray, severity: np.ndarray, main: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    from iqalign.stats.core.table import get_stratum_codes

    keys = pd.DataFrame({"corruption": corruption[main], "severity": severity[main]})
    code_main, uniques = get_stratum_codes(keys, ["corruption", "severity"])
    cs_code = np.full(main.size, -1, dtype=np.int64)
    cs_code[main] = code_main
    return cs_code, uniques


def _loco_targets(design: Design, target_rows: np.ndarray) -> None:
    """Targets: every corrupted (c, s) group of the target IDs; fold = the corruption."""
    keys = design.cs_keys
    corrupted = np.flatnonzero(keys["corruption"].to_numpy() != CLEAN)
    if corrupted.size == 0:
        raise ScoresTableError("protocol 'loco' needs corrupted rows; this table has only clean "
                               "ones")  # fmt: skip
    group_of_cs = np.full(len(keys), -1, dtype=np.int64)
    group_of_cs[corrupted] = np.arange(corrupted.size)
    rows = np.flatnonzero(target_rows & (design.cs_code >= 0)
                          & (group_of_cs[np.maximum(design.cs_code, 0)] >= 0))  # fmt: skip
    folds, fold_names = pd.factorize(keys["corruption"].to_numpy()[corrupted], sort=True)
    design.pair_row = rows
    design.pair_group = group_of_cs[design.cs_code[rows]]
    design.group_keys = keys.iloc[corrupted].reset_index(drop=True)
    design.group_fold = folds.astype(np.int64)
    design.fold_of_cs[corrupted] = folds
    design.fold_names = tuple(str(name) for name in fold_names)


def _mixture_targets(
    design: Design,
    frame: pd.DataFrame,
    target_row: np.ndarray,
    main: np.ndarray,
    rng: np.random.Generator,
    p_values: Sequence[float] | None,
) -> None:
    """Targets: the p_c mixtures of the target IDs (scored variants, else drawn here)."""
    from iqalign.stats.analyses.mixtures import DEFAULT_P_VALUES, RowIndex

    if (~main).any():
        variant = frame["variant"].astype(str).to_numpy()
        rows = np.flatnonzero(target_row & ~main)
        codes, names = pd.factorize(variant[rows], sort=True)
        design.notes.append("mixtures: the run's scored variant rows")
    else:
        part = np.flatnonzero(target_row & main)
        index = RowIndex.build(frame.iloc[part])
        values = list(p_values or DEFAULT_P_VALUES)
        children = rng.spawn(len(values))
        drawn = [part[index.draw(p, (1, 2, 3), None, child)]
                 for p, child in zip(values, children, strict=True)]  # fmt: skip
        rows = np.concatenate(drawn)
        codes = np.repeat(np.arange(len(values)), [d.size for d in drawn])
        names = [f"pc={p:g}" for p in values]
        design.notes.append("mixtures: drawn from the grid rows (corruption uniform, "
                            "severity in {1, 2, 3})")  # fmt: skip
    design.pair_row, design.pair_group = rows, codes.astype(np.int64)
    design.group_keys = pd.DataFrame({"variant": list(names)})
    design.group_fold = np.zeros(len(names), dtype=np.int64)
    design.fold_names = ("(none held out)",)


def draw_resamples(
    design: Design, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n_boot`` joint resamples: target-ID counts ``(B, n_target_ids)`` and fold counts
    ``(B, n_folds)`` (under LOCO a fold is a corruption with all its severities; with a
    single fold, as for mixtures, its count is always 1)."""
    n_ids, n_folds = design.n_target_ids, design.n_folds
    ids = np.zeros((n_boot, n_ids))
    folds = np.ones((n_boot, n_folds))
    for b in range(n_boot):
        ids[b] = np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids)
        if n_folds > 1:
            folds[b] = np.bincount(rng.integers(0, n_folds, n_folds), minlength=n_folds)
    return ids, folds


def bootstrap_group_means(
    design: Design, arrays: Sequence[np.ndarray], id_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Group means of each per-pair array: ``(G, K)`` on the data and ``(B, G, K)`` over
    the resamples' target-ID counts ``id_counts`` (``(B, n_target_ids)``)."""
    n_groups, n_ids, n_boot = len(design.group_keys), design.n_target_ids, len(id_counts)
    cell = design.pair_tid * n_groups + design.pair_group
    size = n_ids * n_groups
    count = np.bincount(cell, minlength=size).reshape(n_ids, n_groups).astype(np.float64)
    point = np.empty((n_groups, len(arrays)))
    boot = np.empty((n_boot, n_groups, len(arrays)))
    boot_count = id_counts @ count  # (B, G)
    weights32 = id_counts.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        for lo in range(0, len(arrays), _BOOT_CHUNK):
            chunk = arrays[lo : lo + _BOOT_CHUNK]
            sums = np.stack(
                [np.bincount(cell, weights=a, minlength=size).reshape(n_ids, n_groups)
                 for a in chunk], axis=2,
            )  # fmt: skip
            point[:, lo : lo + len(chunk)] = sums.sum(axis=0) / count.sum(axis=0)[:, None]
            if n_boot:  # float32 halves the product's time; sums of <= 10^5 terms
                flat = weights32 @ sums.reshape(n_ids, -1).astype(np.float32)
                boot[:, :, lo : lo + len(chunk)] = (
                    flat.reshape(n_boot, n_groups, len(chunk)) / boot_count[:, :, None]
                )
    return point, boot
