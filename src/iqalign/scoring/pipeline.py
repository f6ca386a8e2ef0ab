"""From source images to the 224-px uint8 batches the engine scores.

Every row goes through the ImageNet-C pipeline (Hendrycks & Dietterich 2019):
Resize(256) (shorter side, bilinear), CenterCrop(224), corrupt, save as JPEG quality 85
-- clean rows included, so a no-reference metric cannot tell clean from corrupted by the
JPEG step alone. Files that are already ImageNet-C images are scored as released: they
are 224 px on their short side, and only CenterCrop(224) runs (as in ImageNet-C's own
evaluation code; a no-op on its files). A pre-corrupted file of another size gets
Resize(256)+CenterCrop(224), and the manifest counts such files.

Each source image is decoded once, resized and cropped once, then rendered in all of its
variants (clean, 15 corruptions x severities, mixture draws) inside a DataLoader worker.
A (corruption, severity) pair needed by several rows -- the grid and some mixtures -- is
rendered once; its scores are written once per row.

Mixtures (SPEC section 5): for each p_c, exactly round(p_c x N) image IDs -- those with
the smallest stable hash of (seed, p_c, image ID) -- are corrupted, each with a corruption
drawn uniformly from the 15 and a severity uniformly from ``mixture_severities`` (default
1..3), from a generator seeded by the same hash; the rest stay clean. Rows carry
``variant = "pc=<p_c>"``. Draws for different p_c are independent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from iqalign.errors import ImageDecodeError
from iqalign.scores import CLEAN
from iqalign.scoring.corrupt import (
    CORRUPTIONS,
    DEFAULT_IMPLEMENTATION,
    corrupt_array,
    corruption_seed,
)
from iqalign.scoring.failures import failure
from iqalign.scoring.images import decode_image
from iqalign.scoring.sources import ImageItem

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "CROP",
    "RESIZE",
    "Render",
    "RenderDataset",
    "WorkItem",
    "center_crop",
    "collate",
    "jpeg_roundtrip",
    "mixture_draws",
    "plan_work",
    "probe_precorrupted",
    "render_item",
    "resize_center_crop",
]

RESIZE, CROP = 256, 224


@dataclass(frozen=True)
class Render:
    """One picture to score and the rows (variant IDs; None = the main grid) it fills."""

    corruption: str
    severity: int
    variants: tuple[str | None, ...]


@dataclass(frozen=True)
class WorkItem:
    """A source image and every picture to render from it."""

    item: ImageItem
    renders: tuple[Render, ...]
    precorrupted: bool = False


def resize_center_crop(image: PILImage.Image) -> np.ndarray:
    """torchvision's Resize(256) + CenterCrop(224) on a PIL image -> ``(224, 224, 3)`` uint8."""
    from PIL import Image

    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(RESIZE * long / short)  # torchvision truncates, as ImageNet-C did
    size = (RESIZE, new_long) if width <= height else (new_long, RESIZE)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    left = round((size[0] - CROP) / 2.0)
    top = round((size[1] - CROP) / 2.0)
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8)


def center_crop(image: PILImage.Image) -> tuple[np.ndarray, bool]:
    """A pre-corrupted file as released: CenterCrop(224) only, when its short side is 224.

    Returns the ``(224, 224, 3)`` crop and whether the file had to be resized first (a
    short side other than 224: then Resize(256)+CenterCrop(224), as for clean images).
    """
    if min(image.size) != CROP:
        return resize_center_crop(image), True
    width, height = image.size
    left = round((width - CROP) / 2.0)  # torchvision's CenterCrop
    top = round((height - CROP) / 2.0)
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8), False


def jpeg_roundtrip(array: np.ndarray, quality: int = 85) -> np.ndarray:
    """Encode as JPEG (ImageNet-C's quality 85) and decode again."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def _hash01(*parts: object) -> float:
    key = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2.0**64


def mixture_draws(
    image_ids: list[str], p: float, severities: tuple[int, ...], seed: int = 0
) -> dict[str, tuple[str, int]]:
    """The corrupted IDs of mixture ``p`` and their (corruption, severity)."""
    ranked = sorted(image_ids, key=lambda i: (_hash01(seed, "mixture", p, i), i))
    chosen = ranked[: round(p * len(image_ids))]
    draws = {}
    for image_id in chosen:
        rng = np.random.default_rng(int(_hash01(seed, "mixture-draw", p, image_id) * 2**63))
        draws[image_id] = (CORRUPTIONS[rng.integers(len(CORRUPTIONS))], int(rng.choice(severities)))
    return draws


def plan_work(
    items: list[ImageItem],
    corruptions: tuple[str, ...],
    severities: tuple[int, ...],
    mixtures: tuple[float, ...] = (),
    mixture_severities: tuple[int, ...] = (1, 2, 3),
    seed: int = 0,
) -> list[WorkItem]:
    """One :class:`WorkItem` per source image, its renders deduplicated."""
    ids = list(dict.fromkeys(i.image_id for i in items if i.corruption == CLEAN))
    draws = {p: mixture_draws(ids, p, mixture_severities, seed) for p in mixtures}
    work = []
    for item in items:
        if item.corruption != CLEAN:  # already an ImageNet-C file
            work.append(WorkItem(item, (Render(item.corruption, item.severity, (None,)),), True))
            continue
        rows: dict[tuple[str, int], list[str | None]] = {(CLEAN, 0): [None]}
        for corruption in corruptions:
            for severity in severities:
                rows[(corruption, severity)] = [None]
        for p in mixtures:
            pair = draws[p].get(item.image_id, (CLEAN, 0))
            rows.setdefault(pair, []).append(f"pc={p:g}")
        renders = tuple(Render(c, s, tuple(v)) for (c, s), v in rows.items())
        work.append(WorkItem(item, renders))
    return work


def render_item(
    work: WorkItem, seed: int, jpeg_quality: int, impl: str = DEFAULT_IMPLEMENTATION
) -> dict[str, Any]:
    """Decode once, crop once, render every variant; a :func:`failure` if that fails.

    Failures are counted by (stage, reason) by the engine, which stops the run when they
    are not rare (:mod:`iqalign.scoring.failures`).
    """
    item = work.item
    try:
        image = decode_image(item.path)
    except ImageDecodeError as err:
        return failure("decode", "unreadable image", str(err))
    if work.precorrupted:
        crop, resized = center_crop(image)
        return {"images": crop[None], "ref": crop, "resized": resized}
    crop = resize_center_crop(image)
    clean = jpeg_roundtrip(crop, jpeg_quality)
    images = []
    for render in work.renders:
        if render.corruption == CLEAN:
            images.append(clean)
            continue
        seed_value = corruption_seed(item.image_id, render.corruption, render.severity, seed)
        try:
            corrupted = corrupt_array(crop, render.corruption, render.severity, seed_value, impl)
        except Exception as err:  # one odd image must not end the run; counted, though
            reason = f"{render.corruption} severity {render.severity} failed ({err!r})"
            return failure(
                "corrupt", f"{render.corruption}: {type(err).__name__}", f"{item.path}: {reason}"
            )
        images.append(jpeg_roundtrip(corrupted, jpeg_quality))
    return {"images": np.stack(images), "ref": clean}


def probe_precorrupted(work: list[WorkItem], limit: int = 20000) -> dict[str, Any] | None:
    """How many pre-corrupted files are not 224 px on their short side (so get resized).

    Reads image headers only; above ``limit`` files, an evenly spaced sample of ``limit``.
    None when the run has no pre-corrupted files.
    """
    from PIL import Image

    files = [w.item.path for w in work if w.precorrupted]
    if not files:
        return None
    step = max(1, -(-len(files) // limit))
    probed = files[::step]
    resized = []
    for path in probed:
        try:
            with Image.open(path) as image:
                if min(image.size) != CROP:
                    resized.append(path)
        except Exception:  # unreadable files are reported in skipped.csv by the run itself
            continue
    return {
        "files": len(files), "probed": len(probed), "resized": len(resized),
        "resized_examples": resized[:5],
    }  # fmt: skip


class RenderDataset:
    """Map-style dataset for ``torch.utils.data.DataLoader``: index -> rendered work item."""

    def __init__(
        self, work: list[WorkItem], seed: int, jpeg_quality: int,
        impl: str = DEFAULT_IMPLEMENTATION,
    ) -> None:  # fmt: skip
        self.work, self.seed, self.jpeg_quality, self.impl = work, seed, jpeg_quality, impl

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, index: int) -> tuple[int, dict[str, Any]]:
        return index, render_item(self.work[index], self.seed, self.jpeg_quality, self.impl)


def collate(samples: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Stack rendered items: NCHW uint8 images (channels-last memory), refs, row indices."""
    import torch

    kept = [(i, s) for i, s in samples if "skip" not in s]
    skipped = [(i, s["skip"], f"{s['stage']}: {s['reason']}") for i, s in samples if "skip" in s]
    if not kept:
        return {"items": [], "counts": [], "skipped": skipped, "images": None, "refs": None}
    counts = [len(s["images"]) for _, s in kept]
    images = torch.from_numpy(np.concatenate([s["images"] for _, s in kept]))
    refs = torch.from_numpy(np.stack([s["ref"] for _, s in kept]))
    return {
        "items": [i for i, _ in kept],
        "counts": counts,
        "skipped": skipped,
        # NHWC memory viewed as NCHW is exactly the channels-last layout.
        "images": images.permute(0, 3, 1, 2),
        "refs": refs.permute(0, 3, 1, 2),
        "ref_index": torch.repeat_interleave(torch.arange(len(kept)), torch.tensor(counts)),
    }
