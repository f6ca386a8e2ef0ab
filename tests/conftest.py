"""Test-wide setup. Runs before any test module imports a library.

Hub downloads must fail fast (HF_HUB_OFFLINE) and weights must never be looked for in
(or written to) the user's real cache (a temporary TORCH_HOME): a missed download
otherwise retries for minutes on a machine without internet.
"""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TORCH_HOME", tempfile.mkdtemp(prefix="iqalign-test-torch-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")


import pytest


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``iqalign demo`` run once per test session (about two minutes): (folder, output).

    Shared by the end-to-end demo tests and the notebook that reproduces the paper's
    tables, so CI scores the bundled photos once.
    """
    from typer.testing import CliRunner

    from iqalign.cli import app

    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet", "--n-boot", "200"])
    assert result.exit_code == 0, result.output
    return out, result.output
