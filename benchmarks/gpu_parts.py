"""The phases of gpu_check.py that run in their own process: environment, data, throughput.

Each ``*_phase`` function writes its result as JSON to a file (the throughput phase after
each of its two measurements, so a phase killed at its time limit keeps what it measured).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

IMAGENET_C_IMAGES = 3_800_000


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` as JSON, atomically (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(result, indent=1, default=str))
    partial.replace(path)


def environment_phase(result_path: Path) -> None:
    """Python, torch, CUDA and the GPU, CPU cores, shared memory, package versions."""
    import torch

    from iqalign.scoring.provenance import package_versions

    cuda = torch.cuda.is_available()
    result: dict[str, Any] = {
        "python": sys.version.split()[0], "executable": sys.executable,
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_available": cuda, "gpus": torch.cuda.device_count() if cuda else 0,
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "shm_free_gb": round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
        if os.path.isdir("/dev/shm") else None,
        "imagemagick": _has_imagemagick(), "packages": package_versions(),
    }  # fmt: skip
    if cuda:
        props = torch.cuda.get_device_properties(0)
        result.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                      capability=f"{props.major}.{props.minor}",
                      multiprocessors=props.multi_processor_count, driver=_driver())  # fmt: skip
    write_result(result_path, result)


def _has_imagemagick() -> bool:
    try:
        from iqalign.scoring.corruptions.imagenet_c import _wand

        _wand()
    except Exception:
        return False
    return True


def _driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


def data_phase(result_path: Path, root: Path, images: int, workers: int) -> None:
    """``images`` distinct 224-px JPEGs in ImageNet-C's layout under ``root``."""
    from bench_parts import write_jpegs

    began = time.perf_counter()
    write_jpegs(root, images, workers=workers)
    files = sum(1 for _ in (root / "fog" / "3" / "n01440764").iterdir())
    size = sum(p.stat().st_size for p in (root / "fog" / "3" / "n01440764").iterdir())
    write_result(result_path, {"files": files, "mb": round(size / 2**20, 1), "workers": workers,
                               "seconds": round(time.perf_counter() - began, 2)})  # fmt: skip


class _Clock:
    """The engine's progress, timed: a rate even when the run is cut short, and the rate
    after the first batch (worker start-up and cuDNN's autotuning left out).

    On CUDA a batch is delivered when it completes. On the CPU launching is synchronous,
    the last two deliveries come together, and the rate after the first batch overstates
    by about one batch: a number for the GPU.
    """

    def __init__(self, every: float, report: Any) -> None:
        self.every, self.report = every, report
        self.rows, self.began, self.last = 0, 0.0, 0.0
        self.first: tuple[float, int] | None = None  # (time, rows) at the first batch
        self.latest = 0.0

    def start(self, total_rows: int, done_rows: int) -> None:
        self.total = total_rows
        self.began = self.last = time.perf_counter()

    def advance(self, rows: int) -> None:
        self.rows += rows
        now = self.latest = time.perf_counter()
        if self.first is None:
            self.first = (now, self.rows)
        if now - self.last >= self.every:
            self.last = now
            self.report(self.snapshot())

    def close(self) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.began
        return {"rows": self.rows, "of": self.total, "seconds": round(seconds, 2),
                "images_per_s": round(self.rows / max(seconds, 1e-9), 2),
                "after_first_batch_images_per_s": self.steady_rate()}  # fmt: skip

    def steady_rate(self) -> float | None:
        """Rows after the first batch / the time after it (None before a second batch)."""
        if self.first is None or self.latest <= self.first[0]:
            return None
        return round((self.rows - self.first[1]) / (self.latest - self.first[0]), 2)


def engine_phase(config: Any, report: Any) -> dict[str, Any]:
    """The engine over the whole folder: images/s end to end (model loading excluded)."""
    from iqalign.scoring import score

    def partial(progress: dict[str, Any]) -> None:
        print(f"  engine: {progress['rows']}/{progress['of']} rows, "
              f"{progress['images_per_s']:.1f} images/s", flush=True)  # fmt: skip
        report({"status": "running", **progress})

    clock = _Clock(10.0, partial)
    result = score(config, progress=clock)
    timings = result.timings
    events = sum(timings["per_scorer_s"].values())
    pictures = max(result.rows, 1)
    return {
        "status": result.status, "rows": result.rows,
        "images_per_s": round(result.rows / timings["scoring_s"], 2),
        "after_first_batch_images_per_s": clock.steady_rate(),
        "scoring_s": timings["scoring_s"], "setup_s": timings.get("setup_s"),
        "total_s": timings["total_s"], "loader_wait_s": timings.get("wait_s"),
        "workers": timings.get("workers"),
        "event_bound_images_per_s": round(result.rows / events, 2) if events else None,
        "per_scorer_s": timings["per_scorer_s"],
        "main_cpu_ms_per_image": round(1000 * timings.get("main_cpu_s", 0) / pictures, 3),
        "workers_cpu_ms_per_image": round(1000 * timings.get("workers_cpu_s", 0) / pictures, 3),
        "notes": json.loads((result.out / "manifest.json").read_text()).get("notes", []),
    }  # fmt: skip


def preloaded_batch(data: Path, size: int, device: Any) -> dict[str, Any]:
    """``size`` of the files, decoded and cropped as the engine does, already on the device,
    in the loader's layout (NCHW uint8 in channels-last memory)."""
    import numpy as np
    import torch

    from iqalign.scoring.data.images import decode_image
    from iqalign.scoring.run.pipeline import center_crop

    files = sorted((data / "fog" / "3" / "n01440764").iterdir())[:size]
    files = [files[k % len(files)] for k in range(size)]
    pictures = np.stack([center_crop(decode_image(path))[0] for path in files])
    images = torch.from_numpy(pictures).permute(0, 3, 1, 2).to(device)
    return {"images": images, "refs": None, "ref_index": None}


def forward_bound(config: Any, data: Path, batches: int, warmup: int = 3) -> dict[str, Any]:
    """The same scorers, batch size and precision on a batch already on the device.

    :class:`iqalign.scoring.run.engine.BatchScorer.launch` -- every classifier once, every
    device metric, the copy of the results back -- ``batches`` times, with cuDNN's autotuner
    on and the run's device current, as in the engine; no decoding, no loader, no shards.
    Metrics computed in the loader workers (BRISQUE) are not part of it.
    """
    import torch

    from iqalign.scoring.run.engine import BatchScorer, default_batch_size, resolve_device
    from iqalign.scoring.run.prepare import build_scorers

    device = resolve_device(config.device)
    scorers = build_scorers(config, has_labels=True, has_clean=False)
    for scorer in [*scorers.classifiers.values(), *scorers.metrics]:
        scorer.to(device)
    size = default_batch_size(config, device)
    batch_scorer = BatchScorer(config, scorers, device, size)
    batch = preloaded_batch(data, size, device)
    cuda = device.type == "cuda"
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        with torch.cuda.device(device) if cuda else _nothing():
            seconds = _timed_launches(batch_scorer, batch, batches, warmup, cuda)
    finally:
        torch.backends.cudnn.benchmark = before
    per_scorer = {k: round(1000 * v / (batches * size), 4)
                  for k, v in batch_scorer.timer.totals.items()}  # fmt: skip
    return {"images_per_s": round(batches * size / seconds, 2), "batches": batches,
            "batch_size": size, "seconds": round(seconds, 3),
            "precision": str(batch_scorer.amp or "fp32"),
            "per_scorer_ms_per_image": per_scorer}  # fmt: skip


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


def _timed_launches(scorer: Any, batch: dict, batches: int, warmup: int, cuda: bool) -> float:
    import torch

    def run(count: int) -> None:
        launched = None
        for _ in range(count):
            launched = scorer.launch(batch)
        if cuda:
            torch.cuda.synchronize()
        del launched

    run(warmup)  # cuDNN's autotuner, lazy initialisation, the allocator's first blocks
    scorer.timer.collect(wait=True)
    scorer.timer.totals.clear()
    began = time.perf_counter()
    run(batches)
    seconds = time.perf_counter() - began
    scorer.timer.collect(wait=True)
    return seconds


def throughput_phase(result_path: Path, settings: dict[str, Any]) -> None:
    """Stand-ins, then the forward-only bound, then the engine end to end; their ratio."""
    from bench_parts import machine, prepare_weights

    from iqalign.scoring import ScoreConfig

    work, data = Path(settings["work"]), Path(settings["data"])
    models, metrics = settings["models"], settings["metrics"]
    began = time.perf_counter()
    weights = prepare_weights(models, metrics, work)
    config = ScoreConfig(
        data=str(data), layout="imagenet-c", models=tuple(models), metrics=tuple(metrics),
        out=str(work / f"run-{os.getpid()}"), device=settings["device"],
        batch_size=settings["batch_size"], workers=settings["workers"], weights=weights,
    )  # fmt: skip
    result: dict[str, Any] = {"models": models, "metrics": metrics,
                              "weights_s": round(time.perf_counter() - began, 1)}  # fmt: skip
    result["device"] = machine("cuda" if config.device.startswith("cuda") else "cpu")
    write_result(result_path, result)
    result["bound"] = forward_bound(config, data, settings["bound_batches"],
                                    settings["warmup_batches"])  # fmt: skip
    print(f"  forward-only bound: {result['bound']['images_per_s']:.1f} images/s", flush=True)
    _free_device_memory()
    write_result(result_path, result)

    def report(progress: dict[str, Any]) -> None:
        write_result(result_path, {**result, "engine": progress})

    result["engine"] = engine_phase(config, report)
    rate, bound = result["engine"]["images_per_s"], result["bound"]["images_per_s"]
    result["ratio"] = round(rate / bound, 3)
    result["projected_imagenet_c_hours"] = round(IMAGENET_C_IMAGES / rate / 3600, 3)
    write_result(result_path, result)


def _free_device_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
