"""Random-weight stand-ins and small helpers for the scoring tests.

Where a real weight file cannot be had offline, a stand-in with random weights is written
to the exact file name and folder the library reads (``$TORCH_HOME`` is a temporary folder,
set in ``tests/conftest.py`` before any library is imported), so the library's real
loading code runs. Stand-ins prove the plumbing, never the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def torch_home() -> Path:
    return Path(os.environ["TORCH_HOME"])


def hub(*parts: str) -> Path:
    """$TORCH_HOME/hub/<parts> (parent folders created)."""
    path = torch_home() / "hub" / Path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class View:
    """What a metric reads from a batch (see iqalign.scoring.iqa.BatchView)."""

    def __init__(self, images01, refs01=None, logits=None, scales=None):
        self.images01 = images01
        self.refs01 = images01 if refs01 is None else refs01
        self.logits = logits or {}
        self.logit_scales = scales or {}


def write_torchvision_standin(name: str) -> Path:
    """Random weights of torchvision model ``name`` at $TORCH_HOME/hub/checkpoints/<file>."""
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    # The builders of these two set these when given weights; the checkpoint has the heads.
    aux = name in ("googlenet", "inception_v3")
    options = {"aux_logits": True, "init_weights": False} if aux else {}
    net = models.get_model(name, weights=None, **options)
    path = hub("checkpoints", os.path.basename(weights.url))
    torch.save(net.state_dict(), path)
    return path


def write_scripted_state(state: dict, path: Path) -> Path:
    """A TorchScript archive whose state_dict is ``state`` (OpenAI's CLIP files are archives)."""

    class Holder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for key, tensor in state.items():
        *parents, leaf = key.split(".")
        module = root
        for part in parents:
            if not hasattr(module, part):
                module.add_module(part, Holder())
            module = getattr(module, part)
        module.register_buffer(leaf, tensor.clone())
    torch.jit.script(root).save(str(path))
    return path


def write_clip_rn50_standin() -> Path:
    """pyiqa's CLIP backbone file $TORCH_HOME/hub/clip/RN50.pt, random weights."""
    import open_clip

    path = hub("clip", "RN50.pt")
    if not path.exists():
        state = {k: v for k, v in open_clip.create_model("RN50").state_dict().items()}
        state.pop("attn_mask", None)  # OpenAI's archive has no such buffer
        write_scripted_state(state, path)
    return path


def write_arniqa_standins() -> list[Path]:
    """ARNIQA's three files: torchvision ResNet-50 V1, ARNIQA encoder, KonIQ regressor."""
    from torchvision import models

    net = models.resnet50()
    first = hub("checkpoints", "resnet50-0676ba61.pth")
    torch.save(net.state_dict(), first)
    encoder = torch.nn.Sequential(*list(net.children())[:-1])
    second = hub("checkpoints", "ARNIQA.pth")
    torch.save({f"model.{k}": v for k, v in encoder.state_dict().items()}, second)
    third = hub("pyiqa", "regressor_koniq10k.pth")
    torch.jit.script(torch.nn.Linear(4096, 1)).save(str(third))
    return [first, second, third]


def write_pyiqa_brisque_standin() -> Path:
    """pyiqa's BRISQUE SVM file (sv_coef, sv), random."""
    path = hub("pyiqa", "brisque_svm_weights.pth")
    generator = torch.Generator().manual_seed(0)
    coef = torch.randn(20, dtype=torch.float64, generator=generator)
    torch.save((coef, torch.rand(20, 36, dtype=torch.float64, generator=generator)), path)
    return path


def write_open_clip_checkpoint(arch: str, folder: Path) -> Path:
    """An open_clip state-dict checkpoint of ``arch`` with random weights."""
    import open_clip

    path = folder / f"{arch}-standin.pt"
    torch.save(open_clip.create_model(arch).state_dict(), path)
    return path
