"""Throughput of the scoring engine against scoring each metric/model on its own.

Runs the engine on N synthetic 224-px JPEGs laid out like ImageNet-C (decode, no
on-the-fly corruption: what scoring the 3.8 M ImageNet-C files costs), then the "ordinary
way" baseline: one pass per model (torchvision transforms + DataLoader + fp32 forward) and
one per metric (pyiqa's ``create_metric`` on ToTensor batches; open_clip for ZSCLIP).
Weights are random stand-ins (throughput does not depend on weight values), written to a
private temporary torch cache -- never to the ``TORCH_HOME`` you have set, whose real
checkpoints stay untouched. The last line printed is one JSON object.

GPU (the paper's set, the default on CUDA)::

    python benchmarks/bench_scoring.py --device cuda --images 8192

CPU, scaled down::

    python benchmarks/bench_scoring.py --device cpu --images 96 --baseline-images 48
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

IMAGENET_C_IMAGES = 3_800_000
PAPER_MODELS = "resnet34,convnext_base,swin_b"
PAPER_METRICS = "tv,brisque,clipiqa,arniqa,zsclip_maxlogit:ViT-B-32,tg_maxlogit"
CPU_MODELS = "efficientnet_lite0"
CPU_METRICS = "tv,piqe,brisque,tg_maxlogit"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cuda | cpu")
    parser.add_argument("--models", help=f"default: {PAPER_MODELS} (CUDA), {CPU_MODELS} (CPU)")
    parser.add_argument("--metrics", help=f"default: {PAPER_METRICS} (CUDA), {CPU_METRICS} (CPU)")
    parser.add_argument("--images", type=int, help="engine images (default 8192 CUDA, 96 CPU)")
    parser.add_argument("--baseline-images", type=int, help="images per baseline pass")
    parser.add_argument("--batch-size", type=int, default=0, help="rows per batch (0: auto)")
    parser.add_argument("--workers", type=int, default=-1, help="decode workers (-1: auto)")
    parser.add_argument("--work-dir", help="keep data and runs here (default: a temp folder)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="ray: also score the same images on a local Ray cluster")  # fmt: skip
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="iqalign-bench-"))
    # Before torch/pyiqa import: stand-ins go to a private cache (always: a TORCH_HOME the
    # user set holds real weights); nothing is downloaded.
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent)]  # bench_parts; tests.standins
    from tests.standins import make_private_torch_home

    make_private_torch_home(work / "torch-home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from bench_parts import baseline_passes, engine_run, machine, prepare_weights, write_jpegs

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    models = (args.models or (PAPER_MODELS if cuda else CPU_MODELS)).split(",")
    metrics = (args.metrics or (PAPER_METRICS if cuda else CPU_METRICS)).split(",")
    images = args.images or (8192 if cuda else 96)
    baseline_images = min(images, args.baseline_images or (2048 if cuda else 48))

    weights = prepare_weights(models, metrics, work)
    data = write_jpegs(work / "data", images)
    began = time.perf_counter()
    run = engine_run(data, work / f"run-{int(began)}", models, metrics, weights, device,
                     args.batch_size, args.workers)  # fmt: skip
    result = {
        "device": machine(device),
        "images": images,
        "models": models,
        "metrics": metrics,
        **run,
        "projected_imagenet_c_hours": round(IMAGENET_C_IMAGES / run["images_per_s"] / 3600, 3),
    }
    if args.backend == "ray":
        from bench_parts import ray_run

        ray = ray_run(data, work / f"ray-{int(began)}", models, metrics, weights, device,
                      args.batch_size, args.workers)  # fmt: skip
        ray["ray_vs_local"] = round(ray["ray_images_per_s"] / run["images_per_s"], 3)
        result.update(ray)
    if not args.skip_baseline:
        passes = baseline_passes(data, baseline_images, models, metrics, weights, device,
                                 args.batch_size, args.workers)  # fmt: skip
        rate = baseline_images / sum(passes.values())
        result.update({
            "baseline_images": baseline_images,
            "baseline_pass_s": {k: round(v, 3) for k, v in passes.items()},
            "baseline_images_per_s": round(rate, 2),
            "speedup_vs_baseline": round(run["images_per_s"] / rate, 2),
        })  # fmt: skip
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
