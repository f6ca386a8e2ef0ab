"""``iqalign analyze`` and ``iqalign simulate``: the statistics engine from the command line.

``analyze`` hands one (Q, M) pair to the analysis runner (:mod:`iqalign.stats.runner.analysis`):
the pooled test, the group correlations, stratified cross-validation and
conditional-independence tests per ``--by`` (and the marginal test), the verdicts of a DAG
(``--dag``) and, on request, the p_c mixtures; it prints the tables and writes the runner's
output layout (CSV tables and ``analysis.json``) to ``--out``.
``simulate`` writes a synthetic scores table drawn from a DAG. Every file is written to a
temporary name and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from iqalign.cli._common import (
    ALPHA_CHECK,
    C_CHECK,
    FOLDS_CHECK,
    MARGIN_CHECK,
    N_BOOT_CHECK,
    NAME_HELP,
    console,
    err_console,
    handle_errors,
)
from iqalign.cli._stats_tables import print_results
from iqalign.errors import DegenerateDataError
from iqalign.files import write_atomic

if TYPE_CHECKING:  # the runner is imported where it is used (a fast CLI start)
    from iqalign.stats.runner.analysis import AnalysisResult, AnalysisSettings

__all__ = ["analyze", "simulate"]

BY_HELP = "Stratifier column(s), repeatable; 'corruption,severity' combines columns."


class PenaltyChoice(StrEnum):
    l2 = "l2"
    none = "none"
    firth = "firth"


class TestChoice(StrEnum):
    score = "score"
    lr = "lr"
    cmh = "cmh"


class LayoutChoice(StrEnum):
    imagenet_c = "imagenet-c"
    iid = "iid"


@handle_errors
def analyze(
    scores: Annotated[
        Path, typer.Argument(help="A scores table: Parquet file or folder of shards.")
    ],
    q: Annotated[str, typer.Option("--q", help="Quality column (q_<metric>, or <metric>).")],
    m: Annotated[
        str, typer.Option("--m", help="Performance column (correct_<model>, or <model>).")
    ],
    dag: Annotated[str | None, typer.Option(help=NAME_HELP + " Runs every testable claim.")] = None,
    by: Annotated[list[str] | None, typer.Option(help=BY_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for CSV/JSON results.")] = None,
    penalty: Annotated[PenaltyChoice, typer.Option(help="Logistic penalty.")] = PenaltyChoice.l2,
    C: Annotated[
        float, typer.Option("--C", help="Inverse L2 strength (sklearn's C).", callback=C_CHECK)
    ] = 1.0,
    folds: Annotated[
        int, typer.Option(help="Folds of the stratified CV.", callback=FOLDS_CHECK)
    ] = 5,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.", callback=N_BOOT_CHECK)] = 1000,
    test: Annotated[TestChoice, typer.Option(help="Independence test.")] = TestChoice.score,
    alpha: Annotated[
        float, typer.Option(help="Level (Holm-adjusted) and 1 - CI level.", callback=ALPHA_CHECK)
    ] = 0.05,
    margin: Annotated[
        float | None, typer.Option(help="Equivalence margin of verdicts.", callback=MARGIN_CHECK)
    ] = None,
    per_stratum: Annotated[bool, typer.Option(help="Also write per-stratum tables.")] = False,
    mixtures: Annotated[bool, typer.Option(help="Also run the p_c mixtures.")] = False,
    drop_nonfinite: Annotated[bool, typer.Option(help="Drop and count NaN/inf Q.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of every split, fold and resample.")] = 0,
) -> None:
    """Does quality Q predict performance M? Pooled, per group, within strata, per claim."""
    from iqalign.stats.runner.analysis import AnalysisSettings

    settings = AnalysisSettings(
        n_boot=n_boot, seed=seed, alpha=alpha, penalty=penalty.value, C=C, folds=folds,
        test=test.value, margin=margin, nonfinite="drop" if drop_nonfinite else "raise",
        stratified_by=tuple(by or ()), ci_by=("", *(by or ())), mixtures=mixtures,
        per_stratum=per_stratum,
    )  # fmt: skip
    result = _run_with_spinner(scores, q, m, dag, settings)
    print_results(result)
    if out is not None:
        result.save(out)
        console.print(Text(f"wrote results to {out}/"))


def _run_with_spinner(
    scores: Path, q: str, m: str, dag: str | None, settings: AnalysisSettings
) -> AnalysisResult:
    """The one runner on one pair; each analysis that cannot run is reported, the others run."""
    from iqalign.scores import model_of, read_run
    from iqalign.stats.core.table import resolve_column
    from iqalign.stats.runner.analysis import run_analysis

    run = read_run(scores)
    frame = run.table
    q_column = resolve_column(frame, q, "quality")
    m_column = resolve_column(frame, m, "performance")
    metrics = {q_column: run.metrics[q_column]}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("analysing", total=None)
        result = run_analysis(
            frame, metrics, models=[model_of(m_column)], dags=[dag] if dag else [],
            settings=settings,
            progress=lambda message: progress.update(task, description=message),
        )  # fmt: skip
    for row in result.failures.itertuples(index=False):
        where = f" {row.by}" if row.by else (f" {row.dag}" if row.dag else "")
        message = Text.assemble(("not possible ", "bold yellow"), f"{row.analysis}{where}: ")
        err_console.print(message + Text(str(row.reason)))
    if not result.succeeded():
        raise DegenerateDataError("every analysis was undefined for these data (see above)")
    return result


@handle_errors
def simulate(
    name: Annotated[str, typer.Argument(help=NAME_HELP)],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    ids: Annotated[int, typer.Option(help="Number of image IDs.")] = 1000,
    layout: Annotated[LayoutChoice, typer.Option(help="imagenet-c: 76 rows per ID; iid: one.")] = (
        LayoutChoice.imagenet_c
    ),
    strength: Annotated[float, typer.Option(help="Every edge's strength, per SD of parent.")] = 1.0,
    edge: Annotated[
        list[str] | None, typer.Option(help="Per edge, repeatable: 'X -> Q=0.5'.")
    ] = None,
    noise: Annotated[float, typer.Option(help="SD of each node's own noise.")] = 1.0,
    accuracy: Annotated[float, typer.Option(help="Accuracy M is centred on.")] = 0.7,
    labels: Annotated[int, typer.Option(help="Number of classes.")] = 1000,
    metric: Annotated[str, typer.Option(help="Quality column name: q_<metric>.")] = "sim",
    model: Annotated[str, typer.Option(help="Model name: correct_<model>, pred_<model>.")] = "sim",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Write a synthetic scores table drawn from a structural causal model over a DAG."""
    from iqalign.errors import SimulationError
    from iqalign.scores import is_performance_column
    from iqalign.stats import simulate_scores

    strengths = {}
    for item in edge or []:
        text, sep, value = item.rpartition("=")
        try:
            strengths[text.strip()] = float(value)
        except ValueError:
            raise SimulationError(f"--edge {item!r}: expected 'A -> B=<number>'") from None
        if not sep:
            raise SimulationError(f"--edge {item!r}: expected 'A -> B=<number>'")
    frame = simulate_scores(
        name,
        ids,
        layout=layout.value,
        strength=strength,
        strengths=strengths,
        noise=noise,
        accuracy=accuracy,
        n_labels=labels,
        metric=metric,
        model=model,
        seed=seed,
    )
    write_atomic(out, lambda path: frame.to_parquet(path, index=False))
    info = frame.attrs["iqalign_simulation"]
    console.print(
        Text(
            f"wrote {out}: {len(frame)} rows x {frame.shape[1]} columns "
            f"({', '.join(map(str, frame.columns))}); DAG {info['dag']}, seed {seed}"
        )
    )
    accuracy_column = next((c for c in frame.columns if is_performance_column(c)), None)
    if accuracy_column:
        console.print(Text(f"accuracy of {accuracy_column}: {frame[accuracy_column].mean():.4f}"))
    for note in info["notes"]:
        console.print(Text(f"note: {note}", style="dim"))
