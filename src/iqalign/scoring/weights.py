"""Where weight files are looked for, and failing fast when one is missing.

Order: an explicit path from the run config (``[score.weights] name = "/path"``), then the
library's own cache (``$TORCH_HOME/hub/checkpoints`` for torchvision,
``$TORCH_HOME/hub/pyiqa`` for pyiqa, ...), then -- only when online -- the library's
normal download. Offline is ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` set, or a DNS
lookup of the download hosts failing (checked once, in well under a second); offline,
:func:`guard_downloads` turns any download attempt into a
:class:`~iqalign.errors.WeightsNotFoundError` that names the file and the places looked
in, instead of minutes of retries. Every metric and model is built before the first image
is read, so a missing file stops the run at once.

:func:`record_weight_files` notes every file that ``torch.load``/``torch.jit.load`` reads
while a scorer is built, for the manifest (path and SHA-256 prefix).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from iqalign.errors import WeightsNotFoundError

__all__ = [
    "describe_file",
    "guard_downloads",
    "is_offline",
    "record_weight_files",
    "resolve_weight_file",
    "torch_hub_dir",
]

_HOSTS = ("huggingface.co", "download.pytorch.org")


def torch_hub_dir() -> Path:
    """``$TORCH_HOME/hub`` (torch's default when unset), without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home).expanduser() / "hub"


@cache
def _dns_fails() -> bool:
    for host in _HOSTS:
        try:
            socket.getaddrinfo(host, 443)
            return False
        except OSError:
            continue
    return True


def is_offline() -> bool:
    """True when downloads cannot work: an offline flag is set, or the hosts do not resolve."""
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IQALIGN_OFFLINE"):
        if os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    if _dns_fails():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # later hub imports fail fast too
        return True
    return False


def resolve_weight_file(
    owner: str, filename: str, cache_dir: Path, explicit: str | None, *, url: str | None = None
) -> Path | None:
    """Return the local weight file for ``owner``, or None when a download may fetch it.

    Raises
    ------
    WeightsNotFoundError
        The explicit path does not exist, or nothing is cached and we are offline.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{owner}: weight file {str(path)!r} (from the run config) does not exist"
            )
        return path
    cached = cache_dir / filename
    if cached.is_file():
        return cached
    if is_offline():
        raise WeightsNotFoundError(missing_message(owner, filename, [cached], url))
    return None


def missing_message(owner: str, filename: str, places: list[Path], url: str | None) -> str:
    """The one message every missing-weights failure uses."""
    where = ", ".join(str(p) for p in places)
    source = f" (published at {url})" if url else ""
    return (
        f"{owner}: weight file {filename!r} not found{source}; looked in: {where}; offline, so "
        f"not downloading. Copy the file there, or set [score.weights] {owner} = '/path/file'."
    )


@contextlib.contextmanager
def guard_downloads(owner: str) -> Iterator[None]:
    """Offline, make every torch/pyiqa download raise :class:`WeightsNotFoundError` at once."""
    if not is_offline():
        yield
        return
    import torch.hub

    def refuse(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        name = os.path.basename(str(dst)).split(".partial")[0]
        folder = Path(str(dst)).parent
        raise WeightsNotFoundError(missing_message(owner, name, [folder / name], url))

    targets: list[tuple[Any, str]] = [(torch.hub, "download_url_to_file")]
    with contextlib.suppress(ImportError):
        import pyiqa.utils.download_util as pyiqa_download

        targets.append((pyiqa_download, "download_url_to_file"))
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in targets]
    try:
        for obj, attr in targets:
            setattr(obj, attr, refuse)
        yield
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)


@contextlib.contextmanager
def record_weight_files() -> Iterator[list[str]]:
    """Collect the paths of files read by ``torch.load`` / ``torch.jit.load`` meanwhile."""
    import torch

    seen: list[str] = []
    original_load, original_jit = torch.load, torch.jit.load

    def note(source: Any) -> None:
        name = source if isinstance(source, str | os.PathLike) else getattr(source, "name", None)
        if isinstance(name, str | os.PathLike) and os.path.isfile(name):
            seen.append(os.path.abspath(os.fspath(name)))

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        note(f)
        return original_load(f, *args, **kwargs)

    def jit_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        note(f)
        return original_jit(f, *args, **kwargs)

    torch.load, torch.jit.load = load, jit_load
    try:
        yield seen
    finally:
        torch.load, torch.jit.load = original_load, original_jit


@cache
def _sha256_prefix(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def describe_file(path: str | Path) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` for the manifest (the hash is cached per file)."""
    stat = os.stat(path)
    return {
        "path": str(path),
        "sha256": _sha256_prefix(str(path), stat.st_size, stat.st_mtime),
        "bytes": stat.st_size,
    }
