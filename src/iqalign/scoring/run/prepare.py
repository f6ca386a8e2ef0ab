"""Turning a :class:`ScoreConfig` into what the engine runs, with every check up front.

All checks that can fail -- unknown names, labels missing for task models, full-reference
metrics without clean images, missing weight files -- happen here, before any image is
read. Classifier-based metrics without ``:source`` expand to every task model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iqalign.errors import ScoringConfigError
from iqalign.scores import prediction_column
from iqalign.scoring.metrics.registry import (
    QualityMetric,
    create_metric,
    get_metric_spec,
    split_metric_key,
)
from iqalign.scoring.run.config import ScoreConfig

__all__ = ["Scorers", "build_scorers", "resolve_names"]


@dataclass
class Scorers:
    """Everything that runs on a batch, built and loaded."""

    task_models: list[str]
    classifiers: dict[str, Any]  # name -> Classifier, each run once per batch
    metrics: list[QualityMetric]


def resolve_names(config: ScoreConfig) -> tuple[list[str], list[str]]:
    """Expanded ``(task models, metric keys)`` (no weights loaded, nothing imported heavy)."""
    models = list(dict.fromkeys(config.models))
    keys: list[str] = []
    for key in config.metrics:
        name, source = split_metric_key(key)
        spec = get_metric_spec(name)
        if spec.source == "classifier" and source is None:
            if not models:
                raise ScoringConfigError(
                    f"metric {name!r} reads a classifier's logits: write '{name}:<model>' "
                    "or give --models"
                )
            keys += [f"{name}:{m}" for m in models]
        else:
            keys.append(key)
    keys = list(dict.fromkeys(keys))
    _check_columns(models, keys)
    return models, keys


def _check_columns(models: list[str], keys: list[str]) -> None:
    from iqalign.scoring.metrics.registry import metric_column
    from iqalign.scoring.models.registry import slug

    columns: dict[str, str] = {}
    names = [(prediction_column(slug(m)), m) for m in models]
    names += [(metric_column(*split_metric_key(k)), k) for k in keys]
    for column, name in names:
        if column in columns:
            raise ScoringConfigError(
                f"{name!r} and {columns[column]!r} would both write column {column!r}; "
                "drop one of them"
            )
        columns[column] = name


def build_scorers(config: ScoreConfig, *, has_labels: bool, has_clean: bool) -> Scorers:
    """Build every classifier and metric now (weights load here, before any image)."""
    from iqalign.scoring.models.registry import create_model

    models, keys = resolve_names(config)
    if models and not has_labels:
        raise ScoringConfigError(
            f"task models {models} need labels, and these images have none: pass --labels "
            "FILE.csv (columns file,label) or score quality metrics only"
        )
    metrics = [
        create_metric(k, weights=config.weights, prompts=config.zsclip_prompts) for k in keys
    ]
    if not has_clean:
        reference = [m.key for m in metrics if m.spec.needs_reference]
        if reference:
            raise ScoringConfigError(
                f"full-reference metrics {reference} compare each image with its clean "
                "image, and this ImageNet-C folder comes without them: add --clean "
                "IMAGENET_VAL_DIR (the validation folder its files were made from), or "
                "score clean ImageNet with on-the-fly --corruptions"
            )
    sources = list(models)
    sources += [m.source for m in metrics if m.source and m.source not in sources]
    classifiers = {
        name: create_model(name, config.weights.get(name), **_model_options(name, config))
        for name in sources
    }
    return Scorers(models, classifiers, metrics)


def _model_options(name: str, config: ScoreConfig) -> dict[str, Any]:
    return {"prompts": config.zsclip_prompts} if name.startswith("clip:") else {}
