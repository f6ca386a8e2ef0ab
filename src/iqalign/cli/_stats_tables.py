"""Rich tables for ``iqalign analyze``: one small printer per kind of result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from iqalign.cli._common import console

if TYPE_CHECKING:  # the CLI imports iqalign.stats (and pandas) only when a command runs
    import pandas as pd

    from iqalign.stats.analyses.groups import GroupCorrelationResult
    from iqalign.stats.analyses.predictability import PredictabilityResult
    from iqalign.stats.analyses.verdicts import VerdictResult
    from iqalign.stats.runner.analysis import AnalysisResult

__all__ = ["print_results"]


def _fmt(value: object, digits: int = 4) -> Text:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Text("")
    if isinstance(value, float):
        if value == 0.0:
            return Text("0")
        small = abs(value) < 1e-3
        return Text(f"{value:.{digits}g}" if small else f"{value:.{digits}f}")
    return Text(str(value))


def _p(value: float) -> Text:
    """A p-value; one that underflowed to 0 is shown as below the smallest double."""
    return Text("< 1e-300") if value == 0.0 else _fmt(value)


def _ci(pair: tuple[float, float]) -> Text:
    return Text(f"[{pair[0]:.4f}, {pair[1]:.4f}]")


def print_results(analysis: AnalysisResult) -> None:
    """Print each result of one pair's
    :class:`~iqalign.stats.runner.analysis.AnalysisResult`."""
    results = _by_kind(analysis)
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
        console.print(
            Text(
                f"Mixtures: mean AUC over {mix.n_variants} p_c variants {mix.mean_auc_score:.4f} "
                f"(SD {mix.sd_auc:.4f}); mean raw AUC of Q {mix.mean_raw_auc_score:.4f}"
            )
        )


def _by_kind(analysis: AnalysisResult) -> dict[str, Any]:
    """``pooled``, ``groups``, ``cv:<by>``, ``test:<by>``, ``verdicts``, ``mixtures``."""
    from iqalign.stats.runner.analysis import MARGINAL

    prefix = {"stratified": "cv:", "citest": "test:"}
    results = {}
    for done in analysis.succeeded():
        job = done.job
        by = "" if job.by == MARGINAL else job.by
        results[prefix[job.analysis] + by if job.analysis in prefix else job.analysis] = done.value
    return results


def _table(title: str, *columns: str) -> Table:
    return Table(*columns, title=title, box=None, title_justify="left", title_style="bold")


def _print_pooled(r: PredictabilityResult) -> None:
    table = _table(
        "Pooled predictability (80/20 split by image ID)",
        "Q",
        "M",
        "n train/test",
        "AUC [clustered DeLong CI]",
        "raw AUC of Q",
        "slope",
        "CE",
        "prior CE",
    )
    table.add_row(
        _fmt(r.q_column),
        _fmt(r.m_column),
        Text(f"{r.n_train}/{r.n_test}"),
        Text(f"{r.auc_score:.4f} {_ci(r.auc_delong_ci)}"),
        _fmt(r.raw_auc_score),
        Text(f"{r.slope:+.4f}"),
        _fmt(r.ce_loss),
        _fmt(r.prior_ce_loss),
    )
    console.print(table)


def _print_cv(cv: dict) -> None:
    table = _table(
        "Stratified cross-validation",
        "by",
        "strata used/all",
        "folds used/all",
        "skipped",
        "mean AUC (SD)",
        "raw AUC",
        "mean CE",
        "prior CE",
    )
    for name, r in cv.items():
        skipped = ", ".join(f"{k} {v}" for k, v in r.skipped.items() if v) or "none"
        table.add_row(
            _fmt(name),
            Text(f"{r.n_strata_used}/{r.n_strata}"),
            Text(f"{r.n_folds_used}/{r.n_folds_total}"),
            Text(skipped),
            Text(f"{r.mean_auc_score:.4f} ({r.sd_auc:.4f})"),
            _fmt(r.mean_raw_auc_score),
            _fmt(r.mean_ce_loss),
            _fmt(r.mean_prior_ce_loss),
        )
    console.print(table)


def _print_groups(result: GroupCorrelationResult) -> None:
    title = (
        f"Group level: mean Q vs accuracy ({result.n_groups} groups; cluster CI: bootstrap over "
        f"{result.unit}, {result.n_boot} resamples, {result.ci_method}; r corrected: "
        "disattenuated (pearson) or bootstrap bias-corrected, the interval's centre)"
    )
    columns = ("scope", "method", "groups", "r", "p", "r corrected", "cluster CI", "group CI")
    table = _table(title, *columns)
    shown = result.correlations[~result.correlations["scope"].str.startswith("corruption=")]
    for row in shown.itertuples():
        table.add_row(
            _fmt(row.scope),
            _fmt(row.method),
            _fmt(row.n_groups),
            _fmt(row.r),
            _p(row.p_value),
            _fmt(row.r_disattenuated if row.method == "pearson" else row.r_bias_corrected),
            _calibrated_ci(row),
            _ci((row.group_ci_low, row.group_ci_high)),
        )
    console.print(table)
    if len(shown) < len(result.correlations):
        console.print(Text("(within-corruption correlations: see correlations.csv)", style="dim"))
    note = _uncalibrated_note(shown)
    if note:
        console.print(Text(note, style="dim"))


def _calibrated_ci(row: Any) -> Text:
    """The cluster interval if its kind reached its level in the calibration; "–" where
    it did not (one note under the table says why) or where there is none."""
    if getattr(row, "ci_calibrated", True):
        return _ci((row.ci_low, row.ci_high))
    return Text("–")


def _uncalibrated_note(rows: pd.DataFrame) -> str:
    """One line: which methods' cluster intervals are not printed, and what they covered."""
    from iqalign.stats.core.coverage import COVERAGE_TARGET

    if "ci_calibrated" not in rows:
        return ""
    short = rows[~rows["ci_calibrated"] & rows["ci_low"].notna()]
    short = short[~(short["ci_coverage"] >= COVERAGE_TARGET)]
    if short.empty:
        return ""
    coverage = short["ci_coverage"].dropna()
    low, high = (f"{coverage.min():.0%}", f"{coverage.max():.0%}") if len(coverage) else ("", "")
    span = low if low == high else f"{low}–{high}"
    measured = f"covered only {span}" if not coverage.empty else "were not measured"
    return (
        f"–: the cluster intervals of {', '.join(dict.fromkeys(short['method']))} are not "
        f"printed: in the calibration (200 and 500 image IDs) they {measured}, below the "
        f"{COVERAGE_TARGET:.0%} a 95% interval must reach (docs/stats.md); scopes of fewer "
        "than 10 groups get no cluster interval."
    )


def _print_tests(tests: dict) -> None:
    from iqalign.stats import holm_adjust

    first = next(iter(tests.values()))
    holm = holm_adjust([r.p_value for r in tests.values()])
    table = _table(
        f"Conditional independence M _||_ Q | strata ({first.test} test)",
        "given",
        "strata used/all",
        "n used",
        "statistic",
        "p",
        "p (Holm)",
        "effect [CI]",
        "variance",
    )
    for (name, r), p_holm in zip(tests.items(), holm, strict=True):
        table.add_row(
            _fmt(name or "(nothing)"),
            Text(f"{r.n_strata_used}/{r.n_strata}"),
            _fmt(r.n_rows_used),
            _fmt(r.statistic),
            _p(r.p_value),
            _p(float(p_holm)),
            Text(f"{r.effect:+.4f} {_ci(r.effect_ci)}"),
            _fmt(r.variance),
        )
    console.print(table)
    console.print(Text(f"effect: {first.effect_name}", style="dim"))


def _print_verdicts(result: VerdictResult) -> None:
    table = _table(
        f"Verdicts for DAG {result.dag} (alpha {result.alpha:g}, margin {result.margin:g})",
        "claim",
        "expected",
        "given",
        "p (Holm)",
        "effect [CI]",
        "verdict",
        "reason",
    )
    for row in result.rows.to_dict("records"):
        tested = row["verdict"] != "not tested"
        effect = (
            f"{row['effect']:+.4f} [{row['effect_ci_low']:.4f}, {row['effect_ci_high']:.4f}]"
            if tested
            else ""
        )
        given = row.get("bound_stratifiers") if tested else row["stratifiers"]
        table.add_row(
            _fmt(row["claim"]),
            _fmt(row["expected"]),
            _fmt(given or ""),
            _p(float(row["p_holm"])) if tested else Text(""),
            Text(effect),
            _fmt(row["verdict"]),
            _fmt(row["reason"]),
        )
    console.print(table)
