"""Report section "Estimating accuracy without labels" (label-free accuracy estimation).

:func:`run_estimation` runs :func:`iqalign.stats.estimation.estimate_accuracy` (leave one
corruption out, half the image IDs as labelled source) on the run's scores table;
:func:`estimation_blocks` renders, per model, a predicted-vs-true accuracy figure (one
point per held-out group, y = x line, one marker per estimator) and the ranked MAE table;
:func:`estimation_headline` is the sentence the summary at the top of the report quotes.
A run the protocol cannot be applied to (no clean rows, no corrupted groups) gets a
paragraph saying why, never a failed report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from iqalign.errors import IqalignError
from iqalign.report.document import Figure, Heading, Paragraph, Table
from iqalign.scores import list_models

__all__ = ["EstimationSection", "estimation_blocks", "estimation_headline", "run_estimation"]

N_BOOT = 200  # cluster-bootstrap resamples of the target IDs (the section says so)
_CONFIDENCE = ("AC", "DoC", "ATC-MC", "ATC-NE")
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


@dataclass(frozen=True)
class EstimationSection:
    """The estimation result, or the reason there is none."""

    result: Any = None  # EstimationResult
    reason: str = ""


def run_estimation(
    table: pd.DataFrame, manifest: Mapping[str, Any], *, seed: int = 0
) -> EstimationSection:
    """Label-free estimation on the run, leave-one-corruption-out, half the IDs as source."""
    from iqalign.stats.estimation import describe_q_columns, estimate_accuracy

    models = list_models(table.columns)
    columns = manifest.get("columns") if isinstance(manifest.get("columns"), dict) else None
    try:
        q_columns = describe_q_columns(table, columns, models)
        result = estimate_accuracy(table, q_columns=q_columns, models=models, protocol="loco",
                                   n_boot=N_BOOT, seed=seed)  # fmt: skip
    except (IqalignError, ValueError) as err:
        return EstimationSection(reason=str(err))
    if result.summary.empty:
        return EstimationSection(reason="no estimator could be fitted: " + "; ".join(result.notes))
    return EstimationSection(result)


def estimation_headline(section: EstimationSection) -> str:
    """One sentence per model: the best estimator, and the best confidence baseline."""
    if section.result is None:
        return f"Label-free accuracy estimation was not possible on this run: {section.reason}"
    parts = []
    for model, part in section.result.summary.groupby("model", sort=False):
        best = part.iloc[0]
        baseline = part[part["estimator"].isin(_CONFIDENCE)]
        text = f"{model}: {best['estimator']} (Q from {best['Q from']}) MAE {best['MAE']:.3f}"
        if not baseline.empty and baseline.iloc[0]["estimator"] != best["estimator"]:
            b = baseline.iloc[0]
            text += f" vs best confidence baseline {b['estimator']} {b['MAE']:.3f}"
        parts.append(text)
    return (
        "Estimating accuracy without labels (held-out corruptions, fitted on held-out clean "
        "images; best estimator by mean absolute error): " + "; ".join(parts) + "."
    )


def estimation_blocks(section: EstimationSection) -> list:
    """The section: protocol, per-model figure, ranked MAE table, notes."""
    blocks: list = [
        Heading("Estimating accuracy without labels", 2, anchor="estimation"),
    ]
    if section.result is None:
        return [*blocks, Paragraph(f"Not possible on this run: {section.reason}")]
    result = section.result
    blocks.append(Paragraph(_protocol_text(result)))
    for model in dict.fromkeys(result.summary["model"]):
        blocks.append(predicted_vs_true_figure(result, model))
        ranked = _ranked_table(result.summary, model)
        caption = (f"{model}: estimators ranked by MAE over the {result.n_target_groups} "
                   "held-out groups")  # fmt: skip
        compact = ranked[(ranked["rank"] <= 5) | ranked["estimator"].isin(_CONFIDENCE)]
        blocks.append(Table(compact, caption=f"{caption} (top 5 and the confidence baselines)"))
        if len(compact) < len(ranked):
            blocks.append(Table(ranked, caption=f"{caption}: every estimator", collapsed=True))
    if result.notes:
        blocks.append(Paragraph("Notes: " + " ".join(result.notes)))
    return blocks


def _protocol_text(result) -> str:
    return (
        f"A user with a classifier and a new set of images but no labels wants the accuracy "
        f"to expect. Each estimator is fitted on labelled source data and predicts the "
        f"accuracy of each held-out (corruption, severity) group. Source: "
        f"{result.n_source_ids} randomly chosen image IDs (seed {result.seed}); targets: the "
        f"other {result.n_target_ids}, so no evaluated image was used in a fit. AC (average "
        "max-softmax probability), DoC (Guillory et al. 2021) and ATC-MC / ATC-NE (Garg et "
        "al. 2022) are fitted on the source's clean images only. Q-mean maps a quality "
        "metric's group mean to accuracy, Q-dist maps each image's Q to P(correct) and "
        "averages it (both isotonic); they need several labelled groups, so for each "
        "corruption they are fitted on the source's clean images and the other corruptions "
        "(leave one corruption out). MAE and max error over the target groups; intervals: "
        f"cluster bootstrap over target image IDs ({result.n_boot} resamples, estimators "
        "held fixed, basic bootstrap interval; its measured coverage is about 0.90, not "
        "0.95, and with few images per group it can lie below the observed MAE, which "
        "sampling noise inflates: docs/estimation.md). 'Q from': the "
        "image alone, the same classifier as M, or another classifier (the fair setting)."
    )


def _ranked_table(summary: pd.DataFrame, model: str) -> pd.DataFrame:
    part = summary[summary["model"] == model]
    return pd.DataFrame({
        "rank": part["rank"], "estimator": part["estimator"], "Q from": part["Q from"],
        "MAE": part["MAE"],
        "MAE 95% CI": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in
                       zip(part["MAE_ci_low"], part["MAE_ci_high"], strict=True)],
        "max error": part["max_error"],
    })  # fmt: skip


def _shown_estimators(summary: pd.DataFrame, model: str) -> list[str]:
    """The confidence baselines, and the best Q-based estimator per 'Q from'."""
    part = summary[summary["model"] == model]
    shown = [e for e in _CONFIDENCE if e in set(part["estimator"])]
    q_based = part[~part["estimator"].isin(_CONFIDENCE)]
    for _, rows in q_based.groupby("Q from", sort=False):
        shown.append(rows.iloc[0]["estimator"])
    return shown


def predicted_vs_true_figure(result, model: str) -> Figure:
    """Estimated vs true accuracy, one point per held-out group, one marker per estimator."""
    from iqalign.report.figures import _new_figure, _to_png

    shown = _shown_estimators(result.summary, model)
    mae = result.summary[result.summary["model"] == model].set_index("estimator")["MAE"]
    fig = _new_figure(9.0, 5.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#777777", linewidth=0.8, linestyle="--", label="y = x")
    groups = result.groups[result.groups["model"] == model]
    for k, name in enumerate(shown):
        data = groups[groups["estimator"] == name]
        ax.scatter(data["true_accuracy"], data["estimate"], s=16, marker=_MARKERS[k % 8],
                   alpha=0.75, linewidths=0.4, label=f"{name} (MAE {mae[name]:.3f})")  # fmt: skip
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("true accuracy of the group", fontsize=9)
    ax.set_ylabel("estimated accuracy", fontsize=9)
    ax.set_title(f"M = {model}: estimate vs truth, held-out corruptions", fontsize=10)
    # beside the axes: inside, the legend covered the high-accuracy groups
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    caption = (
        f"{model}: one point per held-out (corruption, severity) group and estimator; dashed "
        "line = perfect estimate. Shown: the confidence baselines and the best Q-based "
        "estimator per Q source; every estimator is in the table."
    )
    return Figure(f"estimation_{model}", _to_png(fig), "png", caption)
