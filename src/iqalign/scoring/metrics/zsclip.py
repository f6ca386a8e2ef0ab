"""Zero-shot CLIP over the 1000 ImageNet classes: the classifier behind ZSCLIP-IQA.

As in the paper (Sec. 5.2): the text embeddings of the 1000 class names -- in one prompt,
``"a photo of a {}."``, or OpenAI's 80-template ensemble (``zsclip_prompts = "openai"``)
-- are unit-normalised and stacked into W (K x d); an image embedding e is unit-normalised;
the cosine similarities are s = e W^T and the class probabilities softmax(tau * s), with
tau = CLIP's own learned logit scale (``logit_scale.exp()``, 100 for OpenAI's models).
The ZSCLIP metrics are max probability, entropy and max logit (= max_k s_k) of these.

Class names and templates are open_clip's (``open_clip.zero_shot_metadata``), which follow
the OpenAI CLIP paper. Weights: an explicit checkpoint file (``[score.weights]
"clip:ViT-B-32" = "/path/file"``) or an open_clip pretrained tag (default ``openai``)
from its usual cache; random weights are never used silently (``require_pretrained``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from iqalign.errors import MissingDependencyError, WeightsNotFoundError
from iqalign.scoring.models.registry import Classifier, slug
from iqalign.scoring.models.weights import (
    describe_file,
    guard_downloads,
    is_offline,
    record_weight_files,
    torch_hub_dir,
)

if TYPE_CHECKING:
    import torch

__all__ = ["ClipClassifier", "load_clip_classifier"]

_SINGLE_PROMPT = ("a photo of a {}.",)


def load_clip_classifier(
    name: str, weights: str | None = None, *, prompts: str = "single", tag: str = "openai"
) -> ClipClassifier:
    """Build ``clip:<open_clip model>`` (e.g. ``clip:ViT-B-32``) as an ImageNet classifier."""
    try:
        import open_clip
    except ImportError as err:
        raise MissingDependencyError(
            f"{name} needs open_clip_torch: pip install 'iqalign[scoring]'"
        ) from err
    arch = name.split(":", 1)[1]
    pretrained = _pretrained_source(name, arch, weights, tag)
    quick_gelu = bool((open_clip.get_pretrained_cfg(arch, pretrained) or {}).get("quick_gelu"))
    try:
        with guard_downloads(name), record_weight_files() as files:
            model = open_clip.create_model(
                arch, pretrained=pretrained, require_pretrained=True,
                force_quick_gelu=quick_gelu, weights_only=False,
            )  # fmt: skip
    except RuntimeError as err:
        if weights or not is_offline():
            raise
        raise WeightsNotFoundError(_missing(name, arch, tag, err)) from err
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size if isinstance(size, int) else size[-1]
    return ClipClassifier(
        name, model, input_size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic"), prompts=prompts,
        weight_files=tuple(dict.fromkeys(files)),
    )  # fmt: skip


def _pretrained_source(name: str, arch: str, weights: str | None, tag: str) -> str:
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{name}: checkpoint {weights!r} (from the run config) does not exist"
            )
        return str(path)
    return tag


def _missing(name: str, arch: str, tag: str, err: Exception) -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE as where
    except ImportError:  # pragma: no cover - open_clip depends on huggingface_hub
        where = "the Hugging Face cache"
    return (
        f"{name}: open_clip weights {arch!r}/{tag!r} are not cached (looked in {where} and "
        f'~/.cache/clip) and we are offline ({err}). Set [score.weights] "{name}" = '
        "'/path/checkpoint' (a state dict or open_clip checkpoint file)."
    )


class ClipClassifier(Classifier):
    """open_clip model + W (class text embeddings): logits = tau * cos(e, W)."""

    def __init__(self, name: str, model: Any, *, prompts: str, **kwargs: Any) -> None:
        super().__init__(name, model, logit_scale=float(model.logit_scale.detach().exp()), **kwargs)
        self.prompts = prompts
        self._text: torch.Tensor | None = None

    def to(self, device: torch.device, *, channels_last: bool = True) -> ClipClassifier:
        """Move the model, then embed the class prompts once on that device."""
        super().to(device, channels_last=False)  # ViTs gain nothing from channels-last
        self._text = self.class_embeddings(device)
        return self

    def class_embeddings(self, device: torch.device) -> torch.Tensor:
        """W^T: ``(d, 1000)`` unit-norm class embeddings for the chosen prompts.

        Embedding 1000 prompts (80,000 for the ensemble) takes seconds on a GPU but minutes
        on a CPU, so the result is cached next to the weights, keyed by the checkpoint's
        SHA-256, the architecture, the prompts and the open_clip version.
        """
        import torch

        cache = self._cache_file()
        if cache is not None and cache.is_file():
            return torch.load(cache, map_location=device, weights_only=True)
        embeddings = self._embed_classes(device)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.tmp")
            torch.save(embeddings.cpu(), tmp)
            tmp.replace(cache)
        return embeddings

    def _cache_file(self) -> Path | None:
        from importlib.metadata import version

        if not self.weight_files:
            return None
        digest = describe_file(self.weight_files[0])["sha256"]
        arch = slug(self.name.split(":", 1)[1])
        tag = f"{arch}-{digest}-{self.prompts}-open_clip{version('open_clip_torch')}"
        return torch_hub_dir() / "iqalign" / "zsclip" / f"{tag}.pt"

    def _embed_classes(self, device: torch.device) -> torch.Tensor:
        import open_clip
        import torch
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

        templates = _SINGLE_PROMPT if self.prompts == "single" else OPENAI_IMAGENET_TEMPLATES
        tokenizer = open_clip.get_tokenizer(self.name.split(":", 1)[1])
        with torch.inference_mode():
            return open_clip.build_zero_shot_classifier(
                self.net, tokenizer, IMAGENET_CLASSNAMES, templates,
                num_classes_per_batch=max(1, 1000 // len(templates)), device=device,
            ).float()  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """tau * cosine similarity to each class (the zero-shot logits)."""
        import torch.nn.functional as F

        if self._text is None:
            self.to(x.device)  # embeds the class prompts on x's device
        text = cast("torch.Tensor", self._text)
        clip: Any = self.net  # an open_clip CLIP: encode_image is a method, not a submodule
        embedding = F.normalize(clip.encode_image(x).float(), dim=-1)
        return self.logit_scale * embedding @ text
