"""Synthetic scores tables from any DAG, so every test can be checked against known truth.

A linear-Gaussian / logistic structural causal model over the DAG, seeded:

- nodes mapped to the *design* columns take their values from the layout, not from
  their parents: ``image_id`` (a random effect per image, N(0, 1)), ``label`` (a random
  effect per class), ``corruption`` (a random effect per type, 0 for clean) and
  ``severity`` (minus the severity level, so that with positive strengths a harder
  corruption lowers its children). Edges *into* design nodes are therefore not
  simulated; the result's notes list them. Dropping edges only adds independencies, so
  every separation the DAG implies still holds in the data;
- a selection node (the task T) is constant: the data set is selected on it;
- the performance node (column ``correct_*``) is Bernoulli with
  ``logit P(M=1) = logit(accuracy) + sum(strength * parent)``;
- every other node is ``sum(strength * parent) + noise * N(0, 1)`` (N(0, 1) for a root);
  with ``deterministic=True`` nodes flagged deterministic get no noise (Q and M become
  functions of the image, as the paper assumes; usually this makes strata separable).

Parents enter standardised (mean 0, SD 1 over the table), so a strength is the effect of
one SD of the parent. ``pred_<model>`` is derived from M and the label (the label when
correct, another class otherwise), so in simulated data it is a child of M, not the
prediction node Ŷ.

Layouts: ``"imagenet-c"`` gives each image ID 76 rows (clean + 15 corruptions x 5
severities) and labels ``0..n_labels-1`` spread evenly over images; ``"iid"`` gives one
row per image ID with a uniformly drawn condition.

Examples
--------
>>> from iqalign.causal import load_dag
>>> table = simulate_scores(load_dag("common_corruptions"), n_ids=3, seed=0)
>>> table.shape, sorted(table.columns)
((228, 7), ['correct_sim', 'corruption', 'image_id', 'label', 'pred_sim', 'q_sim', 'severity'])
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from iqalign.errors import SimulationError
from iqalign.imagenet_c import CLEAN, CORRUPTIONS, SEVERITIES
from iqalign.scores import (
    PERFORMANCE_PREFIX,
    PREDICTION_PREFIX,
    QUALITY_PREFIX,
    is_performance_column,
    is_quality_column,
    model_of,
    prediction_column,
)

if TYPE_CHECKING:
    from iqalign.causal.dag import Dag

__all__ = ["LAYOUTS", "simulate_scores"]

LAYOUTS: tuple[str, ...] = ("imagenet-c", "iid")
DESIGN_COLUMNS: tuple[str, ...] = ("image_id", "label", "corruption", "severity")
_N_CONDITIONS = 1 + len(CORRUPTIONS) * len(SEVERITIES)


def simulate_scores(
    dag: Dag | str | Path,
    n_ids: int = 1000,
    *,
    layout: str = "imagenet-c",
    strength: float = 1.0,
    strengths: Mapping[str, float] | None = None,
    noise: float = 1.0,
    accuracy: float = 0.7,
    n_labels: int = 1000,
    metric: str = "sim",
    model: str = "sim",
    deterministic: bool = False,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """A scores table drawn from a structural causal model over ``dag`` (see module docs).

    Parameters
    ----------
    dag
        A loaded DAG, a built-in name or a path.
    n_ids
        The number of image IDs.
    layout
        ``"imagenet-c"`` (76 rows per image ID) or ``"iid"`` (module docs).
    strength
        The coefficient of every edge.
    strengths
        Coefficients per edge, overriding ``strength`` (``{"X -> Q": 0.5}``).
    noise
        The scale of each non-root node's N(0, 1) noise.
    accuracy
        The target accuracy of M: it sets M's intercept (the realised accuracy is near it).
    n_labels
        The number of classes.
    metric
        The quality column is ``q_<metric>``.
    model
        The performance column is ``correct_<model>``.
    deterministic
        Give the nodes the DAG flags deterministic no noise.
    seed
        A seed or a numpy Generator.

    Returns
    -------
    pandas.DataFrame
        The simulated scores table (settings and notes in ``attrs["iqalign_simulation"]``).
    """
    dag = _load(dag)
    _check_settings(n_ids, layout, noise, accuracy, n_labels)
    rng = np.random.default_rng(seed)
    design = _design(n_ids, layout, n_labels, rng)
    weights = _edge_weights(dag, strength, strengths or {})
    values, notes = _draw_nodes(dag, design, weights, noise, accuracy, deterministic, rng)
    frame = _assemble(dag, design, values, metric, model, n_labels, rng, notes)
    frame.attrs["iqalign_simulation"] = _settings_record(
        dag, n_ids, layout, strength, strengths, noise, accuracy, deterministic, seed, notes
    )
    return frame


def _load(dag: Dag | str | Path) -> Dag:
    """``dag`` itself, or the DAG its built-in name or path loads."""
    from iqalign.causal import load_dag

    return dag if not isinstance(dag, str | Path) else load_dag(dag)


def _settings_record(
    dag: Dag,
    n_ids: int,
    layout: str,
    strength: float,
    strengths: Mapping[str, float] | None,
    noise: float,
    accuracy: float,
    deterministic: bool,
    seed: int | np.random.Generator | None,
    notes: list[str],
) -> dict[str, object]:
    """The settings and notes stored in the table's ``attrs["iqalign_simulation"]``."""
    return {
        "dag": dag.name,
        "n_ids": n_ids,
        "layout": layout,
        "strength": strength,
        "strengths": dict(strengths or {}),
        "noise": noise,
        "accuracy": accuracy,
        "deterministic": deterministic,
        "seed": seed if isinstance(seed, int) else None,
        "notes": notes,
    }


def _check_settings(n_ids: int, layout: str, noise: float, accuracy: float, n_labels: int) -> None:
    if layout not in LAYOUTS:
        raise SimulationError(f"unknown layout {layout!r}; choose one of {list(LAYOUTS)}")
    if n_ids < 1:
        raise SimulationError(f"n_ids must be at least 1, got {n_ids}")
    if not 0.0 < accuracy < 1.0:
        raise SimulationError(f"accuracy must be strictly between 0 and 1, got {accuracy}")
    if n_labels < 2:
        raise SimulationError(
            f"n_labels must be at least 2 (a wrong prediction needs a class), got {n_labels}"
        )
    if noise < 0:
        raise SimulationError(f"noise must be non-negative, got {noise}")


def _design(
    n_ids: int, layout: str, n_labels: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Row-level design codes: image, label, condition (0 = clean), corruption, severity."""
    if layout == "imagenet-c":
        image = np.repeat(np.arange(n_ids), _N_CONDITIONS)
        condition = np.tile(np.arange(_N_CONDITIONS), n_ids)
    else:
        image = np.arange(n_ids)
        condition = rng.integers(0, _N_CONDITIONS, n_ids)
    label_of_image = rng.permutation(n_ids) % n_labels
    corruption = np.where(condition == 0, 0, (condition - 1) // len(SEVERITIES) + 1)
    severity = np.where(condition == 0, 0, (condition - 1) % len(SEVERITIES) + 1)
    return {
        "image": image,
        "label": label_of_image[image],
        "corruption": corruption,
        "severity": severity,
    }


def _edge_weights(
    dag: Dag, strength: float, strengths: Mapping[str, float]
) -> dict[tuple[str, str], float]:
    weights = {(e.source, e.target): float(strength) for e in dag.edges}
    for text, value in strengths.items():
        parts = [p.strip() for p in str(text).split("->")]
        key = (parts[0], parts[1]) if len(parts) == 2 else None
        if key not in weights:
            raise SimulationError(
                f"strengths: {text!r} is not an edge of DAG {dag.name!r}; edges are "
                f"{[str(e) for e in dag.edges]}"
            )
        weights[key] = float(value)
    return weights


def _design_signal(
    column: str, design: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    if column == "severity":
        return -design["severity"].astype(np.float64)
    codes = {
        "image_id": design["image"],
        "label": design["label"],
        "corruption": design["corruption"],
    }[column]
    effect = rng.normal(size=int(codes.max()) + 1)
    if column == "corruption":
        effect[0] = 0.0  # clean
    return effect[codes]


def _standardise(values: np.ndarray) -> np.ndarray:
    sd = values.std()
    return (values - values.mean()) / sd if sd > 0 else np.zeros_like(values)


def _draw_nodes(dag, design, weights, noise, accuracy, deterministic, rng):
    import networkx as nx

    n = design["image"].size
    values: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for name in nx.topological_sort(dag.graph):
        node = dag.node(name)
        parents = dag.parents(name)
        if node.column in DESIGN_COLUMNS:
            values[name] = _design_signal(node.column, design, rng)
            if parents:
                notes.append(
                    f"{name} takes column {node.column!r} from the layout: edges from "
                    f"{', '.join(parents)} into it are not simulated"
                )
            continue
        if node.role == "selection":
            values[name] = np.zeros(n)
            notes.append(f"{name} is a selection node: constant in the data set (selected on it)")
            continue
        signal = np.zeros(n)
        for parent in parents:
            signal += weights[(parent, name)] * _standardise(values[parent])
        quiet = deterministic and node.deterministic
        if is_performance_column(node.column or ""):
            eta = logit(accuracy) + signal
            values[name] = (eta > 0 if quiet else rng.random(n) < expit(eta)).astype(np.float64)
        elif parents:
            values[name] = signal if quiet else signal + noise * rng.normal(size=n)
        else:
            values[name] = rng.normal(size=n)
    return values, notes


def _output_name(column: str, metric: str, model: str) -> str:
    if is_quality_column(column) and column.endswith("*"):
        return QUALITY_PREFIX + metric  # as given, not slugged: the user names it
    if column.endswith("*"):
        return column[:-1] + model
    return column


def _assemble(
    dag: Dag,
    design: dict[str, np.ndarray],
    values: dict[str, np.ndarray],
    metric: str,
    model: str,
    n_labels: int,
    rng: np.random.Generator,
    notes: list[str],
) -> pd.DataFrame:
    n_images = int(design["image"].max()) + 1
    width = max(6, len(str(n_images - 1)))
    frame = pd.DataFrame(
        {
            "image_id": pd.Categorical.from_codes(
                design["image"], [f"sim{i:0{width}d}" for i in range(n_images)]
            ),
            "label": design["label"].astype(np.int64),
            "corruption": pd.Categorical.from_codes(design["corruption"], (CLEAN, *CORRUPTIONS)),
            "severity": design["severity"].astype(np.int64),
        }
    )
    mapped = [  # (node, its column): pairs keep the column a str, not str | None
        (n, n.column)
        for n in dag.nodes
        if n.column and n.column not in DESIGN_COLUMNS and n.role != "latent"
    ]
    names = [_output_name(column, metric, model) for _, column in mapped]
    performance = None
    for (node, column), out in zip(mapped, names, strict=True):
        out = out if names.count(out) == 1 else f"{out}_{node.name}"
        if column.startswith(PREDICTION_PREFIX):
            continue  # derived from M below
        if is_performance_column(column):
            frame[out] = values[node.name].astype(np.int8)
            performance = performance or (out, values[node.name])
        else:
            frame[out] = values[node.name]
    predictions = [n for n, column in mapped if column.startswith(PREDICTION_PREFIX)]
    if predictions and performance is not None:
        wrong = (
            design["label"] + 1 + rng.integers(0, n_labels - 1, design["label"].size)
        ) % n_labels
        frame[prediction_column(model_of(performance[0]))] = np.where(
            performance[1] == 1, design["label"], wrong
        ).astype(np.int64)
    elif predictions:
        notes.append(
            f"no {PERFORMANCE_PREFIX}* node: the {PREDICTION_PREFIX}* column is not produced"
        )
    return frame
