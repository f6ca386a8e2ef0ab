"""Report section "Estimating accuracy without labels" (label-free accuracy estimation).

:func:`estimation_section` takes the outcome of the analysis runner's estimation job
(:func:`iqalign.stats.estimation.accuracy.estimate_accuracy`: leave one corruption out, half the
image IDs as labelled source; :attr:`AnalysisResult.estimation`): this module renders only;
:func:`estimation_blocks` renders, per model, a predicted-vs-true accuracy figure (one
point per held-out group, y = x line, one marker per estimator) and one ranked MAE table
per track (``clean``, ``shifts``: what the estimators saw);
:func:`estimation_headline` is the sentence the summary at the top of the report quotes:
per model and track, the best estimator, and whether it is distinguishable from the best
baseline from the literature (confidence, agreement, prediction matrix) of the same track.
A run the protocol cannot be applied to (no clean rows, no corrupted groups) gets a
paragraph saying why (the runner's failure reason, also a row of ``failures.csv``), never
a failed report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from iqalign.report.document import Figure, Heading, Paragraph, Table
from iqalign.stats.runner.outcomes import Failure, Outcome

if TYPE_CHECKING:  # the estimation module is imported where it is used (keeps import light)
    from iqalign.stats.estimation.accuracy import EstimationResult

__all__ = ["EstimationSection", "estimation_blocks", "estimation_headline", "estimation_section"]

N_BOOT = 200  # bootstrap resamples the report asks the runner for (the section says so)
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


@dataclass(frozen=True)
class EstimationSection:
    """The estimation result, or the reason there is none."""

    result: Any = None  # EstimationResult
    reason: str = ""


def estimation_section(outcome: Outcome | None) -> EstimationSection:
    """The runner's estimation job as the section shows it: its result, or the reason
    there is none (a failure, or a run analysed without estimation)."""
    if outcome is None:
        return EstimationSection(reason="the analysis was run without it")
    if isinstance(outcome, Failure):
        return EstimationSection(reason=outcome.reason)
    return EstimationSection(outcome.value)


def estimation_headline(section: EstimationSection) -> str:
    """Per model and track: the best estimator, and whether its interval separates from
    the best baseline's from the literature of the same track."""
    from iqalign.stats.estimation.accuracy import compare_within_tracks, describe_comparison

    if section.result is None:
        return f"Label-free accuracy estimation was not possible on this run: {section.reason}"
    parts = [
        f"{row['model']}, {describe_comparison(row)}"
        for row in compare_within_tracks(section.result.summary).to_dict("records")
    ]
    return (
        "Estimating accuracy without labels (held-out corruptions; an estimator is compared "
        "only with those that saw the same labelled data; 95% intervals for the error on a "
        "new corruption): " + "; ".join(parts) + "."
    )


def estimation_blocks(section: EstimationSection) -> list:
    """The section: protocol, per model a figure and one ranked table per track, notes."""
    from iqalign.stats.estimation.accuracy import TRACKS

    blocks: list = [
        Heading("Estimating accuracy without labels", 2, anchor="estimation"),
    ]
    if section.result is None:
        return [*blocks, Paragraph(f"Not possible on this run: {section.reason}")]
    result = section.result
    blocks.append(Paragraph(_protocol_text(result)))
    for model in dict.fromkeys(result.summary["model"]):
        blocks.append(predicted_vs_true_figure(result, model))
        for track in TRACKS:
            blocks += _track_tables(result, model, track)
    if result.notes:
        blocks.append(Paragraph("Notes: " + " ".join(result.notes)))
    return blocks


def _track_tables(result: EstimationResult, model: str, track: str) -> list:
    from iqalign.stats.estimation.accuracy import Q_KINDS, TRACK_MEANING

    ranked = _ranked_table(result.summary, model, track)
    if ranked.empty:
        return []
    caption = (f"{model}, {track} track ({TRACK_MEANING[track]}): estimators ranked by MAE "
               f"over the {result.n_target_groups} held-out groups")  # fmt: skip
    compact = ranked[(ranked["rank"] <= 5) | ~ranked["kind"].isin(Q_KINDS)]
    blocks = [Table(compact.drop(columns="kind"),
                    caption=f"{caption} (top 5 and the confidence baselines)")]  # fmt: skip
    if len(compact) < len(ranked):
        blocks.append(Table(ranked.drop(columns="kind"), caption=f"{caption}: every estimator",
                            collapsed=True))  # fmt: skip
    return blocks


def _protocol_text(result: EstimationResult) -> str:
    return (
        f"A user with a classifier and a new set of images but no labels wants the accuracy "
        f"to expect. Each estimator is fitted on labelled source data and predicts the "
        f"accuracy of each held-out (corruption, severity) group. Source: "
        f"{result.n_source_ids} randomly chosen image IDs (seed {result.seed}); targets: the "
        f"other {result.n_target_ids}, so no evaluated image was used in a fit. Two tracks, "
        "by what an estimator saw. Clean track: AC (average max-softmax probability), DoC "
        "(Guillory et al. 2021) and ATC-MC / ATC-NE (Garg et al. 2022), fitted on the "
        "source's clean images only; GDE (Jiang et al. 2022) and ALine-S / ALine-D (Baek et "
        "al. 2022) from several models' predictions; with saved probabilities, TS-AC (Guo "
        "et al. 2017), MaNo (Xie et al. 2024), the nuclear norm (Deng et al. 2023) and COT "
        "(Lu et al. 2023). Shifts track: estimators that also learn from the "
        "source's labelled corruptions -- for each held-out corruption, fitted on the "
        "clean images and the other corruptions only (bin edges included): Q-mean maps a "
        "quality metric's group mean to accuracy, Q-dist maps each image's Q to P(correct) "
        "and averages it (both isotonic); DoC and ATC fitted on all those rows; DoC-reg, "
        "Guillory et al.'s regression of accuracy on average confidence across the source "
        "shifts. Estimators are ranked, and the best compared with the best confidence "
        "baseline, only within a track. MAE: mean |estimate - true accuracy| over the "
        f"target groups; bias-corrected: with the bootstrap's estimate of the upward bias "
        f"that sampling noise gives |error| removed. 95% interval: how wrong the estimator "
        f"will be on a new corruption, from {result.n_boot} resamples of {result.resampled_units} "
        "(bootstrap-t over the corruptions; it contains both the MAE and the bias-corrected "
        "value; measured coverage in docs/estimation.md). 'Q from': the image alone, the "
        "same classifier as M, or another classifier (the fair setting)."
    )


def _ranked_table(summary: pd.DataFrame, model: str, track: str) -> pd.DataFrame:
    part = summary[(summary["model"] == model) & (summary["track"] == track)]
    corrected = [
        "same" if round(c, 3) == round(m, 3) else round(c, 3)
        for c, m in zip(part["MAE_bias_corrected"], part["MAE"], strict=True)
    ]
    return pd.DataFrame({
        "rank": part["rank"], "estimator": part["estimator"], "kind": part["kind"],
        "Q from": part["Q from"], "MAE": part["MAE"], "bias-corrected": corrected,
        "MAE 95% CI": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in
                       zip(part["MAE_ci_low"], part["MAE_ci_high"], strict=True)],
        "max error": part["max_error"],
    })  # fmt: skip


def _shown_estimators(summary: pd.DataFrame, model: str) -> list[str]:
    """The clean track's three best baselines from the literature, the shifts track's best
    one, and the best Q-based estimator per 'Q from' (the summary is ranked by MAE)."""
    from iqalign.stats.estimation.accuracy import Q_KINDS

    part = summary[summary["model"] == model]
    literature = part[~part["kind"].isin(Q_KINDS)]
    shown = list(literature.loc[literature["track"] == "clean", "estimator"][:3])
    shown += list(literature.loc[literature["track"] == "shifts", "estimator"][:1])
    q_based = part[part["kind"].isin(Q_KINDS)]
    for _, rows in q_based.groupby("Q from", sort=False):
        shown.append(rows.iloc[0]["estimator"])
    return shown


def predicted_vs_true_figure(result: EstimationResult, model: str) -> Figure:
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
        "line = perfect estimate. Shown: the clean track's three best estimators from the "
        "literature, the shifts track's best one and its best Q-based estimator per Q "
        "source; every estimator is in the tables."
    )
    return Figure(f"estimation_{model}", _to_png(fig), "png", caption)
