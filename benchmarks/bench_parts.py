"""Pieces of bench_scoring.py: stand-in weights, synthetic JPEGs, engine run, baseline."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests.standins import (
    write_arniqa_standins,
    write_clip_rn50_standin,
    write_open_clip_checkpoint,
    write_pyiqa_brisque_standin,
    write_torchvision_standin,
)

from iqalign.scoring import ScoreConfig, score
from iqalign.scoring.metrics.registry import split_metric_key


def machine(device: str) -> str:
    """The device in words, for the record."""
    import torch

    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def prepare_weights(models: list[str], metrics: list[str], work: Path) -> dict[str, str]:
    """Write every stand-in the run needs; return explicit paths for the config."""
    from iqalign.scoring.models.registry import model_family

    weights: dict[str, str] = {}
    for name in models:
        if model_family(name) == "torchvision":
            weights[name] = str(write_torchvision_standin(name))
    for key in metrics:
        name, source = split_metric_key(key)
        if name.startswith("zsclip"):
            arch = (source or "clip:ViT-B-32").split(":", 1)[1]
            weights[f"clip:{arch}"] = str(write_open_clip_checkpoint(arch, work / "standins"))
        elif name.startswith("clipiqa"):
            write_clip_rn50_standin()
        elif name.startswith("arniqa"):
            write_arniqa_standins()
        elif name.startswith("brisque"):
            write_pyiqa_brisque_standin()  # the baseline runs pyiqa's own BRISQUE
    return weights


def write_jpegs(root: Path, count: int, workers: int = 1) -> Path:
    """``count`` distinct 224-px JPEGs (quality 85) in ImageNet-C layout, from real photos.

    ``workers`` > 1 writes them in that many processes (the same files: each one's shift,
    flip and noise come from its own index).
    """
    folder = root / "fog" / "3" / "n01440764"
    if folder.is_dir() and len(list(folder.iterdir())) >= count:
        return root
    folder.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        _write_jpeg_range(folder, 0, count)
        return root
    from concurrent.futures import ProcessPoolExecutor

    step = -(-count // (4 * workers))  # a few chunks per process: even finish
    with ProcessPoolExecutor(workers) as pool:
        jobs = [pool.submit(_write_jpeg_range, folder, lo, min(lo + step, count))
                for lo in range(0, count, step)]  # fmt: skip
        for job in jobs:
            job.result()
    return root


def _write_jpeg_range(folder: Path, first: int, stop: int) -> None:
    from PIL import Image

    from iqalign.scoring.data.images import decode_image, resize_center_crop
    from iqalign.scoring.data.sources import load_source

    photos = [resize_center_crop(decode_image(i.path)) for i in load_source("demo")]
    for index in range(first, stop):
        rng = np.random.default_rng((0, index))
        picture = np.roll(photos[index % len(photos)], rng.integers(224, size=2), axis=(0, 1))
        picture = picture[:, ::-1] if index % 2 else picture
        noise = rng.integers(-6, 7, size=picture.shape)
        picture = np.clip(picture.astype(int) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(picture).save(folder / f"bench_{index:07d}.JPEG", quality=85)


def engine_run(
    data: Path, out: Path, models: list[str], metrics: list[str], weights: dict[str, str],
    device: str, batch_size: int, workers: int,
) -> dict[str, Any]:  # fmt: skip
    """One engine run; images/s end to end and the forward-bound rate of the same run."""
    config = ScoreConfig(
        data=str(data), layout="imagenet-c", models=tuple(models), metrics=tuple(metrics),
        out=str(out), device=device, batch_size=batch_size, workers=workers, weights=weights,
    )  # fmt: skip
    result = score(config)
    timings = result.timings
    forward = sum(timings["per_scorer_s"].values())
    rate = result.rows / timings["scoring_s"]
    return {
        "images_per_s": round(rate, 2),
        "forward_bound_images_per_s": round(result.rows / forward, 2),
        "efficiency": round(forward / timings["scoring_s"], 3),
        "engine_setup_s": round(timings["total_s"] - timings["scoring_s"], 2),
        "per_scorer_s": timings["per_scorer_s"],
        "loader_wait_s": timings.get("wait_s"),
    }


def _files(data: Path, count: int) -> list[Path]:
    return sorted((data / "fog" / "3" / "n01440764").iterdir())[:count]


class _Images:
    def __init__(self, files: list[Path], transform: Any) -> None:
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Any:
        from PIL import Image

        with Image.open(self.files[index]) as image:
            return self.transform(image.convert("RGB"))


def _timed_pass(files: list[Path], transform: Any, step: Any, device: str, batch: int,
                workers: int) -> float:  # fmt: skip
    """Time one ordinary pass: DataLoader(transform) -> step(batch on device)."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Images(files, transform), batch_size=batch, num_workers=workers,
                        pin_memory=device == "cuda")  # fmt: skip
    began = time.perf_counter()
    with torch.inference_mode():
        for images in loader:
            step(images.to(device, non_blocking=True))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def baseline_passes(
    data: Path, count: int, models: list[str], metrics: list[str], weights: dict[str, str],
    device: str, batch_size: int, workers: int,
) -> dict[str, float]:  # fmt: skip
    """Seconds per ordinary pass: each model, then each metric, on ``count`` images."""
    from torchvision import transforms

    from iqalign.scoring.models.registry import create_model

    files = _files(data, count)
    batch = batch_size or (256 if device == "cuda" else 16)
    workers = workers if workers >= 0 else min(16, os.cpu_count() or 1)
    passes: dict[str, float] = {}
    for name in models:
        net, transform = _ordinary_model(name, create_model, weights)
        net = net.to(device).eval()
        passes[name] = _timed_pass(files, transform, net, device, batch, workers)
    to_tensor = transforms.ToTensor()
    for key in metrics:
        name, source = split_metric_key(key)
        if name.startswith("tg_"):
            continue  # read off a model's logits: no pass of their own, the ordinary way too
        step, transform = _ordinary_metric(name, source, weights, device, to_tensor)
        passes[key] = _timed_pass(files, transform, step, device, batch, workers)
    return passes


def _ordinary_model(name: str, create_model: Any, weights: dict[str, str]) -> tuple[Any, Any]:
    from torchvision import models, transforms

    if name.startswith("efficientnet_lite"):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        # The library's own model (the engine folds BN; the ordinary way does not).
        ours = create_model(name)
        net = EfficientNet.from_name(name.replace("_", "-"))
        net.load_state_dict(torch.load(ours.weight_files[0], weights_only=True))
        size = ours.input_size
        return net, transforms.Compose([
            transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3),
        ])  # fmt: skip
    meta = models.get_model_weights(name).DEFAULT
    return create_model(name, weights.get(name)).net, meta.transforms()


def _ordinary_metric(name: str, source: str | None, weights: dict[str, str], device: str,
                     to_tensor: Any) -> tuple[Any, Any]:  # fmt: skip
    import pyiqa

    if name == "tv":
        from iqalign.scoring.metrics.iqa import total_variation

        return total_variation, to_tensor
    if name.startswith("zsclip"):
        return _ordinary_zsclip(source or "clip:ViT-B-32", weights, device)
    pyiqa_name = "brisque" if name.startswith("brisque") else name  # pyiqa's own BRISQUE
    metric = pyiqa.create_metric(pyiqa_name, device=device, **_pyiqa_options(pyiqa_name))
    return metric, to_tensor


def _pyiqa_options(name: str) -> dict[str, str]:
    from iqalign.scoring.models.weights import torch_hub_dir

    clip = torch_hub_dir() / "clip" / "RN50.pt"
    return {"backbone": str(clip)} if name == "clipiqa" else {}


def _ordinary_zsclip(source: str, weights: dict[str, str], device: str) -> tuple[Any, Any]:
    import open_clip
    import torch

    arch = source.split(":", 1)[1]
    model, _, preprocess = open_clip.create_model_and_transforms(
        arch, pretrained=weights.get(source), device=device
    )
    tokenizer = open_clip.get_tokenizer(arch)
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    with torch.inference_mode():
        text = model.encode_text(tokenizer([f"a photo of a {c}." for c in IMAGENET_CLASSNAMES])
                                 .to(device), normalize=True)  # fmt: skip

    def step(images: Any) -> Any:
        return (100.0 * model.encode_image(images, normalize=True) @ text.T).softmax(-1)

    return step, preprocess


class PeakMemory:
    """Peak proportional set size (MB) of this process and its descendants (a Ray local
    cluster's workers and object store included), sampled every ``every`` seconds.

    PSS splits shared pages (the object store, shared libraries) between the processes
    that map them, so the sum does not count them twice.
    """

    def __init__(self, every: float = 0.5) -> None:
        import threading

        self.every, self.peak_mb = every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except psutil.Error:
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self.every)


def ray_run(
    data: Path, out: Path, models: list[str], metrics: list[str], weights: dict[str, str],
    device: str, batch_size: int, workers: int,
) -> dict[str, Any]:  # fmt: skip
    """The same run on the Ray backend, on a local cluster: ``workers`` CPUs render, one
    actor scores (with one more CPU, or one GPU)."""
    import ray

    from iqalign.scoring.run.ray_backend import score_on_ray

    workers = max(1, workers)
    ray.init(num_cpus=workers + 1, object_store_memory=512 * 2**20, include_dashboard=False,
             log_to_driver=False)  # fmt: skip
    config = ScoreConfig(
        data=str(data), layout="imagenet-c", models=tuple(models), metrics=tuple(metrics),
        out=str(out), device=device, batch_size=batch_size, workers=workers, weights=weights,
    )  # fmt: skip
    try:
        with PeakMemory() as memory:
            result = score_on_ray(config)
    finally:
        ray.shutdown()
    timings = result.timings
    first = timings["ray_first_result_s"]
    return {
        "ray_workers": workers,
        "ray_images_per_s": round(result.rows / timings["scoring_s"], 2),
        "ray_first_result_s": round(first, 2),
        # After the first batch: worker start-up and weight loading left out.
        "ray_steady_images_per_s": round(
            (result.rows - timings["ray_first_result_rows"])
            / max(timings["scoring_s"] - first, 1e-9),
            2,
        ),
        "ray_total_s": timings["total_s"],
        "ray_peak_pss_mb": round(memory.peak_mb, 1),
    }
