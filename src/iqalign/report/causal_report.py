"""The causal report: every built-in DAG drawn, its claims checked, its tests planned.

Written as a folder a user can open from disk::

    report.html      self-contained (figures inlined as SVG)
    report.md        the Markdown twin, figures linked from figures/
    figures/NAME.svg every DAG, plus NAME__<claim>.svg with the claim's open paths in red
    dags/NAME.dagitty, dags/NAME.gv   generated exports (paste into dagitty.net)
    claims.csv       one row per recorded claim: DAG, claim, reading, expected, result
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iqalign.causal import (
    Claim,
    Dag,
    check_claim,
    check_recorded_claims,
    compare_variants,
    format_dagitty,
    format_dot,
    list_builtin_dags,
    list_implied_independencies,
    list_variant_groups,
    load_dag,
    plan_tests,
)
from iqalign.report.document import (
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    write_document,
)

if TYPE_CHECKING:  # pandas is imported where a frame is built (the causal report is light)
    import pandas as pd

__all__ = [
    "CausalReport",
    "causal_sections",
    "claims_frame",
    "dag_figure",
    "variant_sections",
    "write_causal_report",
]


@dataclass(frozen=True)
class CausalReport:
    html: Path
    markdown: Path
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
    (out / "dags").mkdir(parents=True, exist_ok=True)
    dags = [load_dag(name) for name in (names or list_builtin_dags())]
    claims = claims_frame(dags)
    claims.to_csv(out / "claims.csv", index=False)
    document = Document("iqalign causal report")
    document.add(
        Paragraph("Every claim each DAG file records, checked against the encoded graph."),
        Table(claims, caption="Recorded claims"),
    )
    for members in list_variant_groups(dags).values():
        document.add(*variant_sections(members))
    missing: list[str] = []
    for dag in dags:
        if progress:
            progress(f"{dag.name}: drawing, checking claims, planning tests")
        (out / "dags" / f"{dag.name}.dagitty").write_text(
            format_dagitty(dag) + "\n", encoding="utf-8"
        )
        (out / "dags" / f"{dag.name}.gv").write_text(format_dot(dag), encoding="utf-8")
        document.add(*causal_sections(dag, missing))
    html_path, md_path = write_document(document, out)
    reproduced = int((claims["ok"] == "yes").sum())
    return CausalReport(
        html_path, md_path, len(claims), reproduced, missing[0] if missing else None
    )


def variant_sections(members: list[Dag]) -> list:
    """Where the shipped readings of one ambiguous figure (e.g. Fig. 6) part ways."""
    import pandas as pd

    figure = members[0].paper.get("figure", members[0].name)
    follows = "; ".join(
        f"{d.name} follows {d.paper.get('follows', '(not stated)')}" for d in members
    )
    rows = [
        {"claim": str(row.claim), "reading": row.criterion}
        | {name: "separated" if sep else "connected" for name, sep in row.separated.items()}
        | {"differ": "DIFFER" if row.differs else ""}
        for row in compare_variants(members)
    ]
    return [
        Heading(f"{figure}: {len(members)} readings", 2),
        Paragraph(
            f"The paper can be read more than one way here; each reading is shipped. {follows}."
        ),
        Table(
            pd.DataFrame(rows), caption=f"{figure}: each claim under each reading, in each variant"
        ),
    ]


def claims_frame(dags: Iterable[Dag]) -> pd.DataFrame:
    """One row per recorded claim: dag, claim, reading, paper says, graph gives, ok."""
    import pandas as pd

    rows = []
    for dag in dags:
        for result in check_recorded_claims(dag):
            claim = result.recorded.claim
            rows.append(
                {
                    "dag": dag.name,
                    "claim": str(claim.as_independence()),
                    "reading": result.recorded.criterion,
                    "paper says": "independent" if claim.independent else "dependent",
                    "graph gives": "separated" if result.judgement.separated else "connected",
                    "ok": "yes" if result.holds else "NO",
                }
            )
    return pd.DataFrame(rows)


def dag_figure(
    dag: Dag, highlight: Claim | None = None, missing: list[str] | None = None
) -> Figure | None:
    """The DAG as an SVG :class:`Figure` (``None`` when Graphviz's dot is missing)."""
    import shutil

    import graphviz

    name = dag.name + (f"__{_slug(highlight)}" if highlight else "")
    caption = f"{dag.name}: open paths of {highlight} in red" if highlight else dag.name
    if shutil.which("dot") is None:
        if missing is not None:
            missing.append(
                "Graphviz's 'dot' was not found: figures were left out; install the "
                "graphviz package (apt-get install graphviz, brew install graphviz)"
            )
        return None
    svg = graphviz.Source(format_dot(dag, highlight=highlight)).pipe(format="svg")
    return Figure(name, svg, "svg", caption)


def causal_sections(dag: Dag, missing: list[str] | None = None) -> list:
    """The report blocks of one DAG: figures, readings, implied independencies, test plan."""
    import pandas as pd

    paper = ", ".join(f"{k} {v}" for k, v in dag.paper.items())
    blocks: list = [Heading(f"{dag.name}: {dag.title}", 2, anchor=dag.name)]
    if paper:
        blocks.append(Paragraph(f"Paper: {paper}."))
    if dag.description:
        blocks.append(Paragraph(dag.description))
    qm_claims = [
        r.claim.as_independence()
        for r in dag.claims
        if r.criterion == "classical" and {*r.claim.left, *r.claim.right} == {"Q", "M"}
    ]
    for highlight in [None, *dict.fromkeys(qm_claims)]:
        figure = dag_figure(dag, highlight, missing)
        if figure is not None:
            blocks.append(figure)
    for claim in dict.fromkeys(qm_claims):
        blocks.append(Code(check_claim(dag, claim).explain()))
    implied = [str(c) for c in list_implied_independencies(dag)]
    blocks.append(
        Paragraph(
            "Implied independencies among observable nodes (one per pair): "
            + ("; ".join(implied) or "none")
            + "."
        )
    )
    plan_rows = [
        {
            "claim": str(item.claim),
            "from": item.origin,
            "stratify by": ", ".join(item.stratifiers) or "(pooled)" if item.testable else "–",
            "DAG predicts": item.expectation if item.testable else f"refused: {item.refused}",
        }
        for item in plan_tests(dag)
    ]
    blocks.append(Table(pd.DataFrame(plan_rows), caption=f"{dag.name}: test plan"))
    return blocks


def _slug(claim: Claim) -> str:
    text = str(claim.as_independence()).replace("_||_", "indep")
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
