"""Benchmark of ``iqalign report`` on a paper-shaped run: the runner, then the rendering.

Builds a run folder shaped like the paper's ImageNet-C analysis: ``--ids`` image IDs x 76
rows (50,000 x 76 = 3.8M rows by default), 3 task models and 16 quality columns per
row -- 3 task-guided metrics from each model (strong_tg, 9 columns), 3 ZSCLIP metrics
(zsclip), 3 classic no-reference metrics (classic_nr) and total variation (tv) -- so
3 x 16 = 48 (model, metric) pairs, written as Parquet shards with a manifest as
``iqalign score`` writes them. Then it times, separately:

- ``read_s``: :func:`iqalign.scores.read_run` (Parquet -> DataFrame);
- ``runner_s``: :func:`iqalign.stats.runner.analysis.run_analysis` with the report's settings
  and every built-in DAG (``seconds_by_analysis`` splits it by kind of job);
- ``render_s``: :func:`iqalign.report.run_report.build_run_document` and
  :func:`iqalign.report.document.write_document` (figures, tables, HTML, Markdown);
- ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``), building the
  table included (it is built in a child process, so this process holds what
  ``iqalign report`` holds); ``peak_pss_total_mb``: the peak of the proportional set
  size summed over this process and the runner's workers (pages the forked workers
  share with it counted once; their RSS cannot be summed), sampled every 0.5 s -- the
  memory the report needs.

Each quality column's completion is printed to stderr with the seconds since the runner
began. ``--workers`` sets the runner's processes (default: one per core).

The last line printed is one JSON object. Run: ``python benchmarks/bench_report.py``
(``--ids 5000`` for a tenth of the scale). The table's Q and M columns are drawn from the
``common_corruptions`` DAG's simulation and mixed with noise; their values only need the
shape and strength of real scores, not their meaning.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MODELS = ("efficientnet_lite0", "resnet34", "timm_convnext_tiny")
TG = ("tg_maxprob", "tg_entropy", "tg_maxlogit")
ZSCLIP = ("zsclip_maxprob", "zsclip_entropy", "zsclip_maxlogit")
CLASSIC = ("piqe", "brisque_live", "niqe")


def build_run(out: Path, n_ids: int, seed: int, shards: int = 8) -> dict[str, int]:
    """Write a paper-shaped run folder (see the module docs); return its size."""
    import pandas as pd

    from iqalign.scores import performance_column, prediction_column, quality_column
    from iqalign.stats import simulate_scores

    base = simulate_scores("common_corruptions", n_ids, seed=seed)
    rng = np.random.default_rng(seed)
    signal = base["q_sim"].to_numpy()
    frame = pd.DataFrame(
        {
            "image_id": base["image_id"].astype(str),
            "label": base["label"],
            "corruption": base["corruption"].astype(str),
            "severity": base["severity"],
        }
    )
    columns: dict[str, dict] = {}
    for index, model in enumerate(MODELS):
        flip = rng.random(len(base)) < 0.1 * index
        correct = np.where(flip, 1 - base["correct_sim"], base["correct_sim"]).astype(np.int64)
        frame[performance_column(model)] = correct
        frame[prediction_column(model)] = np.where(correct == 1, base["label"], -1)
        for metric in TG:
            sign = -1.0 if metric == "tg_entropy" else 1.0
            column = quality_column(metric, model)
            frame[column] = sign * (signal + correct + rng.normal(scale=1.0, size=len(base)))
            columns[column] = _entry(metric, "strong_tg", sign > 0, model)
    for metric, family in [*((z, "zsclip") for z in ZSCLIP), *((c, "classic_nr") for c in CLASSIC)]:
        column = quality_column(metric)
        frame[column] = signal * rng.uniform(0.2, 0.6) + rng.normal(size=len(base))
        columns[column] = _entry(metric, family, metric != "zsclip_entropy", None)
    frame[quality_column("tv")] = -signal + rng.normal(scale=2.0, size=len(base))
    columns[quality_column("tv")] = _entry("tv", "tv", False, None)
    _write(out, frame, columns, shards)
    return {"rows": len(frame), "pairs": len(MODELS) * len(columns)}


def _entry(metric: str, family: str, higher: bool, source: str | None) -> dict:
    return {"metric": metric, "family": family, "higher_is_better": higher, "source_model": source}


def _write(out: Path, frame, columns: dict, shards: int) -> None:
    (out / "shards").mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(frame), shards + 1).astype(int)
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        frame.iloc[start:stop].to_parquet(out / "shards" / f"part-{index:05d}.parquet", index=False)
    manifest = {"status": "complete", "columns": columns, "seed": 0, "benchmark": True}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _build_elsewhere(out: Path, n_ids: int, seed: int) -> dict[str, int]:
    """Build the run folder in a child process, so that this process holds only what
    ``iqalign report`` holds (the table read from Parquet), not the builder's leftovers."""
    import subprocess

    command = [sys.executable, __file__, "--build-only", "--ids", str(n_ids), "--seed", str(seed)]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"building the table failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


class MemorySampler:
    """Peak PSS (Linux ``/proc/<pid>/smaps_rollup``) of this process and its children."""

    def __init__(self, every: float = 0.5):
        self.peak_kb = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.peak_kb = max(self.peak_kb, sum(map(_pss_kb, _tree(os.getpid()))))

    @property
    def peak_mb(self) -> float | None:
        return round(self.peak_kb / 1024, 1) if self.peak_kb else None


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += _tree(int(child))
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # the process ended, or no /proc (not Linux)
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=50_000, help="image IDs (x 76 rows)")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="run folder to build (default: a temporary one)")
    parser.add_argument("--workers", type=int, help="runner processes (default: one per core)")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:  # the table is built in its own process: see _build_elsewhere
        print(json.dumps(build_run(args.out, args.ids, args.seed)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "run"
        result = run(out, args.ids, args.boot, args.seed, args.workers)
    print(json.dumps(result))


def run(out: Path, n_ids: int, n_boot: int, seed: int, workers: int | None = None) -> dict:
    from iqalign.causal import list_builtin_dags
    from iqalign.report.document import write_document
    from iqalign.report.run_report import build_run_document
    from iqalign.scores import read_run
    from iqalign.stats.runner.analysis import AnalysisSettings, run_analysis

    load_before = os.getloadavg()
    size, build_s = _timed(_build_elsewhere, out, n_ids, seed)
    scored, read_s = _timed(read_run, out)
    table, manifest, metrics = scored.table, dict(scored.manifest), scored.metrics
    dags = list_builtin_dags()
    settings = AnalysisSettings(n_boot=n_boot, seed=seed)
    started = time.perf_counter()

    def progress(message: str) -> None:  # a run stopped early still shows how far it got
        print(f"{time.perf_counter() - started:8.1f} s {message}", file=sys.stderr, flush=True)

    sampler = MemorySampler()
    with sampler:
        analysis, runner_s = _timed(
            run_analysis,
            table,
            metrics,
            dags=dags,
            settings=settings,
            progress=progress,
            workers=workers,
        )
    start = time.perf_counter()
    document = build_run_document(table, manifest, analysis, dags, title="benchmark")
    write_document(document, out / "report")
    render_s = time.perf_counter() - start
    return {
        **size,
        "ids": n_ids,
        "n_boot": n_boot,
        "dags": len(dags),
        "jobs": analysis.settings["jobs"],
        "workers": analysis.settings["workers"],
        "failures": len(analysis.failures),
        "build_s": round(build_s, 1),
        "read_s": round(read_s, 1),
        "runner_s": round(runner_s, 1),
        "seconds_by_analysis": analysis.settings["seconds_by_analysis"],
        "render_s": round(render_s, 1),
        "report_s": round(read_s + runner_s + render_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_pss_total_mb": sampler.peak_mb,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
