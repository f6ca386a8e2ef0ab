"""The causal report: every built-in DAG drawn, its claims checked, its tests planned.

Written as a folder a user can open from disk::

    report.md        the report (Markdown; links the figures)
    index.html       the same, self-contained (figures inlined as SVG)
    figures/NAME.svg every DAG, plus NAME__<claim>.svg with the claim's open paths in red
    dags/NAME.dagitty, dags/NAME.gv   generated exports (paste into dagitty.net)
    claims.csv       one row per recorded claim: DAG, claim, reading, expected, result
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from iqalign.causal import (
    Dag,
    GraphvizNotFoundError,
    check_claim,
    check_recorded_claims,
    format_dagitty,
    format_dot,
    list_builtin_dags,
    list_implied_independencies,
    load_dag,
    plan_tests,
    render_dag,
)

__all__ = ["CausalReport", "write_causal_report"]


@dataclass(frozen=True)
class CausalReport:
    index: Path
    html: Path
    total: int
    reproduced: int
    missing_dot: str | None = None


def write_causal_report(
    out_dir: str | Path,
    names: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CausalReport:
    """Write the causal report of ``names`` (default: every built-in DAG) into ``out_dir``."""
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "dags").mkdir(parents=True, exist_ok=True)
    dags = [load_dag(name) for name in (names or list_builtin_dags())]
    md: list[str] = ["# iqalign causal report", ""]
    body: list[str] = []
    rows: list[dict[str, str]] = []
    missing_dot: str | None = None
    md += _summary_table(dags, rows)
    for dag in dags:
        if progress:
            progress(f"{dag.name}: drawing, checking claims, planning tests")
        (out / "dags" / f"{dag.name}.dagitty").write_text(
            format_dagitty(dag) + "\n", encoding="utf-8"
        )
        (out / "dags" / f"{dag.name}.gv").write_text(format_dot(dag), encoding="utf-8")
        figures: list[tuple[str, Path]] = [("", out / "figures" / f"{dag.name}.svg")]
        for recorded in dag.claims:
            if recorded.criterion == "classical":
                claim = recorded.claim
                figures.append(
                    (
                        str(claim.as_independence()),
                        out / "figures" / f"{dag.name}__{_slug(claim)}.svg",
                    )
                )
        drawn: list[tuple[str, Path]] = []
        for highlight, path in figures:
            try:
                render_dag(dag, path, highlight=highlight or None)
                drawn.append((highlight, path))
            except GraphvizNotFoundError as err:
                missing_dot = str(err)
        md += _dag_section(dag, drawn, out)
        body.append(_html_section(dag, drawn))
    index = out / "report.md"
    index.write_text("\n".join(md) + "\n", encoding="utf-8")
    with (out / "claims.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["dag", "claim", "reading", "expected", "result", "ok"]
        )
        writer.writeheader()
        writer.writerows(rows)
    html_path = out / "index.html"
    html_path.write_text(_html_page(md, body), encoding="utf-8")
    reproduced = sum(row["ok"] == "yes" for row in rows)
    return CausalReport(index, html_path, len(rows), reproduced, missing_dot)


def _slug(claim) -> str:
    return re.sub(
        r"[^A-Za-z0-9]+", "_", str(claim.as_independence()).replace("_||_", "indep")
    ).strip("_")


def _summary_table(dags: list[Dag], rows: list[dict[str, str]]) -> list[str]:
    lines = [
        "Every claim each DAG file records, checked against the encoded graph.",
        "",
        "| DAG | claim | reading | paper says | graph gives | ok |",
        "|---|---|---|---|---|---|",
    ]
    for dag in dags:
        for result in check_recorded_claims(dag):
            claim = result.recorded.claim
            expected = "independent" if claim.independent else "dependent"
            got = "separated" if result.judgement.separated else "connected"
            ok = "yes" if result.holds else "NO"
            rows.append(
                {
                    "dag": dag.name,
                    "claim": str(claim.as_independence()),
                    "reading": result.recorded.criterion,
                    "expected": expected,
                    "result": got,
                    "ok": ok,
                }
            )
            lines.append(
                f"| {dag.name} | `{claim.as_independence()}` | {result.recorded.criterion} | "
                f"{expected} | {got} | {ok} |"
            )
    return [*lines, ""]


def _dag_section(dag: Dag, drawn: list[tuple[str, Path]], out: Path) -> list[str]:
    paper = ", ".join(f"{k} {v}" for k, v in dag.paper.items())
    lines = [
        f"## {dag.name}: {dag.title}",
        "",
        f"*Paper: {paper}*" if paper else "",
        "",
        dag.description,
        "",
    ]
    for highlight, path in drawn:
        caption = f"open paths of {highlight} in red" if highlight else dag.name
        lines.append(f"![{caption}]({path.relative_to(out).as_posix()})")
    lines += ["", "**Q and M under every reading**", ""]
    qm = [r.claim for r in dag.claims if {*r.claim.left, *r.claim.right} == {"Q", "M"}]
    for claim in dict.fromkeys(c.as_independence() for c in qm):
        lines += ["```", check_claim(dag, claim).explain(), "```"]
    lines += ["", "**Implied independencies among observable nodes (one per pair)**", ""]
    implied = list_implied_independencies(dag)
    lines += [f"- `{c}`" for c in implied] or ["- (none)"]
    lines += [
        "",
        "**Test plan**",
        "",
        "| claim | from | stratify by | DAG predicts |",
        "|---|---|---|---|",
    ]
    for item in plan_tests(dag):
        strat = ", ".join(item.stratifiers) or "(pooled)"
        what = item.expectation if item.testable else f"refused: {item.refused}"
        lines.append(
            f"| `{item.claim}` | {item.origin} | {strat if item.testable else '-'} | {what} |"
        )
    return [*lines, ""]


def _html_section(dag: Dag, drawn: list[tuple[str, Path]]) -> str:
    figures = []
    for highlight, path in drawn:
        svg = path.read_text(encoding="utf-8")
        svg = svg[svg.find("<svg") :]  # drop the XML prolog and DOCTYPE for inlining
        caption = (
            f"open paths of {html.escape(highlight)} in red" if highlight else html.escape(dag.name)
        )
        figures.append(f"<figure>{svg}<figcaption>{caption}</figcaption></figure>")
    return f'<section id="{dag.name}"><h2>{html.escape(dag.name)}</h2>{"".join(figures)}</section>'


def _html_page(md: list[str], sections: list[str]) -> str:
    text = html.escape("\n".join(md))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>iqalign causal report</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}figure{display:inline-block;"
        "margin:1em}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style></head><body>"
        "<h1>iqalign causal report</h1>"
        + "".join(sections)
        + f"<h2>Full text</h2><pre>{text}</pre></body></html>\n"
    )
