"""Every torchvision classifier through the real cache-loading path, on a 2-image batch.

Random weights are written at each model's published file name in $TORCH_HOME, loaded by
:func:`create_model` exactly as a real checkpoint would be, and run on two photographs.
"""

from __future__ import annotations

import pytest
import torch

from iqalign.scoring.models import create_model
from tests.scoring.helpers import write_torchvision_standin

# Over 200 M parameters: a 0.8-2.5 GB stand-in each is too much for a CPU CI job. Their
# loading path is the same as every other model's (tested below); they are not run here.
TOO_BIG = {"vit_h_14", "regnet_y_128gf", "vit_l_16", "vit_l_32"}


def _names() -> list[str]:
    from torchvision import models

    return list(models.list_models(module=models))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in _names() if n not in TOO_BIG])
def test_torchvision_model_loads_and_runs(name, batch01):
    path = write_torchvision_standin(name)
    try:
        model = create_model(name).to(torch.device("cpu"))
        with torch.inference_mode():
            logits = model(batch01)
        assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
        assert model.weight_files == (str(path),)
    finally:
        path.unlink()  # keep the temporary cache small
