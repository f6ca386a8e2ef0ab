"""``iqalign estimate RUN_DIR``: how well does each label-free estimator predict accuracy?

Runs :func:`iqalign.stats.estimation.accuracy.estimate_accuracy` on a scored run, prints per model
one ranked MAE table per track (``clean``: the estimators fitted on labelled clean images
only; ``shifts``: also on the labelled source corruptions) with the sentence that compares
each track's best estimator with its best confidence baseline, and writes
``estimation_summary.csv``, ``estimation_groups.csv`` (estimate beside the true accuracy
per target group) and ``estimation.json`` into ``--out`` (default ``RUN_DIR/estimation``).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from iqalign.cli._common import EXIT_BAD_INPUT, console, err_console, handle_errors

if TYPE_CHECKING:  # iqalign.stats loads when the command runs, not with the CLI
    from iqalign.stats.estimation.accuracy import EstimationResult

__all__ = ["estimate", "write_estimation"]


def _bad_option(message: str) -> None:
    err_console.print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(EXIT_BAD_INPUT)


@handle_errors
def estimate(
    run_dir: Annotated[
        Path, typer.Argument(help="A folder written by 'iqalign score' (or a scores table).")
    ],
    source_fraction: Annotated[
        float,
        typer.Option("--source-fraction", help="Share of image IDs used as labelled source."),
    ] = 0.5,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="loco: leave one corruption out, targets = (corruption, severity) groups; "
            "mixtures: targets = the p_c mixtures.",
        ),
    ] = "loco",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the ID split and bootstrap.")] = 0,
    n_boot: Annotated[
        int,
        typer.Option(
            "--n-boot", help="Bootstrap resamples (corruptions jointly with target image IDs)."
        ),
    ] = 200,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default RUN_DIR/estimation).")
    ] = None,
) -> None:
    """Estimate accuracy without labels: every estimator's error over held-out groups."""
    from iqalign.scores import read_run
    from iqalign.stats.estimation.accuracy import PROTOCOLS, estimate_accuracy

    if protocol not in PROTOCOLS:
        _bad_option(f"--protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    if not 0.0 < source_fraction < 1.0:
        _bad_option(f"--source-fraction must be between 0 and 1 (exclusive); got {source_fraction}")
    if n_boot < 0:
        _bad_option(f"--n-boot must be 0 or more; got {n_boot}")
    result = estimate_accuracy(
        read_run(run_dir),
        protocol=protocol,
        source_fraction=source_fraction,
        n_boot=n_boot,
        seed=seed,
    )  # the run's saved log-probabilities are read with it, if any
    _print_summary(result)
    folder = write_estimation(result, out or _default_out(run_dir))
    console.print(Text(f"wrote {folder}/estimation_summary.csv, estimation_groups.csv, "
                       "estimation.json"))  # fmt: skip


def _default_out(run_dir: Path) -> Path:
    return (
        run_dir / "estimation"
        if run_dir.is_dir()
        else run_dir.with_name(f"{run_dir.stem}-estimation")
    )


def write_estimation(result: EstimationResult, folder: Path) -> Path:
    """The three output files (each written whole or not at all)."""
    from iqalign.files import write_atomic
    from iqalign.stats.core.results import to_plain
    from iqalign.stats.estimation.accuracy import compare_within_tracks, describe_comparison

    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("summary", result.summary), ("groups", result.groups)):
        # partial, not a lambda with a default: binds this loop's frame, and is typed
        write_atomic(folder / f"estimation_{name}.csv", partial(frame.to_csv, index=False))
    comparisons = compare_within_tracks(result.summary)
    payload = {
        "protocol": result.protocol, "source_fraction": result.source_fraction,
        "seed": result.seed, "n_boot": result.n_boot, "n_source_ids": result.n_source_ids,
        "n_target_ids": result.n_target_ids, "n_target_groups": result.n_target_groups,
        "n_folds": result.n_folds, "notes": list(result.notes),
        "comparisons": [dict(row, sentence=describe_comparison(row))
                        for row in to_plain(comparisons)],
        "summary": to_plain(result.summary),
    }  # fmt: skip
    text = json.dumps(payload, indent=2)
    write_atomic(folder / "estimation.json", lambda path: path.write_text(text, "utf-8"))
    return folder


def _print_summary(result: EstimationResult) -> None:
    from iqalign.stats.estimation.accuracy import (
        TRACK_MEANING,
        compare_within_tracks,
        describe_comparison,
    )

    console.print(Text(protocol_line(result), style="bold"))
    comparisons = {(row["model"], row["track"]): row
                   for row in compare_within_tracks(result.summary).to_dict("records")}  # fmt: skip
    for (model, track), part in result.summary.groupby(["model", "track"], sort=False):
        table = Table("rank", "estimator", "Q from", "MAE", "bias-corrected", "95% CI",
                      "max error", title=f"M = {model}, {track} track: {TRACK_MEANING[track]}",
                      box=None, pad_edge=False)  # fmt: skip
        for row in part.to_dict("records"):
            table.add_row(
                str(row["rank"]), Text(row["estimator"]), row["Q from"], f"{row['MAE']:.4f}",
                bias_corrected_text(row), f"[{row['MAE_ci_low']:.4f}, {row['MAE_ci_high']:.4f}]",
                f"{row['max_error']:.4f}",
            )  # fmt: skip
        console.print(table)
        sentence = describe_comparison(comparisons[(model, track)])
        console.print(Text(f"{model}, {sentence}.", style="bold"))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))


def protocol_line(result: EstimationResult) -> str:
    """What was estimated, on what, and what the interval is for."""
    return (
        f"protocol {result.protocol}: {result.n_source_ids} source IDs (labelled), "
        f"{result.n_target_ids} target IDs, {result.n_target_groups} target groups. MAE: mean "
        "|estimate - true accuracy| over the target groups; 95% CI: how wrong on a new "
        f"corruption, from {result.n_boot} resamples of {result.resampled_units}; it contains "
        "both the MAE and its bias-corrected value (docs/estimation.md)."
    )


def bias_corrected_text(row: dict[str, Any]) -> str:
    """The bias-corrected MAE where it differs from the MAE at the printed precision."""
    corrected = row["MAE_bias_corrected"]
    if corrected != corrected:  # NaN: no resamples
        return "–"
    return "same" if round(corrected, 4) == round(row["MAE"], 4) else f"{corrected:.4f}"
