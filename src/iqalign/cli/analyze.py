"""``iqalign analyze`` and ``iqalign simulate``: the statistics engine from the command line.

``analyze`` runs the pooled test, the group correlations, stratified cross-validation and
conditional-independence tests per ``--by``, the verdicts of a DAG (``--dag``) and, on
request, the p_c mixtures; it prints the tables and writes CSV/JSON to ``--out``.
``simulate`` writes a synthetic scores table drawn from a DAG. Every file is written to a
temporary name and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from iqalign.cli._common import console, err_console, handle_errors
from iqalign.errors import DegenerateDataError

__all__ = ["analyze", "simulate", "write_atomic"]

NAME_HELP = "A built-in DAG name (see 'iqalign dag list') or a path to a .yaml / .dagitty file."


class PenaltyChoice(str, Enum):
    l2 = "l2"
    none = "none"
    firth = "firth"


class TestChoice(str, Enum):
    score = "score"
    lr = "lr"
    cmh = "cmh"


class LayoutChoice(str, Enum):
    imagenet_c = "imagenet-c"
    iid = "iid"


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary path)`` and rename onto ``path``; nothing half-written survives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _fmt(value: object, digits: int = 4) -> Text:
    if isinstance(value, float):
        return Text(f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}")
    return Text(str(value))


def _ci(pair: tuple[float, float]) -> Text:
    return Text(f"[{pair[0]:.4f}, {pair[1]:.4f}]")


@handle_errors
def analyze(
    scores: Path = typer.Argument(..., help="A scores table: Parquet file or folder of shards."),
    q: str = typer.Option(..., "--q", help="Quality column (q_<metric>, or just <metric>)."),
    m: str = typer.Option(..., "--m", help="Performance column (correct_<model>, or just <model>)."),
    dag: str | None = typer.Option(None, "--dag", help=NAME_HELP + " Runs every testable claim."),
    by: list[str] = typer.Option([], "--by", help="Stratifier column(s), repeatable; 'corruption,severity' combines."),
    out: Path | None = typer.Option(None, "--out", help="Folder for CSV/JSON results."),
    penalty: PenaltyChoice = typer.Option(PenaltyChoice.l2, "--penalty", help="Logistic penalty."),
    C: float = typer.Option(1.0, "--C", help="Inverse L2 strength (scikit-learn's C)."),
    folds: int = typer.Option(5, "--folds", help="Folds of the stratified cross-validation."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples."),
    test: TestChoice = typer.Option(TestChoice.score, "--test", help="Conditional-independence test."),
    alpha: float = typer.Option(0.05, "--alpha", help="Level of tests (Holm-adjusted) and intervals."),
    margin: float | None = typer.Option(None, "--margin", help="Equivalence margin of the verdicts."),
    per_stratum: bool = typer.Option(False, "--per-stratum", help="Also write per-stratum tables."),
    mixtures: bool = typer.Option(False, "--mixtures", help="Also run the p_c mixtures (needs clean rows)."),
    drop_nonfinite: bool = typer.Option(False, "--drop-nonfinite", help="Drop and count rows with NaN/inf Q."),
    seed: int = typer.Option(0, "--seed", help="Seed of every split, fold and resample."),
) -> None:
    """Test whether quality Q predicts performance M: pooled, per group, within strata, per claim."""
    from iqalign import stats

    frame = stats.load_scores(scores)
    nonfinite = "drop" if drop_nonfinite else "raise"
    common = {"nonfinite": nonfinite, "seed": seed}
    results: dict[str, object] = {}
    failed: dict[str, str] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:  # fmt: skip

        def step(key: str, description: str, run: Callable[[], object]) -> None:
            task = progress.add_task(description, total=None)
            try:
                results[key] = run()
            except DegenerateDataError as err:  # one analysis undefined: say so, run the others
                failed[description] = str(err)
                err_console.print(Text.assemble(("skipped ", "bold yellow"), f"{description}: {err}"))
            finally:
                progress.remove_task(task)

        step("pooled", "pooled predictability", lambda: stats.predictability(
            frame, q, m, penalty=penalty.value, C=C, n_boot=n_boot, **common))  # fmt: skip
        if {"corruption", "severity", "image_id"} <= set(frame.columns):
            step("groups", "group correlations (cluster bootstrap)", lambda: stats.group_correlations(
                frame, q, m, n_boot=n_boot, **common))  # fmt: skip
        for column in by:
            step(f"cv:{column}", f"{folds}-fold CV within {column}", lambda c=column: stats.stratified_cv(
                frame, q, m, c, n_folds=folds, penalty=penalty.value, C=C, per_stratum=per_stratum, **common))  # fmt: skip
        for column in ["", *by]:
            step(f"test:{column}", f"{test.value} test given {column or '(nothing)'}", lambda c=column: stats.ci_test(
                frame, q, m, c, test=test.value, alpha=alpha, nonfinite=nonfinite))  # fmt: skip
        if dag is not None:
            step("verdicts", "verdicts", lambda: stats.run_verdicts(
                dag, frame, q, m, test=test.value, alpha=alpha, margin=margin))  # fmt: skip
        if mixtures:
            step("mixtures", "p_c mixtures", lambda: stats.mixture_predictability(
                frame, q, m, penalty=penalty.value, C=C, n_boot=min(n_boot, 200), seed=seed))  # fmt: skip
    if not results:
        raise DegenerateDataError("every analysis was undefined for these data (see the messages above)")
    _print_all(results)
    if out is not None:
        _write_all(results, failed, out)
        console.print(Text(f"wrote results to {out}/"))


def _print_all(results: dict) -> None:
    if "pooled" in results:
        _print_pooled(results["pooled"])
    if "groups" in results:
        _print_groups(results["groups"])
    cv = {k.removeprefix("cv:"): v for k, v in results.items() if k.startswith("cv:")}
    if cv:
        _print_cv(cv)
    tests = {k.removeprefix("test:"): v for k, v in results.items() if k.startswith("test:")}
    if tests:
        _print_tests(tests)
    if "verdicts" in results:
        _print_verdicts(results["verdicts"])
    if "mixtures" in results:
        mix = results["mixtures"]
        console.print(Text(f"Mixtures: mean AUC over {mix.n_variants} p_c variants {mix.mean_auc_score:.4f} "
                           f"(SD {mix.sd_auc:.4f}); mean raw AUC of Q {mix.mean_raw_auc_score:.4f}"))  # fmt: skip


def _table(title: str, *columns: str) -> Table:
    return Table(*columns, title=title, box=None, title_justify="left", title_style="bold")


def _print_pooled(r) -> None:
    table = _table("Pooled predictability (80/20 split by image ID)", "Q", "M", "n train/test",
                   "AUC [bootstrap CI]", "raw AUC of Q", "slope", "CE", "prior CE")  # fmt: skip
    table.add_row(_fmt(r.q_column), _fmt(r.m_column), Text(f"{r.n_train}/{r.n_test}"),
                  Text(f"{r.auc_score:.4f} {_ci(r.auc_bootstrap_ci)}"), _fmt(r.raw_auc_score),
                  Text(f"{r.slope:+.4f}"), _fmt(r.ce_loss), _fmt(r.prior_ce_loss))  # fmt: skip
    console.print(table)


def _print_cv(cv: dict) -> None:
    table = _table("Stratified cross-validation", "by", "strata used/all", "folds used/all", "skipped",
                   "mean AUC (SD)", "raw AUC", "mean CE", "prior CE")  # fmt: skip
    for name, r in cv.items():
        skipped = ", ".join(f"{k} {v}" for k, v in r.skipped.items() if v) or "none"
        table.add_row(_fmt(name), Text(f"{r.n_strata_used}/{r.n_strata}"), Text(f"{r.n_folds_used}/{r.n_folds_total}"),
                      Text(skipped), Text(f"{r.mean_auc_score:.4f} ({r.sd_auc:.4f})"), _fmt(r.mean_raw_auc_score),
                      _fmt(r.mean_ce_loss), _fmt(r.mean_prior_ce_loss))  # fmt: skip
    console.print(table)


def _print_groups(result) -> None:
    title = (f"Group level: mean Q vs accuracy ({result.n_groups} groups; CI: cluster bootstrap over "
             f"{result.unit}, {result.n_boot} resamples)")  # fmt: skip
    table = _table(title, "scope", "method", "groups", "r", "p", "cluster CI", "group CI")
    shown = result.correlations[~result.correlations["scope"].str.startswith("corruption=")]
    for row in shown.itertuples():
        table.add_row(_fmt(row.scope), _fmt(row.method), _fmt(row.n_groups), _fmt(row.r), _fmt(row.p_value),
                      _ci((row.ci_low, row.ci_high)), _ci((row.group_ci_low, row.group_ci_high)))  # fmt: skip
    console.print(table)
    if len(shown) < len(result.correlations):
        console.print(Text("(within-corruption correlations: see correlations.csv)", style="dim"))


def _print_tests(tests: dict) -> None:
    from iqalign.stats import holm_adjust

    first = next(iter(tests.values()))
    holm = holm_adjust([r.p_value for r in tests.values()])
    table = _table(f"Conditional independence M _||_ Q | strata ({first.test} test)", "given",
                   "strata used/all", "n used", "statistic", "p", "p (Holm)", "effect [CI]", "variance")  # fmt: skip
    for (name, r), p_holm in zip(tests.items(), holm, strict=True):
        table.add_row(_fmt(name or "(nothing)"), Text(f"{r.n_strata_used}/{r.n_strata}"), _fmt(r.n_rows_used),
                      _fmt(r.statistic), _fmt(r.p_value), _fmt(float(p_holm)),
                      Text(f"{r.effect:+.4f} {_ci(r.effect_ci)}"), _fmt(r.variance))  # fmt: skip
    console.print(table)
    console.print(Text(f"effect: {first.effect_name}", style="dim"))


def _print_verdicts(result) -> None:
    table = _table(f"Verdicts for DAG {result.dag} (alpha {result.alpha:g}, margin {result.margin:g})",
                   "claim", "expected", "given", "p (Holm)", "effect [CI]", "verdict", "reason")  # fmt: skip
    for row in result.rows.to_dict("records"):
        tested = row["verdict"] != "not tested"
        effect = f"{row['effect']:+.4f} [{row['effect_ci_low']:.4f}, {row['effect_ci_high']:.4f}]" if tested else ""
        given = row.get("bound_stratifiers") if tested else row["stratifiers"]
        table.add_row(_fmt(row["claim"]), _fmt(row["expected"] or ""), _fmt(given or ""),
                      _fmt(float(row["p_holm"])) if tested else Text(""), Text(effect),
                      _fmt(row["verdict"]), _fmt(row["reason"]))  # fmt: skip
    console.print(table)


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
        frames.update({f"per_stratum_{'_'.join(r.by)}": r.per_stratum for r in cv if r.per_stratum is not None})
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
    name: str = typer.Argument(..., help=NAME_HELP),
    ids: int = typer.Option(1000, "--ids", help="Number of image IDs."),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
    layout: LayoutChoice = typer.Option(LayoutChoice.imagenet_c, "--layout", help="imagenet-c: 76 rows per ID."),
    strength: float = typer.Option(1.0, "--strength", help="Strength of every edge (per SD of the parent)."),
    edge: list[str] = typer.Option([], "--edge", help="Per-edge strength, repeatable: 'X -> Q=0.5'."),
    noise: float = typer.Option(1.0, "--noise", help="SD of each node's own noise."),
    accuracy: float = typer.Option(0.7, "--accuracy", help="Accuracy M is centred on."),
    labels: int = typer.Option(1000, "--labels", help="Number of classes."),
    metric: str = typer.Option("sim", "--metric", help="Name of the quality column: q_<metric>."),
    model: str = typer.Option("sim", "--model", help="Name of the model: correct_<model>, pred_<model>."),
    seed: int = typer.Option(0, "--seed", help="Seed."),
) -> None:
    """Write a synthetic scores table drawn from a structural causal model over a DAG."""
    from iqalign.errors import SimulationError
    from iqalign.stats import simulate_scores

    strengths = {}
    for item in edge:
        text, sep, value = item.rpartition("=")
        try:
            strengths[text.strip()] = float(value)
        except ValueError:
            raise SimulationError(f"--edge {item!r}: expected 'A -> B=<number>'") from None
        if not sep:
            raise SimulationError(f"--edge {item!r}: expected 'A -> B=<number>'")
    frame = simulate_scores(
        name, ids, layout=layout.value, strength=strength, strengths=strengths, noise=noise,
        accuracy=accuracy, n_labels=labels, metric=metric, model=model, seed=seed,
    )  # fmt: skip
    write_atomic(out, lambda path: frame.to_parquet(path, index=False))
    info = frame.attrs["iqalign_simulation"]
    console.print(Text(f"wrote {out}: {len(frame)} rows x {frame.shape[1]} columns "
                       f"({', '.join(map(str, frame.columns))}); DAG {info['dag']}, seed {seed}"))  # fmt: skip
    accuracy_column = next((c for c in frame.columns if c.startswith("correct_")), None)
    if accuracy_column:
        console.print(Text(f"accuracy of {accuracy_column}: {frame[accuracy_column].mean():.4f}"))
    for note in info["notes"]:
        console.print(Text(f"note: {note}", style="dim"))
