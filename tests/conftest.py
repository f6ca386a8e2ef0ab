"""Test-wide setup. Runs before any test module imports a library.

Hub downloads must fail fast (HF_HUB_OFFLINE) and weights must never be looked for in
(or written to) the user's real cache: a missed download otherwise retries for minutes on
a machine without internet, and stand-in weights must never land where real ones live.
So TORCH_HOME is *always* a fresh private folder, whatever the user has set.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

from tests.standins import make_private_torch_home

make_private_torch_home()


import pytest  # noqa: E402  (after the environment above)


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
