"""Static checks run with the tests (issue 20): ruff's lint and format checks, and mypy over
src/ with the configuration in pyproject.toml. Nothing else runs them, so without this
test they would drift.

mypy keeps its cache in .mypy_cache (ignored by git): the first run on a clean clone
takes ~40 s (torch's and numpy's stubs), later ones a few seconds.

``python tests/test_static_checks.py --todo`` prints the errors in the modules that
pyproject.toml still excludes (its ``TODO(issue 20)`` override), without changing it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["src", "tests", "benchmarks", "notebooks"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # From the repository root, so that pyproject.toml's settings apply.
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.stdout}\n{result.stderr}".strip()


def test_ruff_lint_passes():
    result = _run("ruff", "check", "--no-cache", *LINTED)
    assert result.returncode == 0, _report(result)


def test_ruff_format_is_applied():
    result = _run("ruff", "format", "--check", "--no-cache", *LINTED)
    assert result.returncode == 0, "run `ruff format " + " ".join(LINTED) + "`:\n" + _report(result)


def test_mypy_passes_on_src():
    result = _run("mypy")  # files, strictness and overrides: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, _report(result)


def _without_todo_override(pyproject: str) -> str:
    """pyproject.toml's text with the ``TODO(issue 20)`` override block removed."""
    blocks = re.split(r"(?m)^(?=\[)", pyproject)
    return "".join(b for b in blocks if "TODO(issue 20)" not in b)


def print_todo_errors() -> int:
    """mypy's errors in the excluded modules (the lead's list to fix after the merge)."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "pyproject.toml"
        config.write_text(_without_todo_override((ROOT / "pyproject.toml").read_text()))
        result = _run("mypy", "--config-file", str(config), "src")
    print(_report(result))
    return result.returncode


if __name__ == "__main__":
    if sys.argv[1:] != ["--todo"]:
        sys.exit("usage: python tests/test_static_checks.py --todo")
    sys.exit(print_todo_errors())
