"""The 15 ImageNet-C corruptions, made reproducible: one adapter around ``imagecorruptions``.

``imagecorruptions`` 1.1.2 (the reference implementation of Hendrycks & Dietterich's
ImageNet-C) predates numpy 2 and scikit-image 0.19+. Three small shims, applied here and
nowhere else, make it run unchanged:

- ``fog`` builds its plasma fractal with ``np.float_`` (removed in numpy 2): the module
  sees a numpy proxy that still has it;
- ``gaussian_blur`` and ``glass_blur`` pass ``multichannel=True`` to skimage's
  ``gaussian`` (now ``channel_axis=-1``): the module sees a translating wrapper;
- ``impulse_noise`` calls skimage's ``random_noise``, which now draws from a fresh unseeded
  generator: the module sees a wrapper that draws its generator from numpy's global RNG.

One speed fix: ``glass_blur``'s pixel shuffle is a Python loop over numpy scalars (~0.5 s
per pass at 224 px, 10 passes over the 5 severities: the bottleneck of a CPU run).
:func:`_glass_blur` replays the same random draws on a plain index list and gathers once;
its output is bit-identical to the library's (tested), including the library's quirk that
``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy views copies instead of swapping.

Every corruption draws from numpy's global RNG, so :func:`corrupt_array` seeds it right
before each call from :func:`corruption_seed` -- a stable hash of (image ID, corruption,
severity, run seed), never Python's salted ``hash()`` -- and any row can be regenerated
bit for bit, in any process, in any order.
"""

from __future__ import annotations

import functools
import hashlib
import types
import warnings
from typing import Any

import numpy as np

from iqalign.errors import (
    MissingDependencyError,
    ScoringConfigError,
    UnknownNameError,
    did_you_mean,
)
from iqalign.imagenet_c import CLEAN, CORRUPTIONS

__all__ = [
    "CORRUPTIONS",
    "corrupt_array",
    "corruption_seed",
    "parse_corruptions",
    "parse_severities",
]


def corruption_seed(image_id: str, corruption: str, severity: int, seed: int = 0) -> int:
    """Return the RNG seed of one corrupted variant: a stable 32-bit hash.

    Examples
    --------
    >>> corruption_seed("img1", "fog", 3) == corruption_seed("img1", "fog", 3)
    True
    >>> corruption_seed("img1", "fog", 3) != corruption_seed("img1", "fog", 4)
    True
    """
    key = f"{seed}\x1f{image_id}\x1f{corruption}\x1f{severity}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little")


def parse_corruptions(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``all`` / ``none`` / a comma-separated list of corruption names.

    Examples
    --------
    >>> parse_corruptions("fog, snow")
    ('fog', 'snow')
    >>> len(parse_corruptions("all")), parse_corruptions("none")
    (15, ())
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().lower() for n in names if n.strip()]
    if names == ["all"]:
        return CORRUPTIONS
    if names in ([], [CLEAN]):
        return ()
    for name in names:
        if name not in CORRUPTIONS:
            hint = did_you_mean(name, CORRUPTIONS)
            raise UnknownNameError(
                f"No corruption {name!r}.{hint} Known: all, none, {', '.join(CORRUPTIONS)}."
            )
    return tuple(dict.fromkeys(names))


def parse_severities(value: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Parse severities such as ``"1-5"``, ``"1,3,5"``, ``3`` or ``[1, 2]`` (each in 1..5).

    Examples
    --------
    >>> parse_severities("1-3"), parse_severities("5,1")
    ((1, 2, 3), (1, 5))
    """
    try:
        if isinstance(value, int):
            levels = [value]
        elif isinstance(value, str):
            levels = []
            for part in value.replace(" ", "").split(","):
                lo, _, hi = part.partition("-")
                levels.extend(range(int(lo), int(hi or lo) + 1))
        else:
            levels = [int(v) for v in value]
    except ValueError as err:
        raise ScoringConfigError(
            f"severities: cannot parse {value!r}; write e.g. '1-5' or '1,3,5'"
        ) from err
    if not levels or any(not 1 <= s <= 5 for s in levels):
        raise ScoringConfigError(f"severities: {value!r}: each severity must be in 1..5")
    return tuple(sorted(set(levels)))


def corrupt_array(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt an RGB uint8 ``(H, W, 3)`` array exactly as ImageNet-C does, reproducibly.

    The result is ``np.uint8`` of the float output (truncation, as ``imagecorruptions``
    and the original ImageNet-C script do).
    """
    if corruption not in CORRUPTIONS:
        raise UnknownNameError(f"No corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")
    if not 1 <= int(severity) <= 5:
        raise ScoringConfigError(f"severity must be in 1..5, got {severity!r}")
    function = _corruption_functions()[corruption]
    from PIL import Image

    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage/scipy deprecation chatter inside the library
        out = function(Image.fromarray(image), int(severity))
    return np.uint8(np.asarray(out))


@functools.cache
def _corruption_functions() -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources / scipy.ndimage.interpolation notices
            from imagecorruptions import corruptions as module
            from skimage import color
            from skimage.filters import gaussian
            from skimage.util import random_noise
    except ImportError as err:
        raise MissingDependencyError(
            f"Corruptions need imagecorruptions and scikit-image ({err}). "
            "Install them with: pip install 'iqalign[scoring]'"
        ) from err
    module.np = _NumpyWithFloat_()
    module.gaussian = _gaussian_channel_axis(gaussian)
    module.sk = types.SimpleNamespace(
        util=types.SimpleNamespace(random_noise=_seeded_random_noise(random_noise)),
        color=color,
    )
    functions = {name: getattr(module, name) for name in CORRUPTIONS}
    functions["glass_blur"] = functools.partial(_glass_blur, gaussian=module.gaussian)
    return functions


def _glass_blur(x: Any, severity: int = 1, *, gaussian: Any) -> np.ndarray:
    """``imagecorruptions.glass_blur`` with the pixel shuffle on an index list (same output)."""
    sigma, delta, passes = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][
        severity - 1
    ]
    x = np.uint8(gaussian(np.array(x) / 255.0, sigma=sigma, multichannel=True) * 255)
    height, width = x.shape[:2]
    rows, cols = range(height - delta, delta, -1), range(width - delta, delta, -1)
    source = list(range(height * width))  # which original pixel each pixel now shows
    for _ in range(passes):
        # One draw of shape (n, 2) yields the same stream as n draws of shape (2,).
        draws = np.random.randint(-delta, delta, size=(len(rows) * len(cols), 2)).tolist()
        k = 0
        for h in rows:
            base = h * width
            for w in cols:
                dx, dy = draws[k]
                k += 1
                # The library's "swap" on numpy views only copies (h', w') into (h, w).
                source[base + w] = source[(h + dy) * width + w + dx]
    x = x.reshape(height * width, -1)[np.asarray(source)].reshape(height, width, -1)
    return np.clip(gaussian(x / 255.0, sigma=sigma, multichannel=True), 0, 1) * 255


class _NumpyWithFloat_(types.ModuleType):
    """numpy as ``imagecorruptions`` expects it: ``np.float_`` still exists."""

    def __init__(self) -> None:
        super().__init__("numpy")
        self.float_ = np.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _gaussian_channel_axis(gaussian: Any) -> Any:
    def wrapped(image: Any, *args: Any, multichannel: bool | None = None, **kwargs: Any) -> Any:
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return gaussian(image, *args, **kwargs)

    return wrapped


def _seeded_random_noise(random_noise: Any) -> Any:
    def wrapped(image: Any, *args: Any, **kwargs: Any) -> Any:
        # Draw the generator's seed from numpy's (seeded) global RNG: reproducible.
        kwargs.setdefault("rng", np.random.default_rng(np.random.randint(0, 2**31 - 1)))
        return random_noise(image, *args, **kwargs)

    return wrapped
