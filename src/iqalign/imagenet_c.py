"""The ImageNet-C design (Hendrycks & Dietterich 2019), shared by every layer.

Plain constants, no imports: the scoring engine corrupts images with these names and the
statistics layer simulates tables shaped like the benchmark, so both read them here.
"""

from __future__ import annotations

__all__ = ["CLEAN", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "SEVERITIES"]

#: The 15 corruptions in the benchmark's order (noise, blur, weather, digital).
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
#: The 4 extra corruptions of the same release (held out for validation, not benchmarked).
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: The ``corruption`` value of a clean row (its ``severity`` is 0).
CLEAN = "none"
