"""Analyse a scoring run: every (task model, quality metric) pair, every DAG's claims.

Input is a run folder written by ``iqalign score`` (Parquet shards + ``manifest.json``)
or any scores table. For every pair of a correctness column ``correct_<m>`` and a
quality column ``q_<name>`` the analysis runs

- the pooled test (held-out AUC and cross-entropy of P(M | Q), prior-only CE beside it);
- the group level (mean Q vs accuracy over (corruption, severity) groups: Pearson,
  Spearman, Kendall with cluster-bootstrap intervals);
- stratified cross-validation per image ID and per label (Appendix G);

and, for each DAG, the verdicts of its testable claims on the pairs the DAG models
(``applies_to`` in the DAG file: the metric family, and whether Q's source model must be
M's model or another). A pair whose analysis is undefined on these data (too few groups,
one class of M, ...) gets a row saying why instead of stopping the report.

Orientation is never flipped: the manifest's ``higher_is_better`` travels with every
row, the fitted slope's sign is reported, and the AUC of a negative quality signal
(entropy) is below 0.5 until read with its orientation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iqalign.errors import IqalignError, ScoresNotFoundError
from iqalign.files import write_atomic

__all__ = ["MetricInfo", "RunAnalysis", "analyze_run", "read_metric_infos", "read_run"]

QUALITY_PREFIX = "q_"
PERFORMANCE_PREFIX = "correct_"


@dataclass(frozen=True)
class MetricInfo:
    """What the manifest says of one ``q_*`` column."""

    column: str
    metric: str
    family: str
    higher_is_better: bool | None
    source_model: str | None

    @property
    def name(self) -> str:
        return self.column.removeprefix(QUALITY_PREFIX)


@dataclass
class RunAnalysis:
    """Every table of the analysis (one row per pair, or per pair and DAG claim)."""

    pooled: pd.DataFrame
    correlations: pd.DataFrame
    groups: pd.DataFrame
    stratified: pd.DataFrame
    verdicts: pd.DataFrame
    failures: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    TABLES = ("pooled", "correlations", "groups", "stratified", "verdicts", "failures")

    def save(self, out_dir: str | Path) -> Path:
        """Write one CSV per table and ``analysis.json`` (settings) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in self.TABLES:
            frame = getattr(self, name)
            write_atomic(out / f"{name}.csv", lambda path, f=frame: f.to_csv(path, index=False))
        text = json.dumps(self.settings, indent=2, default=str)
        write_atomic(out / "analysis.json", lambda path: path.write_text(text, encoding="utf-8"))
        return out


def read_run(run_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The scores table and manifest of a run folder (manifest ``{}`` if there is none)."""
    from iqalign.stats import load_scores

    run = Path(run_dir)
    if not run.exists():
        raise ScoresNotFoundError(
            f"{run}: no such run folder; create one with 'iqalign score ... --out {run}' "
            "or 'iqalign demo'"
        )
    manifest_path = run / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ScoresNotFoundError(f"{manifest_path}: not valid JSON ({err})") from err
    shards = run / "shards"
    table = load_scores(shards if shards.is_dir() else run)
    return table, manifest


def read_metric_infos(table: pd.DataFrame, manifest: dict[str, Any]) -> dict[str, MetricInfo]:
    """One :class:`MetricInfo` per ``q_*`` column; columns the manifest does not describe
    get family ``"unknown"`` and an unknown orientation (never guessed)."""
    described = manifest.get("columns", {}) if isinstance(manifest, dict) else {}
    infos = {}
    for column in table.columns:
        if not column.startswith(QUALITY_PREFIX):
            continue
        entry = described.get(column, {})
        infos[column] = MetricInfo(
            column=column,
            metric=str(entry.get("metric", column.removeprefix(QUALITY_PREFIX))),
            family=str(entry.get("family", "unknown")),
            higher_is_better=entry.get("higher_is_better"),
            source_model=entry.get("source_model"),
        )
    return infos


def analyze_run(
    table: pd.DataFrame,
    metrics: dict[str, MetricInfo],
    *,
    models: Sequence[str] | None = None,
    dags: Iterable[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> RunAnalysis:
    """Run every analysis on every (model, metric) pair and every DAG's claims."""
    started = time.perf_counter()
    models = list(
        models
        or [
            c.removeprefix(PERFORMANCE_PREFIX)
            for c in table.columns
            if c.startswith(PERFORMANCE_PREFIX)
        ]
    )
    if not models or not metrics:
        raise ScoresNotFoundError(
            f"the scores table has {len(models)} correct_* and {len(metrics)} q_* columns; "
            "an analysis needs at least one of each"
        )
    collected: dict[str, list[pd.DataFrame]] = {name: [] for name in RunAnalysis.TABLES}
    pairs = [(model, info) for model in models for info in metrics.values()]
    for index, (model, info) in enumerate(pairs, start=1):
        if progress:
            progress(f"[{index}/{len(pairs)}] {info.name} vs correct_{model}")
        _analyze_pair(table, model, info, n_boot, seed, collected)
    for dag_name in dags:
        _run_dag(table, dag_name, models, metrics, collected, progress)
    frames = {name: _concat(parts) for name, parts in collected.items()}
    settings = {
        "n_boot": n_boot,
        "seed": seed,
        "models": models,
        "metrics": list(metrics),
        "dags": list(dags),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return RunAnalysis(**frames, settings=settings)


def _pair_columns(model: str, info: MetricInfo) -> dict[str, Any]:
    return {
        "model": model,
        "metric": info.name,
        "family": info.family,
        "higher_is_better": info.higher_is_better,
        "q_source": info.source_model or "",
        "same_model": info.source_model == model,
    }


def _analyze_pair(table, model: str, info: MetricInfo, n_boot: int, seed: int, out) -> None:
    from iqalign.stats import group_correlations, predictability, stratified_cv

    m_column = f"{PERFORMANCE_PREFIX}{model}"
    key = _pair_columns(model, info)
    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            "pooled",
            lambda: predictability(
                table, info.column, m_column, n_boot=n_boot, seed=seed, nonfinite="drop"
            ),
        ),
        (
            "groups",
            lambda: group_correlations(
                table, info.column, m_column, n_boot=n_boot, seed=seed, nonfinite="drop"
            ),
        ),
        (
            "image_id",
            lambda: stratified_cv(
                table, info.column, m_column, "image_id", seed=seed, nonfinite="drop"
            ),
        ),
        (
            "label",
            lambda: stratified_cv(
                table, info.column, m_column, "label", seed=seed, nonfinite="drop"
            ),
        ),
    ]
    for name, run in steps:
        try:
            result = run()
        except IqalignError as err:  # undefined on these data: say why, keep going
            out["failures"].append(pd.DataFrame([{**key, "analysis": name, "reason": str(err)}]))
            continue
        if name == "pooled":
            out["pooled"].append(_with_key(result.to_frame(), key))
        elif name == "groups":
            out["correlations"].append(_with_key(result.correlations, key))
            out["groups"].append(_with_key(result.groups, key))
        else:
            frame = result.to_frame().drop(columns=["per_stratum"], errors="ignore")
            frame["skipped"] = frame["skipped"].map(_format_skipped)
            out["stratified"].append(_with_key(frame, key))


def _run_dag(table, dag_name: str, models, metrics, out, progress) -> None:
    from iqalign.causal import load_dag
    from iqalign.stats import run_verdicts

    dag = load_dag(dag_name)
    for model in models:
        for info in metrics.values():
            if not dag.applies_to.accepts(info.family, info.source_model, model):
                continue
            if progress:
                progress(f"{dag.name}: claims on {info.name} vs correct_{model}")
            key = {"dag": dag.name, **_pair_columns(model, info)}
            try:
                result = run_verdicts(dag, table, info.column, f"{PERFORMANCE_PREFIX}{model}")
            except IqalignError as err:
                out["failures"].append(
                    pd.DataFrame([{**key, "analysis": "verdicts", "reason": str(err)}])
                )
                continue
            out["verdicts"].append(_with_key(result.rows, key))


def _with_key(frame: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for position, (name, value) in enumerate(key.items()):
        frame.insert(position, name, value)
    return frame


def _format_skipped(skipped: Any) -> str:
    if not isinstance(skipped, dict):
        return str(skipped)
    parts = [f"{reason} {count}" for reason, count in skipped.items() if count]
    return ", ".join(parts) or "none"


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
