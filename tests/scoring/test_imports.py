"""``import iqalign.scoring`` stays light, and scoring never imports the statistics layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {SRC!r}); {code}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_importing_scoring_does_not_import_torch():
    assert _run("import iqalign.scoring, iqalign.cli; print('torch' in sys.modules)") == "False"


def test_scoring_modules_never_import_stats():
    modules = sorted(p.stem for p in (Path(SRC) / "iqalign" / "scoring").glob("*.py"))
    code = (
        "import importlib; "
        f"[importlib.import_module('iqalign.scoring.' + m) for m in {modules!r}]; "
        "import iqalign.scoring.run.engine; "
        "print(any(m.startswith('iqalign.stats') for m in sys.modules))"
    )
    assert _run(code) == "False"
