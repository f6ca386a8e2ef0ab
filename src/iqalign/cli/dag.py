"""``iqalign dag ...``: inspect the paper's DAGs (or your own) and what they imply.

NAME is everywhere a built-in DAG name (``iqalign dag list``) or a path to a ``.yaml`` or
dagitty (``.dagitty``/``.txt``) file.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from iqalign.causal import (
    READING_OF_CRITERION,
    Dag,
    GraphvizNotFoundError,
    check_claim,
    check_recorded_claims,
    compare_variants,
    dag_to_dict,
    format_dagitty,
    format_dot,
    judge_d_separation,
    list_builtin_dags,
    list_implied_independencies,
    list_variant_groups,
    load_dag,
    parse_claim,
    plan_tests,
    render_dag,
)
from iqalign.cli._common import EXIT_NO, NAME_HELP, console, err_console, handle_errors

app = typer.Typer(
    help="Inspect causal DAGs: claims, d-separation, open paths, implied independencies, figures.",
    no_args_is_help=True,
)


class ReadingChoice(StrEnum):
    classical = "classical"
    selection = "selection"
    deterministic = "deterministic"


class ShowFormat(StrEnum):
    text = "text"
    yaml = "yaml"
    json = "json"
    dagitty = "dagitty"
    dot = "dot"


def _t(value: object) -> Text:
    """Table cells as plain text: dagitty's '[latent]' must not be read as rich markup."""
    return Text(str(value))


@app.command("list")
@handle_errors
def list_dags() -> None:
    """List the built-in DAGs with their paper figure."""
    table = Table("name", "title", "paper", "nodes", "claims", box=None, pad_edge=False)
    for name in list_builtin_dags():
        dag = load_dag(name)
        paper = " / ".join(v for v in (dag.paper.get("figure"), dag.paper.get("section")) if v)
        table.add_row(_t(name), _t(dag.title), _t(paper), _t(len(dag.nodes)), _t(len(dag.claims)))
    console.print(table)


@app.command("show")
@handle_errors
def show(
    name: str = typer.Argument(..., help=NAME_HELP),
    fmt: ShowFormat = typer.Option(ShowFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Show a DAG's nodes (with roles), edges and recorded claims; or export it.

    --format dagitty prints text to paste into dagitty.net; yaml converts a dagitty file
    into the dags/ schema.
    """
    dag = load_dag(name)
    if fmt is ShowFormat.yaml:
        console.print(_yaml_text(dag_to_dict(dag)), markup=False, emoji=False)
        return
    if fmt is ShowFormat.json:
        console.print(
            json.dumps(dag_to_dict(dag), indent=2, ensure_ascii=False), markup=False, emoji=False
        )
        return
    if fmt is ShowFormat.dagitty:
        console.print(format_dagitty(dag), markup=False, emoji=False)
        return
    if fmt is ShowFormat.dot:
        console.print(format_dot(dag), markup=False)
        return
    _print_dag(dag)


def _yaml_text(data: dict) -> str:
    """YAML as a person writes it: multi-line text as a literal block, keys in file order."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _print_dag(dag: Dag) -> None:
    paper = ", ".join(f"{k} {v}" for k, v in dag.paper.items())
    console.print(
        Text.assemble((dag.name, "bold"), f"  {dag.title}", f"  ({paper})" if paper else "")
    )
    if dag.description:
        console.print(Text(dag.description), style="dim")
    nodes = Table("node", "label", "role", "deterministic", "column", "description", box=None)
    for node in dag.nodes:
        nodes.add_row(
            _t(node.name),
            _t(node.display),
            _t(node.role),
            _t("yes" if node.deterministic else ""),
            _t(node.column or ("(one image per row)" if node.identifies_row else "")),
            _t(node.description),
        )
    console.print(nodes)
    edges = ", ".join(f"{e}" + (f" ({e.style})" if e.style != "solid" else "") for e in dag.edges)
    console.print(Text(f"edges: {edges}"))
    claims = Table("claim", "reading", "holds", box=None)
    for result in check_recorded_claims(dag):
        claims.add_row(
            _t(result.recorded.claim),
            _t(result.recorded.criterion),
            _t("yes" if result.holds else "NO"),
        )
    if dag.claims:
        console.print(claims)


@app.command("check")
@handle_errors
def check(
    name: str = typer.Argument(..., help=NAME_HELP),
    claim: str = typer.Argument(..., help="A claim such as 'Q _||_ M | X' or 'Q !_||_ M | Y'."),
    reading: ReadingChoice = typer.Option(
        ReadingChoice.classical,
        "--reading",
        "-r",
        help="The reading that decides the exit code; every applicable reading is printed.",
    ),
) -> None:
    """Does the DAG imply the claim? Exit 0 if it does, 1 if it does not, 2 on bad input."""
    dag = load_dag(name)
    parsed = parse_claim(claim)
    result = check_claim(dag, parsed)
    chosen = READING_OF_CRITERION[reading.value]
    if chosen not in [j.reading for j in result.judgements]:
        chosen = result.judgements[0].reading
        err_console.print(
            Text(f"note: {dag.name} has no {reading.value} nodes; using the classical reading")
        )
    implied = result.is_implied(chosen)
    verdict = "implied" if implied else "NOT implied"
    style = "bold green" if implied else "bold red"
    console.print(Text.assemble((f"{dag.name}: {parsed}: {verdict}", style), f"  [{chosen}]"))
    console.print(Text(result.explain()))
    if not implied:
        raise typer.Exit(EXIT_NO)


@app.command("paths")
@handle_errors
def paths(
    name: str = typer.Argument(..., help=NAME_HELP),
    left: str = typer.Argument(..., help="First node (or comma-separated nodes)."),
    right: str = typer.Argument(..., help="Second node (or comma-separated nodes)."),
    given: str = typer.Option("", "--given", "-g", help="Conditioning set, e.g. 'X' or 'X,Y'."),
    reading: ReadingChoice = typer.Option(ReadingChoice.classical, "--reading", "-r"),
    show_all: bool = typer.Option(
        False, "--all", "-a", help="Also list the blocked paths and why."
    ),
) -> None:
    """List the open paths between two nodes given a set, each step labelled and explained.

    Exit 0 when the nodes are separated (no open path), 1 when a path is open.
    """
    dag = load_dag(name)
    judgement = judge_d_separation(
        dag, _split(left), _split(right), _split(given), reading=READING_OF_CRITERION[reading.value]
    )
    console.print(Text(judgement.explain().splitlines()[0], style="bold"))
    shown = judgement.paths if show_all else judgement.open_paths
    for path in shown:
        console.print(Text(f"  {path.explain()}"))
        for step in path.steps:
            mark = "open " if step.is_open else "block"
            console.print(Text(f"      {mark}  {step.kind:<8} {step.reason}"), style="dim")
    if not shown:
        console.print(
            Text("  no open path" + ("" if show_all else " (use --all to see the blocked ones)"))
        )
    if not judgement.separated:
        raise typer.Exit(EXIT_NO)


def _split(text: str) -> list[str]:
    from iqalign.causal.claims import split_names

    return split_names(text)


@app.command("implied")
@handle_errors
def implied(
    name: str = typer.Argument(..., help=NAME_HELP),
    show_all: bool = typer.Option(
        False, "--all", "-a", help="Every minimal separator of every pair, not one per pair."
    ),
    reading: ReadingChoice = typer.Option(ReadingChoice.classical, "--reading", "-r"),
) -> None:
    """The conditional independencies the DAG implies among observable nodes (dagitty notation).

    Each line is a claim that `iqalign dag check` accepts.
    """
    dag = load_dag(name)
    with _pair_progress() as progress:
        claims = list_implied_independencies(
            dag,
            mode="all" if show_all else "basis",
            reading=READING_OF_CRITERION[reading.value],
            progress=progress,
        )
    for claim in claims:
        console.print(Text(str(claim)))
    if not claims:
        console.print(Text("(no testable independence among the observable nodes)"))


@contextmanager
def _pair_progress():
    """A progress bar over node pairs on a terminal's stderr; nothing when piped."""
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("node pairs", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@app.command("render")
@handle_errors
def render(
    name: str = typer.Argument(..., help=NAME_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="FILE.svg, .png, .pdf or .gv"),
    highlight: str = typer.Option(
        None, "--highlight", help="A query to highlight, e.g. 'Q M | X': its open paths in red."
    ),
    reading: ReadingChoice = typer.Option(ReadingChoice.classical, "--reading", "-r"),
) -> None:
    """Draw the DAG (observed solid, latent dashed, predicted filled, selection boxed)."""
    dag = load_dag(name)
    try:
        written = render_dag(
            dag, output, highlight=highlight, reading=READING_OF_CRITERION[reading.value]
        )
    except GraphvizNotFoundError as err:
        err_console.print(Text.assemble(("error: ", "bold red"), str(err)))
        raise typer.Exit(EXIT_NO) from err
    except ValueError as err:
        err_console.print(Text.assemble(("error: ", "bold red"), str(err)))
        raise typer.Exit(2) from err
    console.print(Text(f"wrote {written}"))


@app.command("plan")
@handle_errors
def plan(
    name: str = typer.Argument(..., help=NAME_HELP),
    claim: list[str] = typer.Option(
        None, "--claim", "-c", help="Plan these claims instead of the DAG's own (repeatable)."
    ),
) -> None:
    """Each claim about Q and M, the columns that test it and the expected outcome; refused
    claims with their reasons."""
    dag = load_dag(name)
    plans = plan_tests(dag, claim or None, derived=not claim)
    table = Table("claim", "from", "stratify by", "test", "DAG predicts", box=None)
    refused = []
    for item in plans:
        if not item.testable:
            refused.append(item)
            continue
        table.add_row(
            _t(item.claim),
            _t(item.origin),
            _t(", ".join(item.stratifiers) or "(pooled)"),
            _t(item.test),
            _t(item.expectation + (f"  [{item.note}]" if item.note else "")),
        )
    console.print(Text(f"{dag.name}: test plan", style="bold"))
    console.print(table)
    if refused:
        console.print(Text("refused:", style="bold"))
        for item in refused:
            console.print(Text(f"  {item.claim}: {item.refused}"))


@app.command("claims")
@handle_errors
def claims() -> None:
    """Check every claim recorded in every built-in DAG; exit 1 on any mismatch."""
    table = Table("dag", "claim", "reading", "paper says", "graph gives", "ok", box=None)
    failures = 0
    total = 0
    for name in list_builtin_dags():
        for result in check_recorded_claims(load_dag(name)):
            total += 1
            expected = "independent" if result.recorded.claim.independent else "dependent"
            got = "separated" if result.judgement.separated else "connected"
            ok = result.holds
            failures += not ok
            table.add_row(
                _t(name),
                _t(result.recorded.claim.as_independence()),
                _t(result.recorded.criterion),
                _t(expected),
                _t(got),
                Text("yes" if ok else "NO", style="green" if ok else "bold red"),
            )
    console.print(table)
    summary = f"{total - failures}/{total} claims reproduced"
    console.print(Text(summary, style="bold green" if not failures else "bold red"))
    for members in list_variant_groups().values():
        _print_variants(members)
    if failures:
        raise typer.Exit(EXIT_NO)


def _print_variants(members: list[Dag]) -> None:
    """Two or more encodings of one figure: what each follows, and where they differ."""
    figure = members[0].paper.get("figure", members[0].name)
    console.print(Text(f"\n{figure} is shipped in {len(members)} readings:", style="bold"))
    for dag in members:
        console.print(Text(f"  {dag.name}: follows {dag.paper.get('follows', '(not stated)')}"))
    names = [dag.name for dag in members]
    table = Table("claim", "reading", *names, "differ", box=None)
    for row in compare_variants(members):
        cells = ["separated" if row.separated[n] else "connected" for n in names]
        table.add_row(
            _t(row.claim),
            _t(row.criterion),
            *map(_t, cells),
            Text("DIFFER" if row.differs else "", style="bold yellow"),
        )
    console.print(table)


@app.command("report")
@handle_errors
def report(
    output: Path = typer.Option(
        Path("iqalign-causal-report"), "--out", "-o", help="Folder to write."
    ),
    names: list[str] = typer.Option(
        None, "--dag", "-d", help="DAGs to include (default: all built-ins)."
    ),
) -> None:
    """Write the causal report: every claim checked, every figure drawn, every test planned."""
    from iqalign.report.causal_report import write_causal_report

    result = write_causal_report(
        output, names or None, progress=lambda msg: console.print(Text(msg))
    )
    console.print(
        Text(f"{result.reproduced}/{result.total} recorded claims reproduced", style="bold")
    )
    if result.missing_dot:
        err_console.print(Text(f"note: {result.missing_dot}"))
    console.print(Text(f"report: {result.html}  (Markdown: {result.markdown})"))
    if result.reproduced != result.total:
        raise typer.Exit(EXIT_NO)
