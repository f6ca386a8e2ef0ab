"""Importing iqalign.stats stays light: no torch, no scoring, no scikit-learn or statsmodels."""

import subprocess
import sys


def test_import_stats_does_not_import_torch_or_scoring():
    code = (
        "import sys, iqalign.stats; "
        "heavy = ('torch', 'iqalign.scoring', 'sklearn', 'statsmodels', 'pgmpy'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_stats_modules_never_name_torch_or_scoring():
    from pathlib import Path

    import iqalign.stats

    for path in Path(iqalign.stats.__file__).parent.glob("*.py"):
        text = path.read_text()
        for forbidden in (
            "import torch",
            "from torch",
            "import iqalign.scoring",
            "from iqalign.scoring",
        ):
            assert forbidden not in text, path
