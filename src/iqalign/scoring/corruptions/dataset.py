"""Write an ImageNet-C-layout data set from any image source, as ImageNet-C was made.

Each source image is decoded once, Resize(256)+CenterCrop(224)'d once, corrupted at every
requested (corruption, severity) with the seed
:func:`~iqalign.scoring.corruptions.pictures.corruption_seed` gives its image ID (the seed
on-the-fly scoring uses), and saved as
``<out>/<corruption>/<severity>/<class>/<image ID>.JPEG`` with JPEG quality 85 and
``optimize=True``, as the original ``make_imagenet_c.py`` saved it. ``<class>`` is the
WordNet ID of the image's label (``n01440764``), or the source file's folder name when
the image has no label. So ``iqalign score --layout imagenet-c`` on the output gives the
rows on-the-fly scoring of the same images gives (same picture, same seed, same JPEG).

Resumable: every file is written to a temporary name and renamed, so an existing file is
complete and is not made again. Parallel: one process per CPU core, one source image per
task. ``corrupt_manifest.json`` beside the folders records the implementation, seed,
JPEG settings, versions and any image that could not be read.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iqalign.errors import DataSourceError
from iqalign.scores import CLEAN
from iqalign.scoring.corruptions.pictures import (
    DEFAULT_IMPLEMENTATION,
    check_implementation,
    corrupt_array,
    corruption_seed,
    parse_corruptions,
    parse_severities,
)

__all__ = ["MANIFEST_NAME", "CorruptResult", "corrupt_dataset"]

MANIFEST_NAME = "corrupt_manifest.json"


@dataclass
class CorruptResult:
    """What :func:`corrupt_dataset` did."""

    out: Path
    written: int
    existing: int
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    """One source image and the files still to make from it."""

    path: str
    image_id: str
    targets: tuple[tuple[str, int, str], ...]  # (corruption, severity, output path)


def corrupt_dataset(
    data: str,
    out: str | Path,
    *,
    layout: str | None = None,
    labels: str | None = None,
    corruptions: str | tuple[str, ...] = "all",
    severities: str | tuple[int, ...] = "1-5",
    impl: str = DEFAULT_IMPLEMENTATION,
    seed: int = 0,
    jpeg_quality: int = 85,
    workers: int = -1,
    limit: int = 0,
    progress: Any = None,
) -> CorruptResult:
    """Corrupt every clean image of ``data`` into an ImageNet-C-layout folder ``out``.

    Parameters
    ----------
    data
        The data source of clean images (as :func:`load_source` takes it).
    out
        The output folder.
    layout
        The source's layout; ``None`` guesses it.
    labels
        A label file for a ``folder`` source.
    corruptions
        A tuple of names, or text such as ``"all"`` or a comma-separated list.
    severities
        A tuple of severities, or text such as ``"1-5"`` or ``"1,3,5"``.
    impl
        ``"imagenet-c"`` or ``"imagecorruptions"`` (see :func:`corrupt`).
    seed
        The run seed each image's corruption seed is derived from.
    jpeg_quality
        The JPEG quality files are saved with (ImageNet-C: 85).
    workers
        Processes; ``-1``: every CPU core; 0 or 1: this process.
    limit
        Corrupt only the first ``limit`` images; 0: all.
    progress
        Gets ``start(total, done)``, ``advance(n)`` and ``close()``, counted in files;
        ``None`` reports nothing.

    Returns
    -------
    CorruptResult
        The folder, the files written and already there, and the images skipped.
    """
    check_implementation(impl)
    names = parse_corruptions(corruptions, extra=True)
    levels = parse_severities(severities)
    items = _clean_items(data, layout, labels, limit)
    root = Path(out).expanduser()
    tasks, existing = _plan(items, root, names, levels)
    written, skipped = _execute(tasks, existing, (impl, seed, jpeg_quality), workers, progress)
    _write_manifest(root, data, names, levels, impl, seed, jpeg_quality, skipped)
    return CorruptResult(root, written, existing, skipped)


def _clean_items(data: str, layout: str | None, labels: str | None, limit: int) -> list[Any]:
    """The clean images of ``data`` (the first ``limit``; 0: all); refuse a source with none."""
    from iqalign.scoring.data.sources import load_source

    items = [i for i in load_source(data, layout, labels) if i.corruption == CLEAN]
    if not items:
        raise DataSourceError(f"--data {data!r}: no clean images to corrupt")
    return items[:limit] if limit else items


def _execute(
    tasks: list[_Task],
    existing: int,
    settings: tuple[str, int, int],
    workers: int,
    progress: Any,
) -> tuple[int, list[dict[str, str]]]:
    """Run the tasks in this process or a pool; return files written and images skipped."""
    if progress:
        progress.start(existing + sum(len(t.targets) for t in tasks), existing)
    run = _run_inline if workers in (0, 1) or len(tasks) <= 1 else _run_pool
    written, skipped = run(tasks, settings, workers, progress)
    if progress:
        progress.close()
    return written, skipped


def _plan(
    items: list[Any], root: Path, names: tuple[str, ...], levels: tuple[int, ...]
) -> tuple[list[_Task], int]:
    """The files each image still needs (existing ones are complete: atomic writes)."""
    owners: dict[str, str] = {}
    tasks, existing = [], 0
    for item in items:
        # Named by the image ID, which the imagenet-c layout reads back from the file stem.
        relative = f"{_class_folder(item)}/{Path(item.image_id).name}.JPEG"
        if relative in owners:
            raise DataSourceError(
                f"{item.path} and {owners[relative]} would both be written as {relative}; "
                "ImageNet-C names files by class folder and file name: rename one"
            )
        owners[relative] = item.path
        targets = []
        for name in names:
            for level in levels:
                target = root / name / str(level) / relative
                if target.is_file():
                    existing += 1
                else:
                    targets.append((name, level, str(target)))
        if targets:
            tasks.append(_Task(item.path, item.image_id, tuple(targets)))
    return tasks, existing


def _class_folder(item: Any) -> str:
    from iqalign.scoring.data.labels import index_to_wnid

    if item.label >= 0:
        return index_to_wnid(item.label)
    return Path(item.path).parent.name or "unlabelled"


def _corrupt_one(task: _Task, settings: tuple[str, int, int]) -> tuple[int, str | None]:
    """Make one image's files; return (files written, reason it was skipped or None)."""
    from PIL import Image

    from iqalign.errors import ImageDecodeError
    from iqalign.files import write_bytes_atomic
    from iqalign.scoring.data.images import decode_image, resize_center_crop

    impl, seed, quality = settings
    try:
        crop = resize_center_crop(decode_image(task.path))
    except ImageDecodeError as err:
        return 0, str(err)
    written = 0
    for name, level, target in task.targets:
        try:
            picture = corrupt_array(
                crop, name, level, corruption_seed(task.image_id, name, level, seed), impl
            )
        except Exception as err:  # one odd image must not end a long run
            return written, f"{task.path}: {name} severity {level} failed ({err!r})"
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="JPEG", quality=quality, optimize=True)
        write_bytes_atomic(target, buffer.getvalue())
        written += 1
    return written, None


def _run_inline(
    tasks: list[_Task], settings: tuple[str, int, int], workers: int, progress: Any
) -> tuple[int, list[dict[str, str]]]:
    return _collect(((t, _corrupt_one(t, settings)) for t in tasks), progress)


def _run_pool(
    tasks: list[_Task], settings: tuple[str, int, int], workers: int, progress: Any
) -> tuple[int, list[dict[str, str]]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    count = workers if workers > 1 else os.cpu_count() or 1
    # spawn: the parent may hold threads (the progress bar) that fork would copy mid-lock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(_corrupt_one, t, settings): t for t in tasks}
        return _collect(((futures[f], f.result()) for f in as_completed(futures)), progress)


def _collect(results: Any, progress: Any) -> tuple[int, list[dict[str, str]]]:
    written, skipped = 0, []
    for task, (count, reason) in results:
        written += count
        if reason is not None:
            skipped.append({"image_id": task.image_id, "path": task.path, "reason": reason})
        if progress:
            progress.advance(len(task.targets))
    return written, skipped


def _one_thread() -> None:
    """One thread per worker process: the processes are the parallelism."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV comes with the scoring extra
        pass


def _write_manifest(
    root: Path, data: str, names: tuple[str, ...], levels: tuple[int, ...], impl: str,
    seed: int, quality: int, skipped: list[dict[str, str]],
) -> None:  # fmt: skip
    from iqalign.files import write_bytes_atomic
    from iqalign.scoring.provenance import package_versions

    manifest: dict[str, Any] = {
        "format": "iqalign-corrupt/1", "data": data, "corruptions": list(names),
        "severities": list(levels), "corruption_impl": impl, "seed": seed,
        "steps": "decode -> Resize(256) -> CenterCrop(224) -> corrupt -> "
        f"JPEG(quality={quality}, optimize=True)",
        "corruption_seed": "blake2b-32 of (seed, image_id, corruption, severity), "
        "iqalign.scoring.corruption_seed",
        "layout": "<corruption>/<severity>/<WordNet ID>/<image ID>.JPEG",
        "versions": package_versions(), "skipped": skipped,
    }  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(root / MANIFEST_NAME, json.dumps(manifest, indent=1).encode())
