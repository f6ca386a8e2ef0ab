"""Metric objects behind :data:`iqalign.scoring.metrics.registry.METRIC_SPECS`.

Every metric maps a batch view (float [0, 1] images on the device, the clean reference of
each row, and the logits of every classifier of the run) to one float per row. Image
metrics compute on the images; logit metrics read the logits that the engine computed
once for their source classifier.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from iqalign.errors import MissingDependencyError, ScoringConfigError, WeightsNotFoundError
from iqalign.scoring.metrics.confidence import logit_score
from iqalign.scoring.metrics.registry import PYIQA_NAMES, MetricSpec, metric_column
from iqalign.scoring.models.weights import (
    guard_downloads,
    is_offline,
    missing_message,
    record_weight_files,
    torch_hub_dir,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "BatchView",
    "Metric",
    "create_brisque",
    "create_logit_metric",
    "create_pyiqa_metric",
    "create_tv",
    "total_variation",
]


class BatchView(Protocol):
    """What a metric may read from the current batch."""

    images01: torch.Tensor  # (N, 3, 224, 224) float in [0, 1], on the device
    logits: dict[str, torch.Tensor]  # classifier name -> (N, 1000) float32
    logit_scales: dict[str, float]

    @property
    def refs01(self) -> torch.Tensor | None:
        """The clean X0 of each row, same shape; ``None`` where no metric needs references
        (a view may build it lazily, hence a read-only property)."""


class Metric:
    """One quality metric of a run: spec, column, source, and how to compute it."""

    def __init__(
        self, spec: MetricSpec, *, source: str | None = None, weight_files: tuple[str, ...] = ()
    ) -> None:
        self.spec, self.source = spec, source
        self.column = metric_column(spec.name, source)
        self.key = spec.name if source is None else f"{spec.name}:{source}"
        self.weight_files = weight_files

    def to(self, device: torch.device) -> Metric:
        """Move any state to ``device``."""
        return self

    def compute(self, view: BatchView) -> torch.Tensor:
        """One value per row of the batch."""
        raise NotImplementedError

    def __call__(
        self, images: Sequence[np.ndarray], references: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Score RGB uint8 ``(H, W, 3)`` arrays, each at its own size: one float per image.

        Nothing is resized or cropped. Full-reference metrics need ``references``, one
        per image and of the same size. Classifier-based metrics read a classifier's
        logits and are scored with :func:`iqalign.scoring.score` instead.

        Examples
        --------
        >>> import numpy as np
        >>> from iqalign.scoring import create_metric
        >>> tv = create_metric("tv")
        >>> tv([np.zeros((32, 48, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)])
        array([0., 0.])
        """
        import numpy as np
        import torch

        refs = _check_call(self, images, references)
        values = []
        with torch.inference_mode():
            for image, reference in zip(images, refs, strict=True):
                view = _ImageView(_to01(image), None if reference is None else _to01(reference))
                values.append(float(self.compute(view).reshape(-1)[0]))
        return np.array(values, dtype=np.float64)


class _ImageView:
    """A batch of one image at its own size (what :meth:`Metric.__call__` hands over)."""

    def __init__(self, images01: torch.Tensor, refs01: torch.Tensor | None) -> None:
        self.images01, self.refs01 = images01, refs01
        self.logits: dict[str, torch.Tensor] = {}
        self.logit_scales: dict[str, float] = {}


def _to01(image: np.ndarray) -> torch.Tensor:
    import torch

    # the engine's conversion (uint8 -> float32 / 255); torch.tensor copies, so a read-only
    # array is fine
    return torch.tensor(image).permute(2, 0, 1)[None].float().div(255)


def _check_call(
    metric: Metric, images: Sequence[np.ndarray], references: Sequence[np.ndarray] | None
) -> list[np.ndarray | None]:
    import numpy as np

    if metric.source is not None:
        raise ScoringConfigError(
            f"{metric.key} reads the logits of {metric.source}: score it with "
            "'iqalign score' (iqalign.scoring.score), not on single images"
        )
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]  # one image given as such
    for index, image in enumerate(images):
        _check_rgb8(metric.key, f"image {index}", image)
    if not metric.spec.needs_reference:
        return [None] * len(images)
    if references is None or len(references) != len(images):
        got = "none" if references is None else len(references)
        raise ScoringConfigError(
            f"{metric.key} is a full-reference metric: give one reference per image "
            f"({len(images)} images, {got} references)"
        )
    for index, (image, reference) in enumerate(zip(images, references, strict=True)):
        _check_rgb8(metric.key, f"reference {index}", reference)
        if reference.shape != image.shape:
            raise ScoringConfigError(
                f"{metric.key}: reference {index} is {reference.shape[1]}x{reference.shape[0]}"
                f" but its image is {image.shape[1]}x{image.shape[0]}; they must be the same size"
            )
    return list(references)


def _check_rgb8(key: str, what: str, image: Any) -> None:
    import numpy as np

    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):  # fmt: skip
        shape = getattr(image, "shape", None)
        raise ScoringConfigError(
            f"{key}: {what} must be an RGB uint8 array of shape (H, W, 3), got "
            f"{getattr(image, 'dtype', type(image).__name__)} with shape {shape}"
        )


def total_variation(images01: torch.Tensor) -> torch.Tensor:
    """Mean absolute vertical plus horizontal neighbour difference, per image."""
    vertical = (images01[..., 1:, :] - images01[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    horizontal = (images01[..., :, 1:] - images01[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return vertical + horizontal


def grey_entropy(images01: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (bits) of the 256-bin histogram of the rounded YIQ luma, per image.

    The same values as pyiqa's ``entropy`` (same luma, rounding and arithmetic), with the
    histogram from one ``bincount`` instead of a one-hot tensor of N x H x W x 256 int64
    (100 MB per 224-px image): pyiqa's version alone took a third of the demo's CPU time.
    """
    import torch
    from pyiqa.utils.color_util import to_y_channel

    luma = to_y_channel(images01, 255.0, "yiq").long().clamp_(0, 255)
    n = luma.shape[0]
    offsets = 256 * torch.arange(n, device=luma.device)[:, None]
    counts = torch.bincount((luma.reshape(n, -1) + offsets).reshape(-1), minlength=256 * n)
    hist = counts.reshape(n, 256)
    hist = hist / hist.sum(dim=1, keepdim=True)
    return -torch.sum(hist * torch.log2(hist + 1e-8), dim=1)


class _FunctionMetric(Metric):
    def __init__(self, spec: MetricSpec, function: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.function = function

    def to(self, device: torch.device) -> Metric:
        if hasattr(self.function, "to"):
            self.function = self.function.to(device).eval()
            _move_plain_tensors(self.function, device)
        return self

    def compute(self, view: BatchView) -> torch.Tensor:
        if self.spec.needs_reference:
            out = self.function(view.images01, view.refs01)
        else:
            out = self.function(view.images01)
        out = out[0] if isinstance(out, tuple | list) else out
        return out.reshape(out.shape[0], -1)[:, 0]


def _move_plain_tensors(net: Any, device: torch.device) -> None:
    """Move tensors and modules that pyiqa keeps as plain attributes (normalisation
    constants, tokenised prompts, CLIP-IQA's listed CLIP model) to the device once.

    pyiqa moves them with ``.to(x)`` inside every forward: a host-to-device copy that waits
    for the GPU queue each batch. Once they live on the device those calls do nothing.
    """
    import torch

    for module in net.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, torch.Tensor) and not name.startswith("_"):
                setattr(module, name, value.to(device))
            elif isinstance(value, list) and value and isinstance(value[0], torch.nn.Module):
                setattr(module, name, [m.to(device) for m in value])


class _NumpyMetric(Metric):
    """A per-image numpy metric on a view: single images (:meth:`Metric.__call__`).

    In a scoring run such a metric never runs here: its spec's ``worker`` function runs in
    the loader workers on the same uint8 pixels (:mod:`iqalign.scoring.metrics.in_workers`).
    """

    def __init__(self, spec: MetricSpec, function: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.function = function

    def compute(self, view: BatchView) -> torch.Tensor:
        import torch

        images = (view.images01 * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        values = [self.function(image) for image in images]
        return torch.tensor(values, dtype=torch.float64, device=view.images01.device)


class LogitMetric(Metric):
    """A score read off the logits of the source classifier (computed once per batch)."""

    def __init__(self, spec: MetricSpec, *, source: str) -> None:
        super().__init__(spec, source=source)
        assert spec.logit_score is not None, f"{spec.name}: a logit metric names its score"
        self.kind = spec.logit_score

    def compute(self, view: BatchView) -> torch.Tensor:
        assert self.source is not None
        return logit_score(self.kind, view.logits[self.source], view.logit_scales[self.source])


def create_tv(spec: MetricSpec, **_: Any) -> Metric:
    """``tv``."""
    return _FunctionMetric(spec, total_variation)


def create_entropy(spec: MetricSpec, **_: Any) -> Metric:
    """``entropy``: pyiqa's grey-level entropy, computed with a histogram."""
    return _FunctionMetric(spec, grey_entropy)


def create_logit_metric(spec: MetricSpec, *, source: str, **_: Any) -> Metric:
    """``tg_*``, ``zsclip_*``."""
    return LogitMetric(spec, source=source)


def create_brisque(spec: MetricSpec, **_: Any) -> Metric:
    """``brisque``: BRISQUE as published (LIVE's model and features), one image at a time.

    Loading the model here makes a missing file fail before any image is read; in a run
    the values come from the loader workers (``MetricSpec.worker``).
    """
    from functools import partial

    from iqalign.scoring.metrics.brisque import brisque_score, load_live_model

    model = load_live_model()  # fails now, with the install command, if the files are missing
    return _NumpyMetric(spec, partial(brisque_score, model=model), weight_files=model.files)


def create_pyiqa_metric(spec: MetricSpec, *, weights: dict[str, str], **_: Any) -> Metric:
    """Any pyiqa metric; weights from ``weights[name]``, pyiqa's cache, or a download."""
    # pyiqa prints every file it loads: keep stdout for our own output.
    with (
        guard_downloads(spec.name),
        record_weight_files() as files,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            model = _build_pyiqa(PYIQA_NAMES.get(spec.name, spec.name), weights.get(spec.name))
        except (WeightsNotFoundError, MissingDependencyError):
            raise
        except ModuleNotFoundError as err:
            raise MissingDependencyError(
                f"pyiqa metric {spec.name!r} needs the package {err.name!r}: pip install {err.name}"
            ) from err
        except Exception as err:  # hub/urllib/transformers each fail their own way offline
            if not is_offline():
                raise
            raise WeightsNotFoundError(_offline_message(spec.name, err)) from err
    return _FunctionMetric(spec, model.net, weight_files=tuple(dict.fromkeys(files)))


def _build_pyiqa(name: str, explicit: str | None) -> Any:
    import pyiqa
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    options = _pyiqa_weight_options(name, DEFAULT_CONFIGS[name], explicit)
    return pyiqa.create_metric(name, device="cpu", **options)


def _offline_message(name: str, err: Exception) -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE as hub_cache
    except ImportError:  # pragma: no cover - pyiqa depends on huggingface_hub
        hub_cache = "the Hugging Face cache"
    reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
    places = f"{torch_hub_dir() / 'pyiqa'}, {torch_hub_dir() / 'checkpoints'}, {hub_cache}"
    return (
        f"{name}: pyiqa could not load its weights offline ({type(err).__name__}: {reason}); "
        f"looked in: {places}. Copy the files there, or set [score.weights] {name} = '/path/file'."
    )


def _pyiqa_weight_options(name: str, config: dict[str, Any], explicit: str | None) -> dict:
    """Explicit file -> the arch's own option; CLIP backbones -> a local file if cached.

    pyiqa re-downloads a cached CLIP backbone whose SHA-256 differs from the published one;
    passing the path itself loads exactly the file that is there.
    """
    import pyiqa.archs
    from pyiqa.archs import ARCH_REGISTRY

    arch_type = config["metric_opts"]["type"]
    with contextlib.suppress(AttributeError):  # pyiqa 0.1.16 imports arch modules lazily
        pyiqa.archs._lazy_import_arch(arch_type)
    arch = ARCH_REGISTRY.get(arch_type)
    parameters = inspect.signature(arch.__init__).parameters
    backbone = config["metric_opts"].get("backbone")
    if backbone is None and "backbone" in parameters:
        backbone = parameters["backbone"].default
    from pyiqa.archs.clip_model import _MODELS as CLIP_FILES

    if isinstance(backbone, str) and backbone in CLIP_FILES:
        if explicit:
            return {"backbone": explicit}
        filename = os.path.basename(CLIP_FILES[backbone])
        cached = torch_hub_dir() / "clip" / filename
        if cached.is_file():
            return {"backbone": str(cached)}
        if is_offline():
            url = CLIP_FILES[backbone]
            raise WeightsNotFoundError(missing_message(name, filename, [cached], url))
        return {}
    if explicit and "pretrained_model_path" in parameters:
        return {"pretrained_model_path": explicit}
    return {}
