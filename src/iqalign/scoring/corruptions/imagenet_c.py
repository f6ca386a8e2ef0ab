"""The corruption functions that generated ImageNet-C, as released, runnable today.

A port of ``ImageNet-C/create_c/make_imagenet_c.py`` (Hendrycks & Dietterich, ICLR 2019;
github.com/hendrycks/robustness at commit ``8190fe3``, Apache License 2.0): the 15
benchmark corruptions and the 4 extra ones of the same file (``speckle_noise``,
``gaussian_blur``, ``spatter``, ``saturate``), for the 224x224 crops the benchmark was made
from. The arithmetic is the original's, line for line; every random number is drawn from
numpy's legacy global RNG in the original's order, so ``np.random.seed(s)`` before a call
reproduces the released function's output for that seed (tested against outputs of the
original code on every corruption and severity, ``tests/scoring/test_imagenet_c_golden.py``).

What had to change so that 2018 code runs on today's libraries -- each change keeps the
original's values:

- ``np.float_`` -> ``np.float64`` (fog's plasma fractal; removed in numpy 2, same type);
- ``np.fromstring(blob, np.uint8)`` -> ``np.frombuffer`` (motion_blur, snow; same bytes);
- ``skimage.filters.gaussian(x, multichannel=True)`` -> ``channel_axis=-1`` on a float64
  copy: scikit-image <= 0.18 filtered every float input in float64 (spatter's float32 mask
  is the one input this changes);
- ``skimage.util.random_noise(mode='s&p')`` -> :func:`_salt_and_pepper`, the s&p branch of
  scikit-image 0.14.0's ``random_noise`` (BSD-3), which drew from numpy's global RNG;
  today's draws from a fresh unseeded generator with another algorithm;
- the frost textures are read from the ``imagecorruptions`` package, whose six files are
  byte-identical to the original's (sha256 checked on first use).

``motion_blur`` and ``snow`` call ImageMagick's ``MagickMotionBlurImage`` through Wand, as
the original does (Debian: ``libmagickwand-6.q16-6``; ``pip install Wand``). ``glass_blur``
replays the original's per-pixel random draws on an index list instead of a Python loop
over numpy pixels (same draws, same result, ~20x faster).

Every function takes the PIL image the original received (a 224x224 RGB crop) and returns
what the original returned (a float array or a PIL image); :func:`iqalign.scoring.corrupt`
wraps them into a uint8-in, uint8-out, seeded call.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from iqalign.errors import MissingDependencyError, ScoringConfigError

__all__ = ["FUNCTIONS", "SIZE", "frost_files", "shuffle_pixels"]

#: The side of the square crops the original functions are written for.
SIZE = 224

# sha256 of the original's frost textures (ImageNet-C/create_c/frostN.*, commit 8190fe3).
_FROST_SHA256 = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
    "frost6.jpg": "1f92b2f48408748085b68dd81d816ef239f42cef3029c25d041fcb6760fb4f25",
}


def shuffle_pixels(x: np.ndarray, delta: int, passes: int) -> np.ndarray:
    """glass_blur's local pixel shuffle (original and imagecorruptions), on an index list.

    Both loop h, w from the far edge down (``range(size - delta, delta, -1)``), draw
    ``(dx, dy) = np.random.randint(-delta, delta, size=2)`` per pixel and "swap"
    ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` -- which on numpy views copies (h', w')
    into (h, w) and leaves (h', w') as it was. Same draws (one call of shape (n, 2) yields
    the stream of n calls of shape (2,)), same copies: 10x faster than the pixel loop.
    """
    height, width = x.shape[:2]
    rows, cols = range(height - delta, delta, -1), range(width - delta, delta, -1)
    source = list(range(height * width))  # which original pixel each pixel now shows
    for _ in range(passes):
        draws = np.random.randint(-delta, delta, size=(len(rows) * len(cols), 2)).tolist()
        k = 0
        for h in rows:
            base = h * width
            for w in cols:
                dx, dy = draws[k]
                k += 1
                source[base + w] = source[(h + dy) * width + w + dx]
    return x.reshape(height * width, -1)[np.asarray(source)].reshape(height, width, -1)


def _cv2() -> Any:
    import cv2

    return cv2


def _gaussian(image: np.ndarray, sigma: float, **kwargs: Any) -> np.ndarray:
    """scikit-image's gaussian as of 2018: float64 arithmetic, last axis = channels if asked."""
    from skimage.filters import gaussian

    if kwargs.pop("multichannel", False):
        kwargs["channel_axis"] = -1
    return gaussian(np.asarray(image, dtype=np.float64), sigma=sigma, **kwargs)


# /////////////// Helpers ///////////////


def _disk(radius: float, alias_blur: float = 0.1, dtype: Any = np.float32) -> np.ndarray:
    grid: np.ndarray  # integer steps for a small radius, the radius's own type otherwise
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xs, ys = np.meshgrid(grid, grid)
    aliased_disk = np.array((xs**2 + ys**2) <= radius**2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    # supersample disk to antialias
    return _cv2().GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)


def _plasma_fractal(mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square heightmap in [0, 1], side ``mapsize`` (a power of two)."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)  # shim: np.float_
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * np.random.uniform(-wibble, wibble, array.shape)

    def fillsquares() -> None:
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2 : mapsize : stepsize, stepsize // 2 : mapsize : stepsize] = (
            wibbledmean(squareaccum)
        )

    def filldiamonds() -> None:
        size = maparray.shape[0]
        drgrid = maparray[stepsize // 2 : size : stepsize, stepsize // 2 : size : stepsize]
        ulgrid = maparray[0:size:stepsize, 0:size:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + (ulgrid + np.roll(ulgrid, -1, axis=1))
        maparray[0:size:stepsize, stepsize // 2 : size : stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + (ulgrid + np.roll(ulgrid, -1, axis=0))
        maparray[stepsize // 2 : size : stepsize, 0:size:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay

    maparray -= maparray.min()
    return maparray / maparray.max()


def _clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    from scipy.ndimage import zoom as scizoom

    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))  # ceil crop height (= crop width)
    top = (h - ch) // 2
    img = scizoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2  # trim off any extra pixels
    return img[trim_top : trim_top + h, trim_top : trim_top + h]


def _salt_and_pepper(image: np.ndarray, amount: float, salt_vs_pepper: float = 0.5) -> np.ndarray:
    """scikit-image 0.14.0 ``random_noise(image, mode='s&p', amount=...)`` for float input."""
    low_clip = -1.0 if image.min() < 0 else 0.0
    out = image.copy()
    p, q = amount, salt_vs_pepper
    flipped = np.random.choice([True, False], size=image.shape, p=[p, 1 - p])
    salted = np.random.choice([True, False], size=image.shape, p=[q, 1 - q])
    peppered = ~salted
    out[flipped & salted] = 1
    out[flipped & peppered] = low_clip
    return np.clip(out, low_clip, 1.0)


def _motion_blur_png(png: bytes, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion blur of a PNG, decoded by OpenCV (BGR or grey), as the original."""
    wand_image, library = _wand()
    with wand_image(blob=png) as image:
        library.MagickMotionBlurImage(image.wand, radius, sigma, angle)
        blob = image.make_blob()
    return _cv2().imdecode(np.frombuffer(blob, np.uint8), _cv2().IMREAD_UNCHANGED)


@functools.cache
def _wand() -> tuple[Any, Any]:
    import os

    # One ImageMagick thread: callers parallelise over images (DataLoader workers, process
    # pools); OpenMP threads on top would oversubscribe the cores. Read at ImageMagick's
    # start; the blur of each pixel does not depend on the thread count.
    os.environ.setdefault("MAGICK_THREAD_LIMIT", "1")
    try:
        from wand.api import library
        from wand.image import Image as WandImage
    except ImportError as err:  # Wand missing, or Wand without ImageMagick's library
        raise MissingDependencyError(
            f"motion_blur and snow run ImageMagick's motion blur, as the original ImageNet-C "
            f"code does ({err}). Install ImageMagick's MagickWand library (Debian/Ubuntu: "
            "apt-get install libmagickwand-6.q16-6) and Wand (pip install 'iqalign[scoring]'), "
            "or use --impl imagecorruptions (an approximation)"
        ) from err
    # Tell Python about the C method (as the original does).
    library.MagickMotionBlurImage.argtypes = (
        ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_double,
    )  # fmt: skip
    return WandImage, library


@functools.cache
def frost_files() -> tuple[Path, ...]:
    """The original's six frost textures (from the ``imagecorruptions`` package, checked)."""
    import importlib.util

    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "frost needs the ImageNet-C frost textures shipped by imagecorruptions: "
            "pip install 'iqalign[scoring]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    files = []
    for name, expected in _FROST_SHA256.items():
        path = folder / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != expected:
            raise ScoringConfigError(
                f"{path}: not the original ImageNet-C frost texture (sha256 {digest}, expected "
                f"{expected}); reinstall imagecorruptions==1.1.2"
            )
        files.append(path)
    return tuple(files)


# /////////////// Distortions ///////////////


def gaussian_noise(x: Any, severity: int = 1) -> np.ndarray:
    c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    x = np.array(x) / 255.0
    return np.clip(x + np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x: Any, severity: int = 1) -> np.ndarray:
    c = [60, 25, 12, 5, 3][severity - 1]
    x = np.array(x) / 255.0
    return np.clip(np.random.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x: Any, severity: int = 1) -> np.ndarray:
    c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    x = _salt_and_pepper(np.array(x) / 255.0, amount=c)  # shim: skimage 0.14 random_noise
    return np.clip(x, 0, 1) * 255


def speckle_noise(x: Any, severity: int = 1) -> np.ndarray:
    c = [0.15, 0.2, 0.35, 0.45, 0.6][severity - 1]
    x = np.array(x) / 255.0
    return np.clip(x + x * np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def gaussian_blur(x: Any, severity: int = 1) -> np.ndarray:
    c = [1, 2, 3, 4, 6][severity - 1]
    x = _gaussian(np.array(x) / 255.0, sigma=c, multichannel=True)
    return np.clip(x, 0, 1) * 255


def glass_blur(x: Any, severity: int = 1) -> np.ndarray:
    # sigma, max_delta, iterations
    sigma, delta, passes = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][
        severity - 1
    ]
    x = np.uint8(_gaussian(np.array(x) / 255.0, sigma=sigma, multichannel=True) * 255)
    # The original's per-pixel shuffle over range(224 - delta, delta, -1), same draws and
    # copies, on an index list (shuffle_pixels above; the golden tests hold it exact).
    x = shuffle_pixels(x, delta, passes)
    return np.clip(_gaussian(x / 255.0, sigma=sigma, multichannel=True), 0, 1) * 255


def defocus_blur(x: Any, severity: int = 1) -> np.ndarray:
    c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    x = np.array(x) / 255.0
    kernel = _disk(radius=c[0], alias_blur=c[1])
    channels = [_cv2().filter2D(x[:, :, d], -1, kernel) for d in range(3)]
    stacked = np.array(channels).transpose((1, 2, 0))  # 3x224x224 -> 224x224x3
    return np.clip(stacked, 0, 1) * 255


def motion_blur(x: Any, severity: int = 1) -> np.ndarray:
    c = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    output = BytesIO()
    x.save(output, format="PNG")
    x = _motion_blur_png(output.getvalue(), c[0], c[1], np.random.uniform(-45, 45))
    if x.shape != (SIZE, SIZE):
        return np.clip(x[..., [2, 1, 0]], 0, 255)  # BGR to RGB
    return np.clip(np.array([x, x, x]).transpose((1, 2, 0)), 0, 255)  # greyscale to RGB


def zoom_blur(x: Any, severity: int = 1) -> np.ndarray:
    c = [
        np.arange(1, 1.11, 0.01),
        np.arange(1, 1.16, 0.01),
        np.arange(1, 1.21, 0.02),
        np.arange(1, 1.26, 0.02),
        np.arange(1, 1.31, 0.03),
    ][severity - 1]
    x = (np.array(x) / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += _clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255


def fog(x: Any, severity: int = 1) -> np.ndarray:
    c = [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)][severity - 1]
    x = np.array(x) / 255.0
    max_val = x.max()
    x += c[0] * _plasma_fractal(wibbledecay=c[1])[:SIZE, :SIZE][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def frost(x: Any, severity: int = 1) -> np.ndarray:
    c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    idx = np.random.randint(5)  # the original never picks its sixth texture
    texture = _cv2().imread(str(frost_files()[idx]))
    # randomly crop and convert to rgb
    x_start = np.random.randint(0, texture.shape[0] - SIZE)
    y_start = np.random.randint(0, texture.shape[1] - SIZE)
    texture = texture[x_start : x_start + SIZE, y_start : y_start + SIZE][..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * texture, 0, 255)


def snow(x: Any, severity: int = 1) -> np.ndarray:
    from PIL import Image

    cv2 = _cv2()
    c = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ][severity - 1]
    x = np.array(x, dtype=np.float32) / 255.0
    snow_layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    snow_layer = _clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    layer = (np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    output = BytesIO()
    Image.fromarray(layer).save(output, format="PNG")  # 2-D uint8: mode "L", as the original
    angle = np.random.uniform(-135, -45)
    blurred = _motion_blur_png(output.getvalue(), c[4], c[5], angle) / 255.0
    blurred = blurred[..., np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(SIZE, SIZE, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + blurred + np.rot90(blurred, k=2), 0, 1) * 255


def spatter(x: Any, severity: int = 1) -> np.ndarray:
    c = [
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ][severity - 1]
    x = np.array(x, dtype=np.float32) / 255.0
    liquid_layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    liquid_layer = _gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if c[5] == 0:
        return _water_spatter(x, liquid_layer, c[4])
    return _mud_spatter(x, liquid_layer, c[3], c[4])


def _water_spatter(x: np.ndarray, liquid_layer: np.ndarray, strength: float) -> np.ndarray:
    cv2 = _cv2()
    liquid_layer = (liquid_layer * 255).astype(np.uint8)
    dist = 255 - cv2.Canny(liquid_layer, 50, 150)
    dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
    dist = cv2.equalizeHist(dist)
    ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    dist = cv2.filter2D(dist, cv2.CV_8U, ker)
    dist = cv2.blur(dist, (3, 3)).astype(np.float32)

    m = cv2.cvtColor(liquid_layer * dist, cv2.COLOR_GRAY2BGRA)
    m /= np.max(m, axis=(0, 1))
    m *= strength
    # water is pale turquoise
    ones = np.ones_like(m[..., :1])
    color = np.concatenate((175 / 255.0 * ones, 238 / 255.0 * ones, 238 / 255.0 * ones), axis=2)
    color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255


def _mud_spatter(
    x: np.ndarray, liquid_layer: np.ndarray, threshold: float, sigma: float
) -> np.ndarray:
    m = np.where(liquid_layer > threshold, 1, 0)
    m = _gaussian(m.astype(np.float32), sigma=sigma)  # shim: float64, as skimage did in 2018
    m[m < 0.8] = 0
    # mud brown
    ones = np.ones_like(x[..., :1])
    color = np.concatenate((63 / 255.0 * ones, 42 / 255.0 * ones, 20 / 255.0 * ones), axis=2)
    color *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return np.clip(x + color, 0, 1) * 255


def contrast(x: Any, severity: int = 1) -> np.ndarray:
    c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    x = np.array(x) / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def brightness(x: Any, severity: int = 1) -> np.ndarray:
    from skimage import color

    c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
    x = color.rgb2hsv(np.array(x) / 255.0)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    return np.clip(color.hsv2rgb(x), 0, 1) * 255


def saturate(x: Any, severity: int = 1) -> np.ndarray:
    from skimage import color

    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]
    x = color.rgb2hsv(np.array(x) / 255.0)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    return np.clip(color.hsv2rgb(x), 0, 1) * 255


def jpeg_compression(x: Any, severity: int = 1) -> Any:
    from PIL import Image

    c = [25, 18, 15, 10, 7][severity - 1]
    output = BytesIO()
    x.save(output, "JPEG", quality=c)
    return Image.open(output)


def pixelate(x: Any, severity: int = 1) -> Any:
    from PIL import Image

    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    x = x.resize((int(SIZE * c), int(SIZE * c)), Image.Resampling.BOX)
    return x.resize((SIZE, SIZE), Image.Resampling.BOX)


def elastic_transform(image: Any, severity: int = 1) -> np.ndarray:
    # The original's note: "244 should have been 224, but ultimately nothing is incorrect".
    c = [
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ][severity - 1]
    from scipy.ndimage import map_coordinates

    cv2 = _cv2()
    image = np.array(image, dtype=np.float32) / 255.0
    shape = image.shape
    shape_size = shape[:2]
    # random affine
    center_square = np.array(shape_size, dtype=np.float32) // 2
    square_size = min(shape_size) // 3
    pts1 = np.array([
        center_square + square_size,
        [center_square[0] + square_size, center_square[1] - square_size],
        center_square - square_size,
    ], dtype=np.float32)  # fmt: skip
    pts2 = pts1 + np.random.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    affine = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, affine, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = _displacement(shape[:2], c[1], c[0])
    dy = _displacement(shape[:2], c[1], c[0])
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    warped = map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)
    return np.clip(warped, 0, 1) * 255


def _displacement(shape: tuple[int, ...], sigma: float, alpha: float) -> np.ndarray:
    field = _gaussian(np.random.uniform(-1, 1, size=shape), sigma, mode="reflect", truncate=3)
    return (field * alpha).astype(np.float32)[..., np.newaxis]


#: name -> the original function, in the original's order (15 benchmark, then 4 extra).
FUNCTIONS: dict[str, Any] = {
    f.__name__: f
    for f in (
        gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur,
        zoom_blur, snow, frost, fog, brightness, contrast, elastic_transform, pixelate,
        jpeg_compression, speckle_noise, gaussian_blur, spatter, saturate,
    )
}  # fmt: skip
