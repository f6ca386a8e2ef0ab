"""Issue 20 moved every module of the scoring and statistics layers and rewrote how a run is
read, how the analysis runner dispatches and how the engine plans: none of it may change
what a user gets. The demo's analysis tables, its estimation tables and its report Markdown
are compared, byte for byte, with copies made by the code before that restructuring
(``tests/data/demo_before_issue20``, written by ``python tests/cli/test_demo_unchanged.py
DEMO_DIR`` on commit cb793b1 from ``iqalign demo --n-boot 200``).

What legitimately differs between two runs of the same code is masked in both copies
before comparing: wall-clock seconds, worker counts, the run's folder and name, installed
paths and timestamps (:func:`normalise`).

The report is written again here, as ``iqalign demo`` writes it (``write_run_report`` with
``n_boot=200``), into a folder of this test's own: other tests rewrite the shared demo
run's report with fewer resamples. The runner now saves estimation's tables beside the
analysis tables; they must equal what ``iqalign estimate`` wrote before, too.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "demo_before_issue20"
ANALYSIS_TABLES = ("pooled", "correlations", "groups", "stratified", "verdicts", "failures")
ESTIMATION_TABLES = ("estimation_summary", "estimation_groups")

# The manifest (embedded in the report) names the code that made the pictures; the move
# renamed that module, and the seed function is now named by its public path. Applied to
# the stored copy only: every other character must be as it was.
RENAMED = {
    "iqalign.scoring.imagenet_c_corruptions": "iqalign.scoring.corruptions.imagenet_c",
    "iqalign.scoring.corrupt.corruption_seed": "iqalign.scoring.corruption_seed",
}

# A JSON key whose value depends on the machine, the clock or the folder, not the data.
_VOLATILE = re.compile(
    r'("(?:[a-z_]*seconds[a-z_]*|workers|[a-z_]+_s|[a-z_]+_per_s|updated|created|started|'
    r'finished|out|path|platform|data|clean|root|dir|folder)": )'
    r'("[^"]*"|[-0-9.e+]+|\{[^{}]*\})'
)


def normalise(text: str, run_dir: Path | None = None) -> str:
    """``text`` with the run's folder, paths and timings masked."""
    if run_dir is not None:
        text = text.replace(str(run_dir), "<RUN>")
    text = _VOLATILE.sub(r"\1<masked>", text)
    text = re.sub(r"\[\d+(?:\.\d+)? s\]", "[<s> s]", text)
    text = re.sub(r"^# iqalign report: .*$", "# iqalign report: <name>", text, flags=re.M)
    return re.sub(r"/[\w./-]*site-packages/", "<site-packages>/", text)


def _outputs(run_dir: Path, report_dir: Path, estimation_dir: Path) -> dict[str, str]:
    analysis = report_dir / "analysis"
    found = {f"analysis/{n}.csv": analysis / f"{n}.csv" for n in ANALYSIS_TABLES}
    found |= {f"estimation/{n}.csv": estimation_dir / f"{n}.csv" for n in ESTIMATION_TABLES}
    found["report.md"] = report_dir / "report.md"
    return {name: normalise(path.read_text(), run_dir) for name, path in found.items()}


def write_golden(run_dir: Path, estimation_dir: Path) -> None:
    for name, text in _outputs(run_dir, run_dir / "report", estimation_dir).items():
        target = GOLDEN / f"{name}.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(text.encode(), mtime=0))


@pytest.mark.slow
@pytest.mark.scoring
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [scoring] extra")
def test_demo_tables_and_report_unchanged_by_the_restructuring(demo_run, tmp_path):
    from typer.testing import CliRunner

    from iqalign.cli import app
    from iqalign.report.run_report import write_run_report

    run_dir, _ = demo_run
    report = write_run_report(run_dir, out_dir=tmp_path / "report", n_boot=200)
    estimation_dir = tmp_path / "estimation"
    result = CliRunner().invoke(app, ["estimate", str(run_dir), "--out", str(estimation_dir)])
    assert result.exit_code == 0, result.output
    now = _outputs(run_dir, report.analysis_dir.parent, estimation_dir)
    # the runner's estimation job saves the same tables beside the analysis tables
    now |= {
        f"estimation/{n}.csv (from the report)": normalise(
            (report.analysis_dir / f"{n}.csv").read_text(), run_dir
        )
        for n in ESTIMATION_TABLES
    }
    differ = []
    for name, text in now.items():
        stored = GOLDEN / f"{name.split(' ')[0]}.gz"
        before = gzip.decompress(stored.read_bytes()).decode()
        for old, new in RENAMED.items():
            before = before.replace(old, new)
        if text != before:
            lines = [
                f"  {a!r} != {b!r}"
                for a, b in zip(text.splitlines(), before.splitlines(), strict=False)
                if a != b
            ][:3]
            differ.append(f"{name}:\n" + "\n".join(lines))
    assert not differ, "changed since the restructuring:\n" + "\n".join(differ)


if __name__ == "__main__":  # python tests/cli/test_demo_unchanged.py DEMO_DIR [ESTIMATION_DIR]
    run = Path(sys.argv[1]).resolve()
    write_golden(run, Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else run / "estimation")
