"""Every torchvision classifier family through the real cache-loading path, on 2 images.

Random weights are written to a private cache and given to :func:`create_model` as an
explicit weight file (published names carry the real file's hash and are verified), loaded
by torchvision's own builder exactly as a real checkpoint would be, and run on two
photographs.

By default the smallest member of each of torchvision's 21 families runs (the members of
a family share one builder and differ in width/depth only); the paper's ResNet-34,
ConvNeXt-B and Swin-B run in test_models.py. ``IQALIGN_TEST_ALL_TORCHVISION=1`` runs every
model (about 8 minutes on 2 CPU cores) except the four over 200 M parameters.
"""

from __future__ import annotations

import os
import re

import pytest
import torch

from iqalign.scoring.models.registry import create_model
from tests.scoring.helpers import write_torchvision_standin

# Over 200 M parameters: a 0.8-2.5 GB stand-in each is too much for a CPU CI job.
TOO_BIG = {"vit_h_14", "regnet_y_128gf", "vit_l_16", "vit_l_32"}


def _family(name: str) -> str:
    """``resnet50`` -> ``resnet``, ``mobilenet_v3_small`` -> ``mobilenet_v3``."""
    parts = name.split("_")
    version = f"_{parts[1]}" if len(parts) > 1 and parts[1] in ("v2", "v3") else ""
    return re.sub(r"\d+", "", parts[0]) + version


def _names() -> list[str]:
    from torchvision import models

    names = list(models.list_models(module=models))
    if os.environ.get("IQALIGN_TEST_ALL_TORCHVISION") == "1":
        return [n for n in names if n not in TOO_BIG]
    smallest: dict[str, tuple[str, int]] = {}
    for name in names:
        size = models.get_model_weights(name).DEFAULT.meta["num_params"]
        family = _family(name)
        if family not in smallest or size < smallest[family][1]:
            smallest[family] = (name, size)
    return sorted(name for name, _ in smallest.values())


def test_every_model_belongs_to_a_tested_family():
    from torchvision import models

    tested = {_family(n) for n in _names()}
    assert {_family(n) for n in models.list_models(module=models)} == tested
    assert len(tested) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("name", _names())
def test_torchvision_model_loads_and_runs(name, batch01):
    path = write_torchvision_standin(name)
    try:
        model = create_model(name, str(path)).to(torch.device("cpu"))
        with torch.inference_mode():
            logits = model(batch01)
        assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
        assert model.weight_files == (str(path),)
    finally:
        path.unlink()  # keep the temporary cache small
