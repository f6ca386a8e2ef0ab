"""From source images to the 224-px uint8 batches the engine scores.

Every row goes through the ImageNet-C pipeline (Hendrycks & Dietterich 2019):
Resize(256) (shorter side, bilinear), CenterCrop(224), corrupt, save as JPEG quality 85
-- clean rows included, so a no-reference metric cannot tell clean from corrupted by the
JPEG step alone. Files that are already ImageNet-C images are scored as released: they
are 224 px on their short side, and only CenterCrop(224) runs (as in ImageNet-C's own
evaluation code; a no-op on its files). A pre-corrupted file of another size gets
Resize(256)+CenterCrop(224), and the manifest counts such files. With their clean images
(``--clean``), a released file belongs to its clean image's work item: the clean image is
decoded, cropped and JPEG'd once, as its clean row and as the reference of every
full-reference metric for all of its files.

Each source image is decoded once, resized and cropped once, then rendered in all of its
variants (clean, 15 corruptions x severities, mixture draws) inside a DataLoader worker,
which also runs the CPU metrics on them (:mod:`iqalign.scoring.metrics.in_workers`). A picture
that cannot be made is reported and skipped alone; its siblings are scored.
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
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from iqalign.errors import ImageDecodeError
from iqalign.scores import CLEAN
from iqalign.scoring.corruptions.pictures import (
    CORRUPTIONS,
    DEFAULT_IMPLEMENTATION,
    corrupt_array,
    corruption_seed,
)
from iqalign.scoring.data.images import (  # the pixel steps every picture goes through
    CROP,
    RESIZE,
    center_crop,
    decode_image,
    jpeg_roundtrip,
    resize_center_crop,
)
from iqalign.scoring.data.sources import ImageItem
from iqalign.scoring.metrics.in_workers import WorkerMetrics

if TYPE_CHECKING:
    pass

__all__ = [
    "CROP",
    "RESIZE",
    "Render",
    "RenderDataset",
    "RenderSettings",
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


@dataclass(frozen=True)
class Render:
    """One picture to score and the rows (variant IDs; None = the main grid) it fills.

    ``path`` is a released file (ImageNet-C) scored as it is; None renders the picture
    from the work item's source image (clean, or corrupted on the fly).
    """

    corruption: str
    severity: int
    variants: tuple[str | None, ...]
    path: str | None = None


@dataclass(frozen=True)
class WorkItem:
    """A source image and every picture to score from it.

    ``item`` is the clean source image, or -- for a released file without a clean partner
    -- that file itself (then its one render carries the path and the item is never
    decoded on its own).
    """

    item: ImageItem
    renders: tuple[Render, ...]

    @property
    def decodes_source(self) -> bool:
        """Whether some picture is made from ``item``'s own file (clean or on the fly)."""
        return any(r.path is None for r in self.renders)

    @property
    def has_clean_source(self) -> bool:
        """Whether ``item`` is a clean image (so it can be the FR reference)."""
        return self.item.corruption == CLEAN


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
    """One :class:`WorkItem` per source image, its renders deduplicated.

    Released (already corrupted) files join the work item of their clean image, when the
    source has one (``--clean``): the clean image is then decoded and cropped once for
    all of them, and no corruption is rendered on the fly for it, except a mixture draw
    that no released file covers. A released file without a clean image is its own work
    item.
    """
    clean: dict[str, ImageItem] = {}
    released: dict[str, list[ImageItem]] = {}
    for item in items:
        if item.corruption == CLEAN:
            clean.setdefault(item.image_id, item)
        else:
            released.setdefault(item.image_id, []).append(item)
    draws = {p: mixture_draws(list(clean), p, mixture_severities, seed) for p in mixtures}
    work = []
    for image_id in dict.fromkeys(i.image_id for i in items):
        files = released.get(image_id, [])
        if image_id not in clean:
            work += [WorkItem(f, (Render(f.corruption, f.severity, (None,), f.path),))
                     for f in files]  # fmt: skip
            continue
        grid = () if files else corruptions
        rows: dict[tuple[str, int], list[str | None]] = {(CLEAN, 0): [None]}
        paths: dict[tuple[str, int], str] = {}
        for corruption in grid:
            for severity in severities:
                rows[(corruption, severity)] = [None]
        for f in files:
            rows[(f.corruption, f.severity)] = [None]
            paths[(f.corruption, f.severity)] = f.path
        for p in mixtures:
            pair = draws[p].get(image_id, (CLEAN, 0))
            rows.setdefault(pair, []).append(f"pc={p:g}")
        renders = tuple(Render(c, s, tuple(v), paths.get((c, s))) for (c, s), v in rows.items())
        work.append(WorkItem(clean[image_id], renders))
    return work


@dataclass(frozen=True)
class RenderSettings:
    """How a worker renders and scores pictures (picklable: sent to every worker)."""

    seed: int = 0
    jpeg_quality: int = 85
    impl: str = DEFAULT_IMPLEMENTATION
    need_ref: bool = False  # a full-reference metric runs: send each item's clean picture
    cpu_metrics: WorkerMetrics = field(default_factory=WorkerMetrics)


class _RenderFailed(Exception):
    """One picture could not be made: ``(stage, reason, message)``."""


def render_item(
    work: WorkItem, seed: int = 0, jpeg_quality: int = 85, impl: str = DEFAULT_IMPLEMENTATION,
    settings: RenderSettings | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Decode the source once, crop once, make every picture, run the CPU metrics.

    Returns ``images`` (the pictures made, ``(k, 224, 224, 3)`` uint8), ``renders`` (their
    indices in ``work.renders``), ``failed`` (``(render index, stage, reason, message)``
    for each picture that could not be made), ``ref`` (the clean picture, only when
    ``settings.need_ref``), ``cpu`` (``(k, m)`` values of the worker-side metrics),
    ``cell_failures`` (``(picture, metric, reason, message)``) and ``cpu_s`` (this
    process's CPU seconds, per stage). A failed picture never takes the others with it;
    the engine counts failures by (stage, reason) and stops the run when they are not rare
    (:mod:`iqalign.scoring.run.failures`).
    """
    settings = settings or RenderSettings(seed, jpeg_quality, impl)
    begin = time.process_time()
    out: dict[str, Any] = {"renders": [], "failed": [], "cell_failures": []}
    try:
        source = _decode_source(work, settings)
    except _RenderFailed as err:
        out["failed"] = [(index, *err.args) for index in range(len(work.renders))]
        source = None
    pictures = []
    if source is not None:
        for index, render in enumerate(work.renders):
            try:
                pictures.append(_picture(work, render, source, settings))
                out["renders"].append(index)
            except _RenderFailed as err:
                out["failed"].append((index, *err.args))
    if source is not None and settings.need_ref and source.get("clean") is not None:
        out["ref"] = source["clean"]
    out["images"] = np.stack(pictures) if pictures else np.empty((0, CROP, CROP, 3), np.uint8)
    out["cpu_s"] = {"render": time.process_time() - begin}
    values, cells, seconds = settings.cpu_metrics.compute(pictures)
    out.update(cpu=values, cell_failures=cells)
    out["cpu_s"].update(seconds)
    return out


def _decode_source(work: WorkItem, settings: RenderSettings) -> dict[str, Any]:
    """The source image's crop and clean picture, when some picture needs them."""
    if not (work.decodes_source or (settings.need_ref and work.has_clean_source)):
        return {}
    try:
        image = decode_image(work.item.path)
    except ImageDecodeError as err:
        raise _RenderFailed("decode", "unreadable image", str(err)) from err
    crop = resize_center_crop(image)
    return {"crop": crop, "clean": jpeg_roundtrip(crop, settings.jpeg_quality)}


def _picture(
    work: WorkItem, render: Render, source: dict[str, Any], settings: RenderSettings
) -> np.ndarray:
    """One picture: a released file as it is, the clean picture, or a corruption of it."""
    if render.path is not None:
        try:
            image = decode_image(render.path)
        except ImageDecodeError as err:
            raise _RenderFailed("decode", "unreadable image", str(err)) from err
        return center_crop(image)[0]
    if render.corruption == CLEAN:
        return source["clean"]
    item = work.item
    seed_value = corruption_seed(item.image_id, render.corruption, render.severity, settings.seed)
    try:
        corrupted = corrupt_array(
            source["crop"], render.corruption, render.severity, seed_value, settings.impl
        )
    except Exception as err:  # one odd image must not end the run; counted, though
        reason = f"{render.corruption} severity {render.severity} failed ({err!r})"
        raise _RenderFailed(
            "corrupt", f"{render.corruption}: {type(err).__name__}", f"{item.path}: {reason}"
        ) from err
    return jpeg_roundtrip(corrupted, settings.jpeg_quality)


def probe_precorrupted(work: list[WorkItem], limit: int = 20000) -> dict[str, Any] | None:
    """How many released files are not 224 px on their short side (so get resized).

    Reads image headers only; above ``limit`` files, an evenly spaced sample of ``limit``.
    None when the run has no released files.
    """
    from PIL import Image

    files = [r.path for w in work for r in w.renders if r.path is not None]
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

    def __init__(self, work: list[WorkItem], settings: RenderSettings) -> None:
        self.work, self.settings = work, settings

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, index: int) -> tuple[int, dict[str, Any]]:
        return index, render_item(self.work[index], settings=self.settings)


def collate(samples: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Stack rendered items into one loader batch (see :func:`_stack` for its keys)."""
    failed = [(i, r, stage, reason, message) for i, s in samples
              for r, stage, reason, message in s["failed"]]  # fmt: skip
    cpu_s: dict[str, float] = {}
    for _, s in samples:
        for key, seconds in s["cpu_s"].items():
            cpu_s[key] = cpu_s.get(key, 0.0) + seconds
    kept = [(i, s) for i, s in samples if len(s["renders"])]
    batch = _stack(kept)
    batch.update(failed=failed, cpu_s=cpu_s)
    return batch


def _stack(kept: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """``items`` (work indices with a picture), per picture ``pic_item``/``pic_render``,
    ``images`` (NCHW uint8 in channels-last memory, or None), ``refs`` and ``ref_index``
    (the clean picture of each item and each picture's row in it, or None when no
    full-reference metric runs), ``cpu`` (worker metric values) and ``cell_failures``
    (``(picture, metric, reason, message)``, picture indices of this batch)."""
    import torch

    counts = [len(s["renders"]) for _, s in kept]
    starts = np.cumsum([0, *counts])
    cells = [(int(starts[k]) + p, *rest) for k, (_, s) in enumerate(kept)
             for p, *rest in s["cell_failures"]]  # fmt: skip
    batch: dict[str, Any] = {
        "items": [i for i, _ in kept],
        "pic_item": np.repeat(np.array([i for i, _ in kept], dtype=np.int64), counts),
        "pic_render": np.array([r for _, s in kept for r in s["renders"]], dtype=np.int64),
        "cpu": np.concatenate([s["cpu"] for _, s in kept]) if kept else np.empty((0, 0)),
        "cell_failures": cells, "images": None, "refs": None, "ref_index": None,
    }  # fmt: skip
    if not kept:
        return batch
    # NHWC memory viewed as NCHW is exactly the channels-last layout.
    images = torch.from_numpy(np.concatenate([s["images"] for _, s in kept]))
    batch["images"] = images.permute(0, 3, 1, 2)
    with_ref = ["ref" in s for _, s in kept]
    if any(with_ref):
        if not all(with_ref):  # every item of a run with FR metrics has a clean source
            raise ValueError("some items of this batch have no clean reference")
        refs = torch.from_numpy(np.stack([s["ref"] for _, s in kept]))
        batch["refs"] = refs.permute(0, 3, 1, 2)
        batch["ref_index"] = torch.repeat_interleave(torch.arange(len(kept)), torch.tensor(counts))
    return batch
