"""The docs site (mkdocs.yml) builds with no warning, from static analysis alone.

``mkdocs build --strict`` turns every warning into a failure: a broken link or anchor, a
page missing from the nav, and mkdocstrings/griffe's complaints about docstrings (a
documented parameter the signature lacks, a section it cannot parse). The build runs in
a subprocess where ``import torch`` fails, so a build that needs torch (or any import of
iqalign's scoring code) fails here instead of silently slowing CI down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parent.parent

# torch blocked: `sys.modules["torch"] = None` makes any `import torch` raise ImportError.
_BUILD = (
    "import sys; sys.modules['torch'] = None; "
    "from mkdocs.__main__ import cli; "
    "sys.argv = ['mkdocs'] + sys.argv[1:]; cli()"
)


def test_docs_site_builds_strict_without_warnings(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert warnings == [], "\n".join(warnings)
    assert (tmp_path / "index.html").is_file()
    # Every package page rendered its members (a silent empty page is a failure too).
    for package, name in [
        ("causal", "check_claim"),
        ("stats", "predictability"),
        ("scoring", "corrupt"),
        ("scores", "read_run"),
        ("scoring", "score"),
        ("errors", "did_you_mean"),
    ]:
        html = (tmp_path / "api" / package / "index.html").read_text(encoding="utf-8")
        assert f'id="iqalign.{package}.{name}"' in html, f"api/{package}: {name} missing"
    top = (tmp_path / "api" / "iqalign" / "index.html").read_text(encoding="utf-8")
    for name in ("read_run", "run_analysis", "estimate_accuracy", "load_dag"):
        assert f'id="iqalign.{name}"' in top, f"api/iqalign: {name} missing"
    assert seconds < 60, f"the docs build took {seconds:.0f} s"
