"""Corrupt images as ImageNet-C did, reproducibly: one call, two implementations.

``iqalign.scoring.corrupt(image, corruption, severity, seed=None)`` is :func:`corrupt`.

``imagenet-c`` (the default) runs the functions that generated ImageNet-C
(:mod:`iqalign.scoring.corruptions.imagenet_c`, a port of the release's
``make_imagenet_c.py``): for a 224x224 crop and a seed, the output equals the original
function's, pixel for pixel (tested against outputs of the original code for all 15
corruptions, the 4 extra ones and every severity). It only takes 224x224 images, as the
original.

``imagecorruptions`` runs the ``imagecorruptions`` package (1.1.2), a re-implementation
of the same corruptions for images of any size. It is *not* the benchmark's data:
against the original, ``elastic_transform`` is another algorithm (no affine step, other
constants), ``frost`` scales and crops its textures differently, ``motion_blur`` and
``snow`` approximate ImageMagick's motion blur in numpy (snow differs by up to 58 grey
levels), and ``impulse_noise`` draws from another generator. Use it for images that are
not 224 px. Three small shims, applied here and nowhere else, make it run on numpy 2 and
scikit-image >= 0.19:

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
bit for bit, in any process, in any order. The caller's global RNG state is restored
afterwards.
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
from iqalign.imagenet_c import CLEAN, CORRUPTIONS, EXTRA_CORRUPTIONS

__all__ = [
    "CORRUPTIONS",
    "DEFAULT_IMPLEMENTATION",
    "EXTRA_CORRUPTIONS",
    "IMPLEMENTATIONS",
    "check_implementation",
    "corrupt",
    "corrupt_array",
    "corruption_seed",
    "parse_corruptions",
    "parse_severities",
]

#: ``imagenet-c``: the original generation code (224 px); ``imagecorruptions``: any size.
IMPLEMENTATIONS: tuple[str, ...] = ("imagenet-c", "imagecorruptions")
DEFAULT_IMPLEMENTATION = "imagenet-c"
_ALL = CORRUPTIONS + EXTRA_CORRUPTIONS


def corruption_seed(image_id: str, corruption: str, severity: int, seed: int = 0) -> int:
    """Return the RNG seed of one corrupted variant: a stable 32-bit hash.

    Parameters
    ----------
    image_id
        The image's ID.
    corruption
        The corruption's name.
    severity
        The severity.
    seed
        The run seed.

    Returns
    -------
    int
        A seed in ``[0, 2**32)``, the same in every process.

    Examples
    --------
    >>> corruption_seed("img1", "fog", 3) == corruption_seed("img1", "fog", 3)
    True
    >>> corruption_seed("img1", "fog", 3) != corruption_seed("img1", "fog", 4)
    True
    """
    key = f"{seed}\x1f{image_id}\x1f{corruption}\x1f{severity}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little")


def parse_corruptions(
    value: str | list[str] | tuple[str, ...], *, extra: bool = False
) -> tuple[str, ...]:
    """Parse ``all`` / ``none`` / a comma-separated list of corruption names.

    ``all`` is the 15 of the benchmark. With ``extra=True`` the 4 extra corruptions of the
    release may be named too, and ``extra`` stands for all 4.

    Examples
    --------
    >>> parse_corruptions("fog, snow")
    ('fog', 'snow')
    >>> len(parse_corruptions("all")), parse_corruptions("none")
    (15, ())
    >>> len(parse_corruptions("all,extra", extra=True))
    19
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().lower() for n in names if n.strip()]
    if names in ([], [CLEAN]):
        return ()
    known = _ALL if extra else CORRUPTIONS
    groups = {"all": CORRUPTIONS, **({"extra": EXTRA_CORRUPTIONS} if extra else {})}
    out: list[str] = []
    for name in names:
        if name in groups:
            out.extend(groups[name])
            continue
        if name not in known:
            hint = did_you_mean(name, known)
            words = ", ".join(["all", *(["extra"] if extra else []), "none", *known])
            raise UnknownNameError(f"No corruption {name!r}.{hint} Known: {words}.")
        out.append(name)
    return tuple(dict.fromkeys(out))


def check_implementation(impl: str) -> str:
    """Return ``impl`` if it names a corruption implementation, else say which exist."""
    if impl not in IMPLEMENTATIONS:
        raise UnknownNameError(
            f"No corruption implementation {impl!r}; choose {' or '.join(IMPLEMENTATIONS)}"
        )
    return impl


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


def corrupt(
    image: np.ndarray,
    corruption: str,
    severity: int,
    seed: int | None = None,
    *,
    impl: str = DEFAULT_IMPLEMENTATION,
) -> np.ndarray:
    """Corrupt one RGB image as ImageNet-C did.

    Parameters
    ----------
    image
        ``uint8`` array of shape ``(H, W, 3)``; 224x224 for ``impl="imagenet-c"`` (crop it
        with :func:`iqalign.scoring.run.pipeline.resize_center_crop`, as ImageNet-C did).
    corruption
        One of the 15 ImageNet-C corruptions (``iqalign.imagenet_c.CORRUPTIONS``) or the 4
        extra ones (``EXTRA_CORRUPTIONS``).
    severity
        1..5.
    seed
        Seeds numpy's legacy RNG right before the call, as ``np.random.seed(seed)``
        before the original function; the same seed gives the same picture. ``None``
        draws a fresh seed. Your global ``np.random`` state is left as it was.
    impl
        ``"imagenet-c"``: the original generation code, bit-exact; ``"imagecorruptions"``:
        the package's re-implementation, for any image size (see the module notes).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``: the original's float output truncated, as it saved it.

    Examples
    --------
    >>> import numpy as np
    >>> from iqalign.scoring import corrupt
    >>> crop = np.full((224, 224, 3), 128, np.uint8)
    >>> foggy = corrupt(crop, "fog", 3, seed=1)
    >>> foggy.shape, foggy.dtype, np.array_equal(foggy, corrupt(crop, "fog", 3, seed=1))
    ((224, 224, 3), dtype('uint8'), True)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape[2:] != (3,):
        got = getattr(image, "dtype", type(image).__name__), getattr(image, "shape", "")
        raise ScoringConfigError(
            f"corrupt: image must be a uint8 array of shape (H, W, 3); got {got[0]} {got[1]}"
        )
    if seed is None:
        import secrets

        seed = secrets.randbits(32)
    return corrupt_array(image, corruption, severity, seed, impl=impl)


def corrupt_array(
    image: np.ndarray,
    corruption: str,
    severity: int,
    seed: int,
    impl: str = DEFAULT_IMPLEMENTATION,
) -> np.ndarray:
    """Corrupt an RGB uint8 ``(H, W, 3)`` array reproducibly (see :func:`corrupt`).

    The result is ``np.uint8`` of the float output (truncation, as the original ImageNet-C
    script and ``imagecorruptions`` do).

    Parameters
    ----------
    image
        ``uint8`` array of shape ``(H, W, 3)``.
    corruption
        The corruption's name.
    severity
        1..5.
    seed
        Seeds numpy's legacy RNG right before the call (e.g. from :func:`corruption_seed`).
    impl
        ``"imagenet-c"`` (224x224 only, bit-exact) or ``"imagecorruptions"`` (any size).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``.
    """
    if corruption not in _ALL:
        raise UnknownNameError(f"No corruption {corruption!r}; known: {', '.join(_ALL)}")
    if not 1 <= int(severity) <= 5:
        raise ScoringConfigError(f"severity must be in 1..5, got {severity!r}")
    function = _functions(check_implementation(impl))[corruption]
    if impl == "imagenet-c" and image.shape != (224, 224, 3):
        raise ScoringConfigError(
            f"corrupt: impl 'imagenet-c' (the original code) takes 224x224x3 crops, got "
            f"{'x'.join(map(str, image.shape))}; crop first (Resize(256)+CenterCrop(224), as "
            "ImageNet-C did) or use impl 'imagecorruptions' for other sizes"
        )
    from PIL import Image

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skimage/scipy deprecation chatter inside
            out = function(Image.fromarray(image), int(severity))
    finally:
        np.random.set_state(state)
    return np.asarray(out).astype(np.uint8)


def _functions(impl: str) -> dict[str, Any]:
    if impl == "imagenet-c":
        from iqalign.scoring.corruptions.imagenet_c import FUNCTIONS

        return FUNCTIONS
    return _corruption_functions()


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
    functions = {name: getattr(module, name) for name in _ALL}
    functions["glass_blur"] = functools.partial(_glass_blur, gaussian=module.gaussian)
    return functions


def _glass_blur(x: Any, severity: int = 1, *, gaussian: Any) -> np.ndarray:
    """``imagecorruptions.glass_blur`` with the pixel shuffle on an index list (same output)."""
    sigma, delta, passes = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][
        severity - 1
    ]
    x = np.uint8(gaussian(np.array(x) / 255.0, sigma=sigma, multichannel=True) * 255)
    from iqalign.scoring.corruptions.imagenet_c import shuffle_pixels

    x = shuffle_pixels(x, delta, passes)
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
