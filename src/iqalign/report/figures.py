"""Report figures (matplotlib, no pyplot state): the paper's Fig. 3/5/7 and Fig. 20.

Each function takes the analysis tables of :mod:`iqalign.stats.runner.analysis` and
returns a :class:`~iqalign.report.document.Figure` (PNG bytes), so the report embeds it
and the Markdown twin links it. Matplotlib's object API is used directly (no pyplot), so
figures never depend on a display or a global backend.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from iqalign.report.document import Figure

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = ["group_scatter_grid", "stratified_auc_bars"]

_SEVERITY_COLOURS = ["#2b83ba", "#80bfab", "#c7e8ad", "#fdc980", "#f07c4a", "#d7191c"]


def _new_figure(width: float, height: float, *, constrained: bool = True) -> MplFigure:
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(
        figsize=(width, height), dpi=100, layout="constrained" if constrained else None
    )


def _to_png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def group_scatter_grid(
    groups: pd.DataFrame,
    correlations: pd.DataFrame,
    model: str,
    metrics: Sequence[str],
    *,
    name: str | None = None,
    columns: int = 4,
) -> Figure:
    """Accuracy of ``model`` vs mean Q, one point per (corruption, severity) group, one
    panel per metric, coloured by severity, with a least-squares trend line; each panel's
    title carries Spearman's and Pearson's r (the paper's Fig. 3/5/7)."""
    rows = max(1, math.ceil(len(metrics) / columns))
    height = 2.7 * rows + 0.9
    # A fixed grid instead of the constrained layout: half the drawing time for 20+ panels.
    fig = _new_figure(3.2 * min(columns, len(metrics)), height, constrained=False)
    fig.subplots_adjust(
        left=0.07, right=0.98, bottom=0.45 / height, top=1 - 1.5 / height, hspace=0.75, wspace=0.3
    )
    axes = fig.subplots(rows, min(columns, len(metrics)), squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        data = groups[(groups["model"] == model) & (groups["metric"] == metric)]
        _scatter_panel(ax, data, _title(correlations, model, metric))
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"accuracy of {model} vs mean quality per (corruption, severity) group",
        y=1 - 0.12 / height,
        va="top",
    )
    _severity_legend(fig, 1 - 0.45 / height)
    caption = (
        f"{model}: one point per (corruption, severity) group, colour = severity; line = "
        "least-squares trend; title: Spearman / Pearson r across all groups"
    )
    return Figure(name or f"groups_{model}", _to_png(fig), "png", caption)


def _severity_legend(fig: MplFigure, y: float) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color=colour,
            markeredgecolor="#333333",
            label=f"severity {severity}",
        )
        for severity, colour in enumerate(_SEVERITY_COLOURS[1:], start=1)
    ]
    fig.legend(
        handles=handles, loc="center", bbox_to_anchor=(0.5, y), ncol=5, fontsize=8, frameon=False
    )


def _title(correlations: pd.DataFrame, model: str, metric: str) -> str:
    rows = correlations[
        (correlations["model"] == model)
        & (correlations["metric"] == metric)
        & (correlations["scope"] == "all")
    ].set_index("method")
    if rows.empty:
        return metric
    parts = [
        f"{label} {rows.loc[method, 'r']:+.2f}"
        for method, label in (("spearman", "SRCC"), ("pearson", "PLCC"))
        if method in rows.index
    ]
    return f"{metric}\n{', '.join(parts)}"


def _scatter_panel(ax: Axes, data: pd.DataFrame, title: str) -> None:
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=7)
    if data.empty:
        ax.text(0.5, 0.5, "no groups", ha="center", va="center", transform=ax.transAxes)
        return
    x = data["mean_q"].to_numpy(dtype=float)
    y = data["accuracy"].to_numpy(dtype=float)
    severity = data["severity"].to_numpy(dtype=int)
    colours = [_SEVERITY_COLOURS[min(s, len(_SEVERITY_COLOURS) - 1)] for s in severity]
    ax.scatter(x, y, c=colours, s=14, edgecolors="#333333", linewidths=0.3)
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() >= 2 and np.ptp(x[finite]) > 0:
        slope, intercept = np.polyfit(x[finite], y[finite], 1)
        grid = np.linspace(x[finite].min(), x[finite].max(), 2)
        ax.plot(grid, slope * grid + intercept, color="#444444", linewidth=1)
    ax.set_xlabel("mean Q", fontsize=7)
    ax.set_ylabel("accuracy", fontsize=7)


def stratified_auc_bars(stratified: pd.DataFrame, model: str, *, name: str | None = None) -> Figure:
    """Mean AUC ± 1 SD over strata and folds, per metric, within image IDs and within
    labels (the paper's Fig. 20); the count of usable strata is printed at each bar."""
    data = stratified[stratified["model"] == model]
    metrics = list(dict.fromkeys(data["metric"]))
    bys = [by for by in ("image_id", "label") if by in set(data["by"])]
    fig = _new_figure(4.2 * max(1, len(bys)), 0.32 * max(4, len(metrics)) + 1.2)
    axes = fig.subplots(1, max(1, len(bys)), squeeze=False).ravel()
    for ax, by in zip(axes, bys, strict=False):
        part = data[data["by"] == by].set_index("metric").reindex(metrics)
        positions = np.arange(len(metrics))
        ax.barh(
            positions,
            part["mean_auc_score"],
            xerr=part["sd_auc"],
            color="#7fa7cf",
            error_kw={"linewidth": 0.8},
        )
        ax.axvline(0.5, color="#aa3333", linewidth=0.8, linestyle="--")
        ax.set_yticks(positions, metrics, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"within {by}", fontsize=9)
        ax.set_xlabel("mean AUC (± 1 SD)", fontsize=8)
        # The counts go on a right-hand axis, outside the plot: inside it, they sat on
        # top of error bars that reach AUC 1.
        counts = [
            f"{int(used)}/{int(total)}" if pd.notna(used) else ""
            for used, total in zip(part["n_strata_used"], part["n_strata"], strict=True)
        ]
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(positions, counts, fontsize=6)
        right.tick_params(length=0)
        right.set_ylabel("strata used / all", fontsize=7)
    if not bys:
        axes[0].text(0.5, 0.5, "no stratified results", ha="center", va="center")
    # A short title: the long one was wider than a one-panel figure and lost its left end.
    fig.suptitle(f"{model}: AUC of P(M | Q) within strata", fontsize=10)
    caption = (
        f"{model}: mean AUC over strata and folds, bars ± 1 SD; dashed line = chance; "
        "numbers at the right = strata used / all"
    )
    return Figure(name or f"stratified_{model}", _to_png(fig), "png", caption)
