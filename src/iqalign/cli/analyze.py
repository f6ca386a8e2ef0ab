"""``iqalign analyze`` and ``iqalign simulate``: the statistics engine from the command line.

``analyze`` runs the pooled test, the group correlations, stratified cross-validation and
conditional-independence tests per ``--by``, the verdicts of a DAG (``--dag``) and, on
request, the p_c mixtures; it prints the tables and writes CSV/JSON to ``--out``.
``simulate`` writes a synthetic scores table drawn from a DAG. Every file is written to a
temporary name and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated

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
    from iqalign import stats

    frame = stats.load_scores(scores)
    fit = {"penalty": penalty.value, "C": C}
    common = {"nonfinite": "drop" if drop_nonfinite else "raise", "seed": seed}
    tests = {"test": test.value, "alpha": alpha}
    jobs = [
        (
            "pooled",
            "pooled predictability",
            partial(stats.predictability, frame, q, m, n_boot=n_boot, **fit, **common),
        )
    ]
    if {"corruption", "severity", "image_id"} <= set(frame.columns):
        jobs.append(
            (
                "groups",
                "group correlations (cluster bootstrap)",
                partial(stats.group_correlations, frame, q, m, n_boot=n_boot, **common),
            )
        )
    for column in by or []:
        run = partial(
            stats.stratified_cv,
            frame,
            q,
            m,
            column,
            n_folds=folds,
            per_stratum=per_stratum,
            **fit,
            **common,
        )
        jobs.append((f"cv:{column}", f"{folds}-fold CV within {column}", run))
    for column in ["", *(by or [])]:
        run = partial(stats.ci_test, frame, q, m, column, nonfinite=common["nonfinite"], **tests)
        jobs.append(
            (
                f"test:{column or '(nothing)'}",
                f"{test.value} test given {column or '(nothing)'}",
                run,
            )
        )
    if dag is not None:
        jobs.append(
            (
                "verdicts",
                "verdicts",
                partial(stats.run_verdicts, dag, frame, q, m, margin=margin, **tests),
            )
        )
    if mixtures:
        jobs.append(
            (
                "mixtures",
                "p_c mixtures",
                partial(
                    stats.mixture_predictability,
                    frame,
                    q,
                    m,
                    n_boot=min(n_boot, 200),
                    seed=seed,
                    **fit,
                ),
            )
        )
    results, failed = _run_jobs(jobs)
    print_results(results)
    if out is not None:
        _write_all(results, failed, out)
        console.print(Text(f"wrote results to {out}/"))


def _run_jobs(jobs: list[tuple[str, str, Callable[[], object]]]) -> tuple[dict, dict]:
    """Run each analysis with a spinner; an undefined one is reported and the others still run."""
    results: dict[str, object] = {}
    failed: dict[str, str] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        for key, description, run in jobs:
            task = progress.add_task(description, total=None)
            try:
                results[key] = run()
            except DegenerateDataError as err:
                failed[description] = str(err)
                message = Text.assemble(("skipped ", "bold yellow"), f"{description}: {err}")
                err_console.print(message)
            finally:
                progress.remove_task(task)
    if not results:
        raise DegenerateDataError("every analysis was undefined for these data (see above)")
    return results, failed


def _write_all(results: dict, failed: dict, out: Path) -> None:
    import pandas as pd

    from iqalign.stats import holm_adjust
    from iqalign.stats._results import to_plain

    frames = {}
    if "pooled" in results:
        frames["pooled"] = results["pooled"].to_frame()
    if "groups" in results:
        frames["groups"] = results["groups"].groups
        frames["correlations"] = results["groups"].correlations
    cv = [v for k, v in results.items() if k.startswith("cv:")]
    if cv:
        frames["stratified"] = pd.concat([r.to_frame() for r in cv], ignore_index=True)
        frames.update(
            {
                f"per_stratum_{'_'.join(r.by)}": r.per_stratum
                for r in cv
                if r.per_stratum is not None
            }
        )
    tests = [v for k, v in results.items() if k.startswith("test:")]
    if tests:
        frames["citests"] = pd.concat([r.to_frame() for r in tests], ignore_index=True)
        frames["citests"]["p_holm"] = holm_adjust(frames["citests"]["p_value"])
    if "verdicts" in results:
        frames["verdicts"] = results["verdicts"].to_frame()
    if "mixtures" in results:
        frames["mixtures"] = results["mixtures"].variants
    for name, frame in frames.items():
        write_atomic(out / f"{name}.csv", lambda path, f=frame: f.to_csv(path, index=False))
    summary = {key: to_plain(value) for key, value in results.items()}
    summary["skipped_analyses"] = failed
    text = json.dumps(summary, indent=2, default=str)
    write_atomic(out / "summary.json", lambda path: path.write_text(text))


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
    accuracy_column = next((c for c in frame.columns if c.startswith("correct_")), None)
    if accuracy_column:
        console.print(Text(f"accuracy of {accuracy_column}: {frame[accuracy_column].mean():.4f}"))
    for note in info["notes"]:
        console.print(Text(f"note: {note}", style="dim"))
