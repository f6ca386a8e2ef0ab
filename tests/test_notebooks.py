"""The notebooks run top to bottom (executed with nbclient on the venv's kernel)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, cwd: Path, env: dict[str, str] | None = None):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env or {})  # the kernel inherits the parameters
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def _outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(
                output.get("text", "") or str(output.get("data", {}).get("text/plain", ""))
            )
    return "\n".join(texts)


def test_notebooks_are_generated_from_the_script():
    import subprocess
    import sys

    before = {p.name: p.read_text() for p in NOTEBOOKS.glob("*.ipynb")}
    subprocess.run(
        [sys.executable, str(NOTEBOOKS / "make_notebooks.py")], check=True, capture_output=True
    )
    after = {p.name: p.read_text() for p in NOTEBOOKS.glob("*.ipynb")}
    assert before == after, "notebooks/*.ipynb differ from make_notebooks.py: run the script"


def test_causal_tour_runs(tmp_path):
    notebook = _execute("causal_tour.ipynb", tmp_path)
    text = _outputs(notebook)
    assert "Q <- Z -> Yhat -> M" in text
    assert "NOT implied" in text and "implied" in text


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [scoring] extra")
def test_paper_tables_runs_on_the_demo(demo_run, tmp_path):
    run_dir, _ = demo_run
    notebook = _execute(
        "paper_tables.ipynb", tmp_path, {"IQALIGN_RUN_DIR": str(run_dir), "IQALIGN_N_BOOT": "100"}
    )
    text = _outputs(notebook)
    assert "836 rows, 11 image IDs" in text
    assert "strong_tg" in text and "|SRCC|" in text
    images = sum(
        "image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", [])
    )
    assert images >= 4  # Fig. 20 per model and one Fig. 3/5/7 grid


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [scoring] extra")
def test_five_jobs_run_on_the_demo(demo_run, tmp_path):
    run_dir, _ = demo_run
    notebook = _execute(
        "five_jobs.ipynb", tmp_path, {"IQALIGN_RUN_DIR": str(run_dir), "IQALIGN_N_BOOT": "50"}
    )
    text = _outputs(notebook)
    assert "implied" in text  # 1. the claim's check
    assert "836 rows;" in text and "role='confidence'" in text  # 3. the run and a record
    assert "AUC 0." in text and "strong_task_guided" in text and "MAE" in text  # 4, 5
