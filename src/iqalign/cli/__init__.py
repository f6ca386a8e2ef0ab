"""The ``iqalign`` command: one sub-command per user job.

Exit codes (scripts rely on them): 0 success / the DAG implies the stated claim;
1 a negative answer (claim not implied, a recorded claim not reproduced, a tool missing);
2 bad input (unknown DAG, malformed file or claim), with a message naming what to fix.
Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import typer

from iqalign import __version__
from iqalign.cli.analyze import analyze, simulate
from iqalign.cli.corrupt import corrupt_command
from iqalign.cli.dag import app as dag_app
from iqalign.cli.demo import demo
from iqalign.cli.estimate import estimate
from iqalign.cli.quality import quality
from iqalign.cli.report import report
from iqalign.cli.score import metrics_app, models_app, score_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="iqalign",
    help=(
        "State a causal claim about image quality (Q) and network performance (M) as a DAG, "
        "see what it implies, and test it on data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dag_app, name="dag")
app.command("demo")(demo)
app.command("score")(score_command)
app.command("quality")(quality)
app.command("corrupt")(corrupt_command)
app.add_typer(metrics_app, name="metrics")
app.add_typer(models_app, name="models")
app.command("analyze")(analyze)
app.command("simulate")(simulate)
app.command("report")(report)
app.command("estimate")(estimate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iqalign {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """iqalign: causal claims about image quality and DNN performance, tested on data."""


def main() -> None:
    """Console-script entry point."""
    app()
