"""Small helpers for the scoring tests; stand-in writers come from :mod:`tests.standins`.

Where a real weight file cannot be had offline, a stand-in with random weights is written
into the private ``$TORCH_HOME`` that ``tests/conftest.py`` creates before any library is
imported, so the library's real loading code runs. Stand-ins prove the plumbing, never
the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins import (  # noqa: F401  (re-exported for the tests)
    write_arniqa_standins,
    write_clip_rn50_standin,
    write_open_clip_checkpoint,
    write_pyiqa_brisque_standin,
    write_torchvision_standin,
)


def torch_home() -> Path:
    return Path(os.environ["TORCH_HOME"])


def hub(*parts: str) -> Path:
    """$TORCH_HOME/hub/<parts> (parent folders created)."""
    path = torch_home() / "hub" / Path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class View:
    """What a metric reads from a batch (see iqalign.scoring.metrics.iqa.BatchView)."""

    def __init__(self, images01, refs01=None, logits=None, scales=None):
        self.images01 = images01
        self.refs01 = images01 if refs01 is None else refs01
        self.logits = logits or {}
        self.logit_scales = scales or {}
