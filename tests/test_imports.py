"""The pure core imports without torch (and without pgmpy, which would pull torch in)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["iqalign.causal", "iqalign.stats", "iqalign.report", "iqalign.cli"]
)
def test_core_does_not_import_torch(module):
    code = (
        f"import sys, {module}; "
        "heavy = sorted(m for m in ('torch', 'pgmpy', 'pyiqa', 'open_clip') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"
