"""``iqalign demo``: the main job in one command, with no download.

Scores the photos bundled in installed packages (clean + 15 ImageNet-C corruptions x 5
severities) with every quality metric that runs offline and three real ImageNet
classifiers (EfficientNet-Lite0/1/2), then analyses every (model, metric) pair against
every built-in DAG and writes the report. Re-running it on the same folder resumes the
scoring where it stopped and rewrites the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from iqalign import DEMO_METRICS, DEMO_MODELS  # their public home; the demo runs them
from iqalign.cli._common import console, handle_errors

__all__ = ["DEMO_METRICS", "DEMO_MODELS", "demo"]


@handle_errors
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the scores and the report.")
    ] = Path("iqalign-demo"),
    n_boot: Annotated[
        int, typer.Option("--n-boot", help="Bootstrap resamples for every interval.")
    ] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Score the bundled photos, test every DAG, write the report: no download, no argument."""
    from iqalign.cli.report import print_report_summary, with_progress
    from iqalign.cli.score import run_scoring
    from iqalign.report.run_report import write_run_report
    from iqalign.scoring.run.config import from_values

    started = time.perf_counter()
    console.print(
        Text(f"1/2 scoring the bundled photos into {out} (resumes if interrupted)", style="bold")
    )
    settings = from_values(
        {
            "data": "demo",
            "out": str(out),
            "models": ",".join(DEMO_MODELS),
            "metrics": ",".join(_demo_metrics()),
            "corruptions": "all",
            "severities": "1-5",
            # 836 rows x 3 models x 2 kB: 5 MB, for the estimators that need probabilities
            "save_probs": True,
        }
    )
    run_scoring(settings, quiet)
    console.print(Text("2/2 analysing every (model, metric) pair against every DAG", style="bold"))
    result = with_progress(lambda progress: write_run_report(out, n_boot=n_boot, progress=progress))
    print_report_summary(result)
    console.print(
        Text(f"demo finished in {time.perf_counter() - started:.0f} s; open {result.html}")
    )


def _demo_metrics() -> list[str]:
    """DEMO_METRICS, less (with a note) any whose model files are not installed."""
    from iqalign.scoring.metrics.registry import get_metric_spec, metric_readiness

    kept = []
    for key in DEMO_METRICS:
        spec = get_metric_spec(key.split(":", 1)[0])
        if metric_readiness(spec) == "needs model":
            console.print(
                f"note: {spec.name} left out: its model is not installed "
                f"('iqalign metrics download {spec.name}' installs it)"
            )
            continue
        kept.append(key)
    return kept
