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

A file whose name carries a published hash prefix (torchvision's ``resnet34-b627a593.pth``:
the first hex digits of the file's SHA-256, the convention of ``torch.hub``) is verified
against it before use, from the cache or from an explicit path: a truncated download or a
file overwritten with other weights stops the run with its path and the expected prefix
(:class:`~iqalign.errors.WeightsMismatchError`), instead of scoring at chance.

:func:`record_weight_files` notes every file that ``torch.load``/``torch.jit.load`` reads
while a scorer is built, for the manifest (path and SHA-256 prefix).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from iqalign.errors import WeightsMismatchError, WeightsNotFoundError

__all__ = [
    "describe_file",
    "guard_downloads",
    "is_offline",
    "record_weight_files",
    "resolve_weight_file",
    "torch_hub_dir",
    "verify_published_hash",
]

_HOSTS = ("huggingface.co", "download.pytorch.org")
# torch.hub's convention: NAME-<first 8+ hex digits of the SHA-256>.EXT (torch.hub.HASH_REGEX).
_PUBLISHED_HASH = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z0-9]+$")


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
    """True when downloads cannot work: an offline flag is set, or the hosts do not resolve.

    Only reads the environment; :func:`guard_downloads` makes the hubs fail fast, inside
    its own scope.
    """
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IQALIGN_OFFLINE"):
        if os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return _dns_fails()


def verify_published_hash(path: Path, owner: str) -> None:
    """Refuse a file whose name carries a published SHA-256 prefix that its bytes do not have.

    Raises
    ------
    WeightsMismatchError
        Names the file, the expected prefix and the actual one.
    """
    match = _PUBLISHED_HASH.search(path.name)
    if match is None:
        return
    expected = match.group(1)
    stat = path.stat()
    actual = _sha256(str(path), stat.st_size, stat.st_mtime)
    if not actual.startswith(expected):
        raise WeightsMismatchError(
            f"{owner}: weight file {str(path)!r} is not the published file: its name promises "
            f"a SHA-256 starting {expected}, its bytes hash to {actual[: len(expected)]} "
            "(truncated download, or other weights under this name); delete it and download "
            "the file again, or pass your own weights under a name without the hash prefix"
        )


def resolve_weight_file(
    owner: str, filename: str, cache_dir: Path, explicit: str | None, *, url: str | None = None
) -> Path | None:
    """Return the local weight file for ``owner``, or None when a download may fetch it.

    Raises
    ------
    WeightsNotFoundError
        The explicit path does not exist, or nothing is cached and we are offline.
    WeightsMismatchError
        The file's name carries a published hash prefix that its bytes do not have.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{owner}: weight file {str(path)!r} (from the run config) does not exist"
            )
        verify_published_hash(path, owner)
        return path
    cached = cache_dir / filename
    if cached.is_file():
        verify_published_hash(cached, owner)
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
    """Offline, make every torch/pyiqa/Hugging Face download raise at once, in this scope only.

    torch's and pyiqa's downloaders are replaced by one that raises
    :class:`WeightsNotFoundError`; ``HF_HUB_OFFLINE`` is set (and ``huggingface_hub``'s
    already-read constant with it) so the hub fails fast instead of retrying. Everything is
    restored on exit, so the process is left as it was found.
    """
    if not is_offline():
        yield
        return
    import torch.hub

    def refuse(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        name = os.path.basename(str(dst)).split(".partial")[0]
        folder = Path(str(dst)).parent
        raise WeightsNotFoundError(missing_message(owner, name, [folder / name], url))

    targets: list[tuple[Any, str, Any]] = [(torch.hub, "download_url_to_file", refuse)]
    with contextlib.suppress(ImportError):
        import pyiqa.utils.download_util as pyiqa_download

        targets.append((pyiqa_download, "download_url_to_file", refuse))
    with contextlib.suppress(ImportError):
        import huggingface_hub.constants as hf_constants

        targets.append((hf_constants, "HF_HUB_OFFLINE", True))
    with _patched(targets), _environment(HF_HUB_OFFLINE="1"):
        yield


@contextlib.contextmanager
def _patched(targets: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set ``obj.attr = value`` for each target; restore the old values on exit."""
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
    try:
        for obj, attr, value in targets:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables; restore (or remove) them on exit."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
def _sha256(path: str, size: int, mtime: float) -> str:
    """Hex SHA-256 of a file, cached per (path, size, mtime): weights are read once a run."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_file(path: str | Path) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` for the manifest (the hash is cached per file)."""
    stat = os.stat(path)
    return {
        "path": str(path),
        "sha256": _sha256(str(path), stat.st_size, stat.st_mtime)[:12],
        "bytes": stat.st_size,
    }
