"""Fixtures of the scoring tests (helpers and stand-in writers live in helpers.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("torch") is None:  # core-only install: nothing here can run
    collect_ignore_glob = ["test_*.py"]
else:
    import torch

_HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def _drop_standins_afterwards():
    """Stand-ins take 1-2 GB: remove them from the test's temporary TORCH_HOME at the end."""
    import os
    import shutil

    yield
    home = Path(os.environ.get("TORCH_HOME", ""))
    if home.name.startswith("iqalign-test-torch-home-"):  # made by tests/conftest.py
        shutil.rmtree(home / "hub", ignore_errors=True)


def pytest_collection_modifyitems(items):
    """Every test in this folder needs the [scoring] extra: mark it (-m 'not scoring')."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.scoring)


@pytest.fixture(scope="session")
def demo_crops() -> np.ndarray:
    """Two real photographs (chelsea, coffee) after Resize(256)+CenterCrop(224): (2,224,224,3)."""
    from iqalign.scoring.data.images import decode_image, resize_center_crop
    from iqalign.scoring.data.sources import load_source

    items = {i.image_id: i for i in load_source("demo")}
    paths = [items[k].path for k in ("chelsea", "coffee")]
    return np.stack([resize_center_crop(decode_image(p)) for p in paths])


@pytest.fixture(scope="session")
def batch01(demo_crops):
    """The two demo crops as a float [0, 1] NCHW batch."""
    return torch.from_numpy(demo_crops).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="session")
def clip_checkpoint():
    """A random-weight open_clip ViT-B-32 checkpoint (the paper's ZSCLIP backbone)."""
    from tests.scoring.helpers import hub, write_open_clip_checkpoint

    folder = hub("standins", "x").parent
    return write_open_clip_checkpoint("ViT-B-32", folder)


@pytest.fixture(scope="session")
def ray_reference(tmp_path_factory):
    """The local engine's run of the Ray tests' settings: (folder, table)."""
    from iqalign.scoring import read_scores
    from tests.scoring import ray_cases

    out = ray_cases.local_reference(tmp_path_factory.mktemp("ray-reference") / "run")
    return out, read_scores(out)
