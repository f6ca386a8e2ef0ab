"""The source/target design of :mod:`iqalign.stats.estimation` and its cluster bootstrap.

A :class:`Design` holds, as flat numpy arrays, which rows are labelled source rows, which
(row, target group) pairs are evaluated, and which source groups each fold leaves out.
A row may belong to several target groups (the same clean row sits in many mixtures),
hence pairs rather than rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from iqalign.errors import ScoresTableError

__all__ = ["CLEAN", "Design", "bootstrap_group_means", "build_design"]

CLEAN = "none"
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
    group_fold: np.ndarray  # per target group: the fold whose maps predict it
    fold_excluded: list[np.ndarray]  # per fold: the source (c, s) codes it leaves out
    n_source_ids: int
    n_target_ids: int
    notes: list[str] = field(default_factory=list)
    source_ids: tuple = ()

    @functools.cached_property
    def group_size(self) -> np.ndarray:
        return np.bincount(self.pair_group, minlength=len(self.group_keys))


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
    design = Design(
        source_id[id_code] & main, cs_code, cs_keys, int(clean[0]),
        *_empty_pairs(), [], n_source, len(ids) - n_source,
    )  # fmt: skip
    design.source_ids = tuple(np.asarray(ids)[source_id].tolist())
    target_row = ~source_id[id_code]
    if protocol == "loco":
        _loco_targets(design, corruption, target_row & main)
    else:
        _mixture_targets(design, frame, target_row, main, rng, p_values)
    design.pair_tid = target_code[id_code[design.pair_row]]
    return design


def _split_ids(ids: np.ndarray, fraction: float, rng, given: Sequence | None) -> np.ndarray:
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


def _empty_pairs():
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, empty, pd.DataFrame(), empty


def _main_grid(frame: pd.DataFrame) -> np.ndarray:
    """Rows of the (corruption, severity) grid; a run scored with ``--mixture`` also holds
    rows with a ``variant``, which are mixtures, not grid groups."""
    if "variant" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    variant = frame["variant"]
    return (variant.isna() | (variant.astype(str) == "")).to_numpy()


def _cs_codes(corruption, severity, main) -> tuple[np.ndarray, pd.DataFrame]:
    from iqalign.stats.table import get_stratum_codes

    keys = pd.DataFrame({"corruption": corruption[main], "severity": severity[main]})
    code_main, uniques = get_stratum_codes(keys, ["corruption", "severity"])
    cs_code = np.full(main.size, -1, dtype=np.int64)
    cs_code[main] = code_main
    return cs_code, uniques


def _loco_targets(design: Design, corruption: np.ndarray, target_rows: np.ndarray) -> None:
    """Targets: every corrupted (c, s) group of the target IDs; fold = the corruption."""
    keys = design.cs_keys
    corrupted = np.flatnonzero(keys["corruption"].to_numpy() != CLEAN)
    if corrupted.size == 0:
        raise ScoresTableError("protocol 'loco' needs corrupted rows; this table has only clean "
                               "ones")  # fmt: skip
    group_of_cs = np.full(len(keys), -1, dtype=np.int64)
    group_of_cs[corrupted] = np.arange(corrupted.size)
    rows = np.flatnonzero(target_rows & (group_of_cs[np.maximum(design.cs_code, 0)] >= 0)
                          & (design.cs_code >= 0))  # fmt: skip
    folds, fold_names = pd.factorize(keys["corruption"].to_numpy()[corrupted], sort=True)
    design.pair_row = rows
    design.pair_group = group_of_cs[design.cs_code[rows]]
    design.group_keys = keys.iloc[corrupted].reset_index(drop=True)
    design.group_fold = folds.astype(np.int64)
    design.fold_excluded = [keys["corruption"].to_numpy() == name for name in fold_names]


def _mixture_targets(design, frame, target_row, main, rng, p_values) -> None:
    """Targets: the p_c mixtures of the target IDs (scored variants, else drawn here)."""
    from iqalign.stats.mixtures import DEFAULT_P_VALUES, _RowIndex

    if (~main).any():
        variant = frame["variant"].astype(str).to_numpy()
        rows = np.flatnonzero(target_row & ~main)
        codes, names = pd.factorize(variant[rows], sort=True)
        design.notes.append("mixtures: the run's scored variant rows")
    else:
        part = np.flatnonzero(target_row & main)
        index = _RowIndex.build(frame.iloc[part])
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
    design.fold_excluded = [np.zeros(len(design.cs_keys), dtype=bool)]


def bootstrap_group_means(
    design: Design, arrays: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Group means of each per-pair array: ``(G, K)`` on the data and ``(B, G, K)`` over
    cluster-bootstrap resamples of the target image IDs (each a vector of ID counts)."""
    n_groups, n_ids = len(design.group_keys), design.n_target_ids
    cell = design.pair_tid * n_groups + design.pair_group
    size = n_ids * n_groups
    count = np.bincount(cell, minlength=size).reshape(n_ids, n_groups).astype(np.float64)
    weights = np.stack(
        [np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids) for _ in range(n_boot)]
    ).astype(np.float64) if n_boot else np.zeros((0, n_ids))  # fmt: skip
    point = np.empty((n_groups, len(arrays)))
    boot = np.empty((n_boot, n_groups, len(arrays)))
    boot_count = weights @ count  # (B, G)
    weights32 = weights.astype(np.float32)
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
