"""The run report: from a scored run folder to figures, tables and verdicts.

``write_run_report(run_dir)`` reads the scores and manifest
(:func:`iqalign.scores.read_run`), runs the analysis runner
(:func:`iqalign.stats.runner.analysis.run_analysis`; this layer only renders), and writes
``report.html`` (self-contained) and ``report.md`` into ``run_dir/report``:

1. summary: data, models, and which family of quality metric predicts correctness best;
2. tables shaped like the paper's Tables 1-4, one per metric family, with the paper's
   own value beside ours for every pair the paper reports (:mod:`.paper_values`);
3. accuracy vs mean Q per (corruption, severity) group (Fig. 3/5/7), per model;
4. stratified predictability per image ID and per label (Fig. 20) with skipped counts;
5. per DAG: its figure with the tested claims' paths highlighted, the verdicts, and the
   refused claims with their reasons;
6. run metadata: versions, seeds, weights, time taken.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from iqalign.report.document import Code, Document, Heading, Paragraph, Table, write_document
from iqalign.report.figures import group_scatter_grid, stratified_auc_bars
from iqalign.report.paper_values import PAPER_NOTE
from iqalign.report.tables import (
    ESTIMATOR_FAMILY,
    FAMILY_TITLES,
    PAPER_TABLE_COLUMN,
    best_and_worst,
    family_summary,
    paper_table,
    refusal_summary,
    stratified_table,
    uncalibrated_note,
    verdict_details,
    verdict_overview,
    verdict_summary,
)
from iqalign.scores import CLEAN, ScoredRun, performance_column, read_run
from iqalign.stats.runner.analysis import (
    AnalysisResult,
    AnalysisSettings,
    EstimationRequest,
    run_analysis,
)

if TYPE_CHECKING:  # iqalign.causal is imported where it is used (keeps import light)
    from iqalign.causal import Claim, Dag

__all__ = ["SMALL_RUN_IDS", "RunReport", "build_run_document", "write_run_report"]

SMALL_RUN_IDS = 100  # below this many source images the report warns about rough intervals


@dataclass(frozen=True)
class RunReport:
    html: Path
    markdown: Path
    analysis_dir: Path
    seconds: float
    summary: pd.DataFrame


def write_run_report(
    run_dir: str | Path,
    *,
    dags: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> RunReport:
    """Analyse ``run_dir`` against ``dags`` (default: every built-in DAG) and write the report."""
    from iqalign.causal import list_builtin_dags, load_dag

    started = time.perf_counter()
    run = Path(run_dir)
    default = run / "report" if run.is_dir() else run.with_name(f"{run.stem}-report")
    out = Path(out_dir) if out_dir else default
    scored = read_run(run)
    table, manifest = scored.table, dict(scored.manifest)
    dag_names = list(dags) if dags else list_builtin_dags()
    for name in dag_names:  # a misspelt DAG fails now, not after minutes of analysis
        load_dag(name)
    from iqalign.report.estimation_section import N_BOOT

    settings = AnalysisSettings(n_boot=n_boot, seed=seed, alpha=alpha)
    # estimation is one of the runner's jobs (saved with the analysis tables); the
    # saved log-probabilities are read from the run folder, if any
    estimation = EstimationRequest(manifest, run if run.is_dir() else None, n_boot=N_BOOT)
    analysis = run_analysis(
        table, scored.metrics, dags=dag_names, settings=settings, progress=progress,
        workers=workers, estimation=estimation,
    )  # fmt: skip
    analysis_dir = analysis.save(out / "analysis")
    if progress:
        progress("writing the report")
    document = build_run_document(
        table, manifest, analysis, dag_names, title=f"iqalign report: {run.name}"
    )
    html, markdown = write_document(document, out)
    summary = family_summary(analysis.pooled, analysis.correlations)
    return RunReport(html, markdown, analysis_dir, time.perf_counter() - started, summary)


def build_run_document(
    table: pd.DataFrame,
    manifest: dict[str, Any],
    analysis: AnalysisResult,
    dag_names: Sequence[str],
    title: str = "iqalign report",
) -> Document:
    """Every section of the run report as document blocks (the estimation section shows
    the runner's estimation job: run :func:`run_analysis` with ``estimation=``)."""
    from iqalign.report.estimation_section import (
        estimation_blocks,
        estimation_headline,
        estimation_section,
    )

    estimation = estimation_section(analysis.estimation)
    document = Document(title)
    document.add(*_summary_section(table, analysis))
    document.add(Paragraph(estimation_headline(estimation)))
    document.add(*_verdict_overview_blocks(analysis))
    document.add(*_paper_tables_section(analysis))
    document.add(*estimation_blocks(estimation))
    document.add(*_group_section(analysis))
    document.add(*_stratified_section(analysis))
    document.add(*_verdict_section(analysis, dag_names, table["image_id"].nunique()))
    document.add(*_metadata_section(manifest, analysis))
    return document


def _summary_section(table: pd.DataFrame, analysis: AnalysisResult) -> list:
    models = analysis.settings.get("models", [])
    n_metrics = len(analysis.settings.get("metrics", []))
    clean = table["corruption"] == CLEAN
    corrupted = table[~clean]
    data = (
        f"{len(table)} scored images from {table['image_id'].nunique()} source images "
        f"({clean.sum()} clean, {len(corrupted)} corrupted: "
        f"{corrupted['corruption'].nunique()} corruptions × "
        f"{corrupted['severity'].nunique()} severities); {n_metrics} quality columns; "
        f"task models: {', '.join(models)}."
    )
    accuracy = pd.DataFrame(
        [
            {
                "model (M)": model,
                "clean accuracy": table.loc[clean, performance_column(model)].mean(),
                "corrupted accuracy": corrupted[performance_column(model)].mean(),
                "overall accuracy": table[performance_column(model)].mean(),
            }
            for model in models
        ]
    )
    summary = family_summary(analysis.pooled, analysis.correlations)
    blocks: list = [
        Heading("Summary", 2, anchor="summary"),
        Paragraph(data),
        Table(accuracy, caption="Accuracy of each task model"),
    ]
    n_ids = table["image_id"].nunique()
    if n_ids < SMALL_RUN_IDS:
        blocks.append(
            Paragraph(
                f"Small run: {n_ids} source images. The held-out 20 % holds only "
                f"{max(1, round(0.2 * n_ids))} of them, so the bootstrap intervals over image "
                "IDs are rough, and a per-label analysis needs several images per label. Read "
                "the numbers as a demonstration of the pipeline; the paper's scale is 50,000 "
                "images."
            )
        )
    if not summary.empty:
        blocks += [
            Paragraph(_headline(summary)),
            Table(summary, caption="Pooled AUC of P(M | Q) and group |SRCC|, by metric family"),
        ]
    return blocks


def _verdict_overview_blocks(analysis: AnalysisResult) -> list:
    """The verdicts in the summary at the top: counts per DAG (details further down)."""
    overview = verdict_overview(analysis.verdicts)
    if overview.empty:
        return [Paragraph("No DAG claim was tested on this run.")]
    return [Table(overview, caption="Verdicts per DAG: tested (claim, model, metric) rows; "
                  "details in 'What the DAGs predict, and what the data say'")]  # fmt: skip


def _headline(summary: pd.DataFrame) -> str:
    best = summary.iloc[0]
    lines = [
        f"Best predictor of correctness: {best['family']} (Q from {best['Q from']}), "
        f"mean held-out AUC {best['mean AUC']:.3f} over {best['pairs']} (model, metric) pairs."
    ]
    classic = summary[summary["family"].isin(["classic_nr", "tv"])]
    strong = summary[(summary["family"] == "strong_tg") & (summary["Q from"] == "other model")]
    if not classic.empty and not strong.empty:
        c, s = classic["mean AUC"].max(), strong["mean AUC"].iloc[0]
        verdict = (
            "far better than" if s - c >= 0.1 else ("better than" if s > c else "NOT better than")
        )
        lines.append(
            f"Strong task-guided Q from a different classifier than M (the paper's fair test) "
            f"predicts M {verdict} the classic no-reference metrics: mean AUC {s:.3f} vs at best "
            f"{c:.3f}."
        )
    return " ".join(lines)


def _paper_tables_section(analysis: AnalysisResult) -> list:
    blocks: list = [
        Heading("Correlation and predictability (paper Tables 1–4)", 2, anchor="tables"),
        Paragraph(
            "AUC and cross-entropy (CE) of a logistic P(M=1 | Q) on standardised Q "
            "(L2, C=1), fitted on 80 % of the image IDs and scored on the other 20 %; "
            "prior CE predicts the training accuracy for everyone. |KRCC|, |PLCC|, "
            "|SRCC|: across the (corruption, severity) groups, intervals from a cluster "
            "bootstrap over image IDs (basic bootstrap on Fisher's z; |PLCC|'s is centred on "
            "the disattenuated r, so with few images it can sit beside the raw |r|). "
            "AUC intervals: DeLong clustered by the held-out image IDs. "
            "'raw AUC of Q' is the AUC of Q itself: below "
            "0.5 for a negative quality signal such as entropy, whose slope is '-'."
        ),
    ]
    note = uncalibrated_note(analysis.correlations)
    if note:
        blocks.append(Paragraph(note))
    if analysis.pooled.empty:
        return [
            *blocks,
            Paragraph("No pooled result could be computed (see 'Analyses not possible')."),
        ]
    for family in dict.fromkeys(analysis.pooled["family"]):
        if family == ESTIMATOR_FAMILY:  # set-level estimators: their own section, not Q
            continue
        frame = paper_table(analysis.pooled, analysis.correlations, family)
        title = FAMILY_TITLES.get(family, family)
        if frame["model (M)"].value_counts().max() > 2:  # a long block: compact view first
            blocks.append(Table(best_and_worst(frame), caption=f"{title}: best and worst "
                                "metric per model by AUC"))  # fmt: skip
            blocks.append(Table(frame, caption=f"{title}: every metric", collapsed=True))
        else:
            blocks.append(Table(frame, caption=title))
        if PAPER_TABLE_COLUMN in frame.columns:
            blocks.append(Paragraph(PAPER_NOTE))
    return blocks


def _group_section(analysis: AnalysisResult) -> list:
    blocks: list = [Heading("Accuracy vs quality per group (paper Fig. 3/5/7)", 2, anchor="groups")]
    if analysis.groups.empty:
        return [*blocks, Paragraph("No group-level result (see 'Analyses not possible').")]
    for model in analysis.settings.get("models", []):
        metrics = list(
            dict.fromkeys(analysis.groups.loc[analysis.groups["model"] == model, "metric"])
        )
        if metrics:
            blocks.append(
                group_scatter_grid(analysis.groups, analysis.correlations, model, metrics)
            )
    return blocks


def _stratified_section(analysis: AnalysisResult) -> list:
    blocks: list = [
        Heading(
            "Predictability within image IDs and labels (paper Fig. 20)", 2, anchor="stratified"
        ),
        Paragraph(
            "5-fold cross-validation inside each stratum. Strata and folds where M has a "
            "single class have no AUC: they are counted, never dropped silently."
        ),
    ]
    if analysis.stratified.empty:
        return [*blocks, Paragraph("No stratified result (see 'Analyses not possible').")]
    for model in analysis.settings.get("models", []):
        if (analysis.stratified["model"] == model).any():
            blocks.append(stratified_auc_bars(analysis.stratified, model))
    blocks.append(
        Table(stratified_table(analysis.stratified), caption="Stratified cross-validation")
    )
    return blocks


def _verdict_section(analysis: AnalysisResult, dag_names: Sequence[str], n_ids: int) -> list:
    from iqalign.causal import load_dag, plan_tests
    from iqalign.report.causal_report import dag_figure

    blocks: list = [
        Heading("What the DAGs predict, and what the data say", 2, anchor="verdicts"),
        Paragraph(VERDICT_RULE.format(alpha=analysis.settings.get("alpha", 0.05))),
        Paragraph(_falsifiability(analysis)),
    ]
    for name in dag_names:
        dag = load_dag(name)
        blocks.append(Heading(f"{dag.name}: {dag.title}", 3, anchor=f"dag-{dag.name}"))
        plans = plan_tests(dag)
        tested = (
            set(analysis.verdicts.loc[analysis.verdicts["dag"] == dag.name, "claim"])
            if not analysis.verdicts.empty
            else set()
        )
        highlights: list[Claim | None] = [
            p.claim.as_independence() for p in plans if p.testable and str(p.claim) in tested
        ]
        for highlight in highlights or [None]:
            figure = dag_figure(dag, highlight)
            if figure is not None:
                blocks.append(figure)
        blocks += _dag_verdict_blocks(analysis, dag, n_ids)
        refused = [p for p in plans if not p.testable]
        if refused:
            reasons = pd.DataFrame(
                [{"claim": str(p.claim), "why it cannot be tested": p.refused} for p in refused]
            )
            blocks.append(Table(reasons, caption=f"{dag.name}: claims no column can test"))
    return blocks


def _dag_verdict_blocks(analysis: AnalysisResult, dag: Dag, n_ids: int) -> list:
    """The verdict tables of one DAG; without any, why: no pair fits its ``applies_to``,
    or pairs fit and the data refused every planned test (what was missing)."""
    verdicts = analysis.verdicts
    summary = verdict_summary(verdicts, dag.name) if not verdicts.empty else pd.DataFrame()
    if not summary.empty:
        return [
            Table(summary, caption=f"{dag.name}: verdicts per claim, counted over pairs"),
            Table(
                verdict_details(verdicts, dag.name),
                caption=(
                    f"{dag.name}: every tested claim per (model, metric): verdict "
                    "(effect in log-odds per SD of Q, Holm-adjusted p)"
                ),
            ),
        ]
    if not verdicts.empty and (verdicts["dag"] == dag.name).any():
        return [Paragraph(refusal_summary(verdicts, dag.name, n_ids))]
    return [
        Paragraph(
            f"No (model, metric) pair of this run fits {dag.name}'s applies_to "
            f"({', '.join(dag.applies_to.families) or 'any family'}; Q source "
            f"{dag.applies_to.q_source}), so none was tested."
        )
    ]


def _falsifiability(analysis: AnalysisResult) -> str:
    """Say plainly whether any tested claim could have been contradicted."""
    if analysis.verdicts.empty:
        return "No claim was tested on this run."
    tested = analysis.verdicts[analysis.verdicts["verdict"] != "not tested"]
    independent = tested[tested["expected"] == "separated"]
    if independent.empty:
        return (
            "Every tested claim predicts a dependence: the DAGs' independence claims about Q "
            "and M all condition on the image X, which no column can stand for. A DAG allows "
            "a dependence without forcing one, so on these columns the data can agree with "
            "these DAGs or be inconclusive, but cannot contradict them. To put a DAG at risk, "
            "state a claim that predicts independence given columns the table holds."
        )
    contradicted = int((independent["verdict"] == "contradicted").sum())
    return (
        f"{len(independent)} tested (claim, model, metric) rows predict independence and "
        f"could have been contradicted; {contradicted} were."
    )


VERDICT_RULE = (
    "Each testable claim is checked with the conditional logistic score test of M on Q "
    "within strata (small-sample cluster-robust CR2 by image ID; too few images refused), "
    "Holm-adjusted over the claims of one DAG "
    "and (model, metric) pair, alpha {alpha:g}. Independence predicted: rejection -> "
    "contradicted; no rejection with the effect interval inside ±0.1 log-odds per SD of Q "
    "-> consistent; otherwise inconclusive. Dependence predicted: rejection -> consistent; "
    "otherwise inconclusive (a DAG allows a dependence, it does not force one). Details: "
    "docs/stats.md."
)


def _metadata_section(manifest: dict[str, Any], analysis: AnalysisResult) -> list:
    blocks: list = [Heading("Run metadata", 2, anchor="metadata")]
    if not analysis.failures.empty:
        blocks.append(
            Table(
                analysis.failures[["model", "metric", "analysis", "by", "dag", "reason"]],
                caption="Analyses not possible on these data (and why)",
            )
        )
    run = ScoredRun.from_table(pd.DataFrame(), manifest)  # the manifest's records only
    metrics = pd.DataFrame(run.provenance())
    if not metrics.empty:
        blocks.append(Table(metrics, caption="Quality metrics: whose code computed each column"))
    keep = run.settings()
    blocks.append(Paragraph(f"Analysis settings: {json.dumps(analysis.settings, default=str)}"))
    if keep:
        blocks.append(Code(json.dumps(keep, indent=2, default=str)))
    else:
        blocks.append(
            Paragraph("No manifest.json: the scores table was not written by iqalign score.")
        )
    return blocks
