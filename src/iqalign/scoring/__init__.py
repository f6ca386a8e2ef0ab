"""iqalign.scoring: images -> scores table (Q metrics, M models) on a GPU or the CPU.

Needs the ``scoring`` extra: ``pip install 'iqalign[scoring]'``. Importing this package
is cheap: torch, pyiqa and open_clip load only when a function that needs them runs.

Public API::

    from iqalign.scoring import ScoreConfig, score, read_scores
    result = score(ScoreConfig(data="demo", models=("efficientnet_lite0",),
                               metrics=("tv", "piqe", "tg_maxlogit"), out="runs/demo"))
    table = read_scores("runs/demo")        # == pandas.read_parquet("runs/demo/shards")

    from iqalign.scoring import corrupt     # one picture, as ImageNet-C made it
    foggy = corrupt(crop_224, "fog", 3, seed=0)   # uint8 (224, 224, 3) in and out

The scores table has one row per scored image: ``image_id``, ``label``, ``corruption``
("none" when clean), ``severity`` (0 when clean), ``variant`` (mixture ID such as
"pc=0.05", else null), ``pred_<model>`` and ``correct_<model>`` per task model, and
``q_<metric>[_<source>]`` (float64) per quality metric; ``manifest.json`` beside it
records each column's family, orientation and role. See
:mod:`iqalign.scoring.metrics.registry` for the column scheme and
:mod:`iqalign.scoring.run.writer` for the folder layout.

A run is planned, then executed: :func:`plan_run` says what a run will score (and,
resuming, what is left) without loading a model (a :class:`RunPlan`); :func:`score`
hands that plan to a :class:`Backend` (here, or :mod:`iqalign.scoring.run.ray_backend`).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CORRUPTIONS",
    "Backend",
    "RunPlan",
    "ScoreConfig",
    "corrupt",
    "corrupt_array",
    "corrupt_dataset",
    "corruption_seed",
    "create_metric",
    "create_model",
    "decode_image",
    "list_metrics",
    "list_models",
    "load_config",
    "load_source",
    "plan_run",
    "read_manifest",
    "read_scores",
    "score",
]

_WHERE = {
    "CORRUPTIONS": "corruptions.pictures",
    "corrupt": "corruptions.pictures",
    "corrupt_array": "corruptions.pictures",
    "corrupt_dataset": "corruptions.dataset",
    "corruption_seed": "corruptions.pictures",
    "ScoreConfig": "run.config",
    "load_config": "run.config",
    "create_metric": "metrics.registry",
    "list_metrics": "metrics.registry",
    "create_model": "models.registry",
    "list_models": "models.registry",
    "decode_image": "data.images",
    "load_source": "data.sources",
    "read_manifest": "run.writer",
    "read_scores": "run.writer",
    "score": "run.engine",
    "Backend": "run.engine",
    "plan_run": "run.plan",
    "RunPlan": "run.plan",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import iqalign.scoring` must not import torch (PEP 562).
    if name in _WHERE:
        module = importlib.import_module(f"iqalign.scoring.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'iqalign.scoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
