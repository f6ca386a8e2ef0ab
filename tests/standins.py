"""Random-weight stand-ins -- for tests and benchmarks only, never shipped in the package.

Throughput does not depend on weight values, and loading code does not either: a file of
random weights exercises the real loading path of torchvision, pyiqa (CLIP-IQA, ARNIQA,
BRISQUE) and open_clip on a machine that cannot download the real files. Scores computed
with them mean nothing.

Writers only ever write into a *private* torch cache: ``$TORCH_HOME`` must hold the marker
file that :func:`make_private_torch_home` creates (tests/conftest.py and the benchmarks
do), so a user's real cache can never be overwritten with random weights. Classifier
stand-ins get a name of their own (``<name>-standin.pth``) and are passed explicitly:
files under a published, hash-carrying name are verified against that hash by
:mod:`iqalign.scoring.models.weights`. Library-internal files that pyiqa looks up by name
(ARNIQA's backbone, CLIP RN50, BRISQUE's SVM) are written under their published names,
inside the private cache only. Every writer returns the path(s) it wrote.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from iqalign.errors import IqalignError
from iqalign.scoring.models.weights import torch_hub_dir

MARKER = ".iqalign-private-torch-home"

__all__ = [
    "MARKER",
    "make_private_torch_home",
    "write_arniqa_standins",
    "write_clip_rn50_standin",
    "write_open_clip_checkpoint",
    "write_pyiqa_brisque_standin",
    "write_scripted_state",
    "write_torchvision_standin",
]


def make_private_torch_home(folder: str | Path | None = None) -> Path:
    """Create (or reuse) a private torch cache, mark it, and point ``$TORCH_HOME`` at it.

    Call before torch, pyiqa or open_clip are imported. Overrides any ``TORCH_HOME`` the
    user has set: that cache holds real weights and must not be touched.
    """
    home = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="iqalign-test-torch-home-"))
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("random stand-in weights live here; delete freely\n")
    os.environ["TORCH_HOME"] = str(home)
    return home


def _hub_file(*parts: str) -> Path:
    hub = torch_hub_dir()
    if not (hub.parent / MARKER).is_file():
        raise IqalignError(
            f"refusing to write random stand-in weights into {hub.parent}: it is not a private "
            "cache made by tests.standins.make_private_torch_home() (it may hold real weights)"
        )
    path = hub.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_torchvision_standin(name: str) -> Path:
    """Random weights of torchvision model ``name`` at ``$TORCH_HOME/hub/standins/<name>-standin.pth``.

    Not under the published file name (which carries the real file's hash prefix and would
    be refused): pass the path explicitly, ``create_model(name, str(path))``.
    """
    import torch
    from torchvision import models

    # These two builders add auxiliary heads when given weights; the checkpoint has them.
    aux = name in ("googlenet", "inception_v3")
    options = {"aux_logits": True, "init_weights": False} if aux else {}
    net = models.get_model(name, weights=None, **options)
    path = _hub_file("standins", f"{name}-standin.pth")
    torch.save(net.state_dict(), path)
    return path


def write_scripted_state(state: dict, path: Path) -> Path:
    """A TorchScript archive whose ``state_dict()`` is ``state`` (OpenAI CLIP's file format)."""
    import torch

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit: the format is the point
        torch.jit.script(root).save(str(path))
    return path


def write_clip_rn50_standin() -> Path:
    """pyiqa's CLIP backbone ``$TORCH_HOME/hub/clip/RN50.pt`` (for CLIP-IQA), random."""
    import open_clip

    path = _hub_file("clip", "RN50.pt")
    if not path.exists():
        state = dict(open_clip.create_model("RN50").state_dict())
        state.pop("attn_mask", None)  # OpenAI's archive has no such buffer
        write_scripted_state(state, path)
    return path


def write_arniqa_standins() -> list[Path]:
    """ARNIQA's files: torchvision ResNet-50 V1, the ARNIQA encoder, the KonIQ regressor."""
    import torch
    from torchvision import models

    net = models.resnet50()
    backbone = _hub_file("checkpoints", "resnet50-0676ba61.pth")
    torch.save(net.state_dict(), backbone)
    encoder = torch.nn.Sequential(*list(net.children())[:-1])
    arniqa = _hub_file("checkpoints", "ARNIQA.pth")
    torch.save({f"model.{k}": v for k, v in encoder.state_dict().items()}, arniqa)
    regressor = _hub_file("pyiqa", "regressor_koniq10k.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(torch.nn.Linear(4096, 1)).save(str(regressor))
    return [backbone, arniqa, regressor]


def write_pyiqa_brisque_standin() -> Path:
    """pyiqa's BRISQUE SVM file ``(sv_coef, sv)``, random (pyiqa's own needs the internet)."""
    import torch

    path = _hub_file("pyiqa", "brisque_svm_weights.pth")
    generator = torch.Generator().manual_seed(0)
    coef = torch.randn(770, dtype=torch.float64, generator=generator)  # LIVE's model size
    torch.save((coef, torch.rand(770, 36, dtype=torch.float64, generator=generator)), path)
    return path


def write_open_clip_checkpoint(arch: str, folder: Path) -> Path:
    """An open_clip state-dict checkpoint of ``arch`` (e.g. ``ViT-B-32``), random."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}-standin.pt"
    if not path.exists():
        torch.save(open_clip.create_model(arch).state_dict(), path)
    return path
