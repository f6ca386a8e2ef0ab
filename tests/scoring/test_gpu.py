"""The engine on CUDA with mixed precision agrees with the CPU (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqalign.scoring import ScoreConfig, read_scores, score

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

METRICS = ("tv", "piqe", "brisque", "psnr", "tg_maxprob", "tg_entropy", "tg_maxlogit")


def _run(out, device, precision):
    config = ScoreConfig(
        data="demo", models=("efficientnet_lite0", "efficientnet_lite2"), metrics=METRICS,
        corruptions="gaussian_noise,defocus_blur,fog", severities="1,3,5", limit=4,
        out=str(out), device=device, precision=precision, workers=2,
    )  # fmt: skip
    score(config)
    return read_scores(out)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_matches_cpu(tmp_path, precision):
    cpu = _run(tmp_path / "cpu", "cpu", "fp32")
    gpu = _run(tmp_path / "gpu", "cuda", precision)
    assert gpu.attrs["manifest"]["device"].startswith("cuda")
    # Image metrics run in fp32 on both devices: close to float rounding.
    for column in ("q_tv", "q_piqe", "q_brisque", "q_psnr"):
        np.testing.assert_allclose(
            gpu[column], cpu[column], rtol=1e-3, atol=1e-3 * cpu[column].abs().max()
        )
    # Classifier outputs under autocast: fp16 keeps top-1 and max probability (measured on
    # the CPU: 100% top-1, |dMSP| < 0.01); bf16 moves them more (93%, up to 0.16).
    tol = {"fp32": 1e-3, "fp16": 0.02, "bf16": 0.25}[precision]
    for model in ("efficientnet_lite0", "efficientnet_lite2"):
        column = f"q_tg_maxprob_{model}"
        np.testing.assert_allclose(gpu[column], cpu[column], atol=tol)
        agreement = (gpu[f"pred_{model}"] == cpu[f"pred_{model}"]).mean()
        assert agreement >= {"fp32": 0.99, "fp16": 0.98, "bf16": 0.85}[precision]
