"""``iqalign report RUN_DIR``: figures, tables and verdicts of a scored run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from iqalign.cli._common import N_BOOT_CHECK, console, handle_errors

if TYPE_CHECKING:  # the report modules are imported where they are used (a fast CLI start)
    from iqalign.report.run_report import RunReport

__all__ = ["report"]


@handle_errors
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="A folder written by 'iqalign score' (or a scores table).")
    ],
    dag: Annotated[
        list[str] | None,
        typer.Option("--dag", "-d", help="DAGs to test (repeatable; default: every built-in DAG)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Report folder (default: RUN_DIR/report, or NAME-report beside a table file).",
        ),
    ] = None,
    n_boot: Annotated[
        int,
        typer.Option(
            "--n-boot", help="Bootstrap resamples for every interval.", callback=N_BOOT_CHECK
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of splits, folds and bootstraps.")] = 0,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Level of every test and 1 - level of every interval.")
    ] = 0.05,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes for the analyses (default: one per CPU core); numbers do not change.",
        ),
    ] = None,
) -> None:
    """Analyse a scored run against the DAGs; write report.html (self-contained) and report.md."""
    from iqalign.report.run_report import write_run_report

    result = with_progress(
        lambda progress: write_run_report(
            run_dir,
            dags=dag,
            out_dir=out,
            n_boot=n_boot,
            seed=seed,
            alpha=alpha,
            progress=progress,
            workers=workers,
        )
    )
    print_report_summary(result)


def with_progress(job):
    """Run ``job(report_progress)`` under a spinner that shows the latest message."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("analysing", total=None)
        return job(lambda message: progress.update(task, description=message))


def print_report_summary(result: RunReport) -> None:
    """What a user wants at the end: the headline numbers and where the report is."""
    from rich.table import Table

    if not result.summary.empty:
        table = Table(
            "family",
            "Q from",
            "pairs",
            "mean AUC",
            "min AUC",
            "max AUC",
            "mean |SRCC|",
            title="pooled AUC of P(M | Q), by metric family",
            box=None,
        )
        for row in result.summary.itertuples(index=False):
            table.add_row(*[Text(f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row])
        console.print(table)
    console.print(Text(f"analysis tables: {result.analysis_dir}"))
    console.print(
        Text(
            f"report: {result.html}  (Markdown: {result.markdown})  [{result.seconds:.0f} s]",
            style="bold",
        )
    )
