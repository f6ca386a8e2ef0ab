"""Feeding the device: loader workers, the shared memory they need, one thread each.

DataLoader workers hand their batches to the main process through shared memory
(``/dev/shm`` on Linux): every batch a worker has rendered and the main process has not
taken yet sits there. With 16 workers, prefetch 4 and ImageNet-C's 76 pictures per image
ID that is gigabytes -- and a container started with Docker's default 64 MB ``/dev/shm``
dies with "Bus error" in the middle of a run. So before any image is read,
:func:`plan_feed` sizes the need (workers x prefetch batches, plus the two the main
process holds) against the free space, lowers the prefetch and then the workers to fit
(with a one-line note), or stops with a message naming ``--workers``, ``--batch-size``
and ``docker run --shm-size``.

``IQALIGN_SHM_DIR`` points the check at another folder (a system whose shared memory is
mounted elsewhere; the tests use it with a small tmpfs or a stand-in).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from iqalign.errors import ScoringConfigError

__all__ = [
    "DEFAULT_PREFETCH",
    "PICTURE_BYTES",
    "FeedPlan",
    "batch_bytes",
    "default_workers",
    "forking_safely",
    "one_thread_per_library",
    "plan_feed",
    "shm_free_bytes",
    "worker_init",
]

PICTURE_BYTES = 224 * 224 * 3  # one uint8 picture
DEFAULT_PREFETCH = 4
SHM_DIR_ENV = "IQALIGN_SHM_DIR"
# Leave room for everything else that lives in shared memory (pinned staging, other jobs).
_USABLE = 0.8
# Batches the main process holds beside the workers' queue: the one being launched and
# the one being collected.
_HELD = 2


@dataclass(frozen=True)
class FeedPlan:
    """How many workers render, how far ahead, and the shared memory that takes."""

    workers: int
    prefetch: int
    need_bytes: int
    free_bytes: int | None
    note: str | None = None


def default_workers() -> int:
    """One loader worker per CPU core this process may use, but two (at least one).

    The two cores left are the main process's: it launches the device work, copies
    results back and writes shards.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 2)


def batch_bytes(pictures: int, items: int, with_refs: bool) -> int:
    """Shared memory of one loader batch: its pictures, and each item's reference."""
    return (pictures + (items if with_refs else 0)) * PICTURE_BYTES


def shm_free_bytes() -> tuple[str, int | None]:
    """The shared-memory folder and its free bytes (None where it does not exist)."""
    folder = os.environ.get(SHM_DIR_ENV, "/dev/shm")
    with contextlib.suppress(OSError):
        stat = os.statvfs(folder)
        return folder, stat.f_bavail * stat.f_frsize
    return folder, None


def plan_feed(workers: int, batch: int, prefetch: int = DEFAULT_PREFETCH) -> FeedPlan:
    """Fit ``workers`` x ``prefetch`` batches of ``batch`` bytes into the free shared memory."""
    folder, free = shm_free_bytes()

    def need(w: int, p: int) -> int:
        return (w * p + _HELD) * batch if w else 0

    if workers == 0 or free is None or need(workers, prefetch) <= _USABLE * free:
        return FeedPlan(workers, prefetch, need(workers, prefetch), free)
    budget = int(_USABLE * free)
    fits = [p for p in range(prefetch - 1, 0, -1) if need(workers, p) <= budget]
    if fits:
        fitted = FeedPlan(workers, fits[0], need(workers, fits[0]), free)
    else:
        most = budget // batch - _HELD
        if most < 1:
            raise ScoringConfigError(_too_small(folder, free, workers, prefetch, batch))
        fitted = FeedPlan(most, 1, need(most, 1), free)
    note = (
        f"shared memory: {folder} has {free / 1e6:.0f} MB free, {workers} workers x prefetch "
        f"{prefetch} would need {need(workers, prefetch) / 1e6:.0f} MB; using "
        f"{fitted.workers} workers x prefetch {fitted.prefetch} ({fitted.need_bytes / 1e6:.0f} "
        "MB). Give it more (docker run --shm-size=8g) for full speed"
    )
    return FeedPlan(fitted.workers, fitted.prefetch, fitted.need_bytes, free, note)


def _too_small(folder: str, free: int, workers: int, prefetch: int, batch: int) -> str:
    return (
        f"shared memory: {folder} has {free / 1e6:.1f} MB free, but even one loader worker "
        f"needs {(1 + _HELD) * batch / 1e6:.1f} MB (batches of {batch / 1e6:.1f} MB; asked "
        f"for {workers} workers x prefetch {prefetch}). Lower --batch-size, or run with "
        "--workers 0 (rendering in this process: slow), or give the container more shared "
        "memory (docker run --shm-size=8g ...)"
    )


def worker_init(_: int) -> None:
    """One thread per worker: the workers are the parallelism."""
    import torch

    torch.set_num_threads(1)
    one_thread_per_library()


@contextlib.contextmanager
def forking_safely() -> Iterator[None]:
    """Around starting forked workers: OpenCV's thread pool on one thread while they fork.

    A child forked while the parent's OpenCV pool runs inherits the pool's locks but not
    its threads, and its own ``cv2.setNumThreads`` then waits forever (seen: every loader
    worker stuck there after a test had corrupted images in the parent). With the pool
    shrunk to one thread across the fork, the children start with none; the parent's
    setting is restored afterwards.
    """
    cv2 = sys.modules.get("cv2")
    if cv2 is None:  # not loaded here: each child loads its own and sets it
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def one_thread_per_library() -> None:
    """numpy's BLAS and OpenCV on one thread each, in this process, for good.

    A worker inherits the main process's BLAS pool (one thread per core): BRISQUE's
    matrix products then spin threads against the other workers and cost 3x the CPU
    (measured: 52 ms instead of 16 ms per picture on 2 cores). Only the BLAS libraries
    are limited here: setting OpenMP's thread count in a process forked from one whose
    OpenMP pool was running hangs in libgomp (seen: a loader worker stuck in
    ``omp_set_num_threads``); torch's own pool is set by ``torch.set_num_threads``.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    if "cv2" in sys.modules:  # inherited from the parent, which forked us with one thread
        return
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)
