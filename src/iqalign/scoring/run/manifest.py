"""What ``manifest.json`` records: settings, versions, seeds, columns, weights.

The statistics layer reads column orientation from here (``columns[<q_col>]
["higher_is_better"]``); entropy-type metrics are recorded as ``false`` and never flipped.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from iqalign import __version__
from iqalign.scores import performance_column, prediction_column
from iqalign.scoring.models.weights import describe_file

__all__ = [
    "column_entries",
    "metric_implementation",
    "model_entries",
    "pipeline_entry",
    "probability_entries",
]


def metric_implementation(spec: Any) -> str:
    """Whose code computes a metric, with its version: ``"pyiqa 0.1.16"``, ``"iqalign 0.1"``."""
    package = spec.implementation
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} (not installed)" if package != "iqalign" else f"iqalign {__version__}"


def column_entries(metrics: list[Any], classifiers: dict[str, Any]) -> dict[str, Any]:
    """One entry per ``q_*`` column: metric, family, orientation, source model, role
    (:data:`iqalign.scores.ROLES`: what its values are), weights."""
    entries = {}
    for metric in metrics:
        spec = metric.spec
        entries[metric.column] = {
            "metric": spec.name,
            "key": metric.key,
            "family": spec.family,
            "higher_is_better": spec.higher_is_better,
            "needs_reference": spec.needs_reference,
            "source_model": metric.source,
            "role": spec.role,
            "description": spec.description,
            "implementation": metric_implementation(spec),
            "reference": spec.reference or "none (defined by its formula)",
            "weights": [describe_file(p) for p in metric.weight_files],
        }
    return entries


def probability_entries(
    classifiers: dict[str, Any], task_models: list[str], saved: bool
) -> dict[str, Any]:
    """``--save-probs``: where each task model's per-row log-softmax is, and its format."""
    if not saved:
        return {}
    return {
        name: {
            "path": f"probs/{classifiers[name].column}/",
            "what": "log-softmax of the model's logits, one row per table row, in the row "
            "order of the shard of the same name (iqalign.scores.load_log_probs)",
            "dtype": "float16",
        }
        for name in task_models
    }


def model_entries(classifiers: dict[str, Any], task_models: list[str]) -> dict[str, Any]:
    """Every classifier run: columns (task models), preprocessing, weight files."""
    entries = {}
    for name, classifier in classifiers.items():
        entries[name] = {
            "task_model": name in task_models,
            "pred_column": prediction_column(classifier.column) if name in task_models else None,
            "correct_column": (
                performance_column(classifier.column) if name in task_models else None
            ),
            "input_size": classifier.input_size,
            "mean": list(classifier.mean),
            "std": list(classifier.std),
            "interpolation": classifier.interpolation,
            "logit_scale": classifier.logit_scale,
            "weights": [describe_file(p) for p in classifier.weight_files],
        }
    return entries


_CORRUPTION_CODE = {
    "imagenet-c": "the original ImageNet-C generation code (make_imagenet_c.py, "
    "hendrycks/robustness 8190fe3) ported in iqalign.scoring.corruptions.imagenet_c; "
    "bit-exact to it at 224 px",
    "imagecorruptions": "the imagecorruptions package (a re-implementation; 5 corruptions "
    "differ from the original code: elastic_transform, frost, motion_blur, snow, "
    "impulse_noise)",
}


def pipeline_entry(config: Any, work: list[Any] | None = None) -> dict[str, Any]:
    """How each row's picture was made, and how to regenerate it."""
    from iqalign.scoring.corruptions.pictures import DEFAULT_IMPLEMENTATION
    from iqalign.scoring.run.pipeline import probe_precorrupted

    impl = getattr(config, "corruption_impl", DEFAULT_IMPLEMENTATION)
    return {
        "steps": "decode -> Resize(256) -> CenterCrop(224) -> corrupt -> "
        f"JPEG({config.jpeg_quality})",
        "clean_rows": "same steps without the corruption (JPEG included)",
        "corruption_impl": impl,
        "corruption_code": _CORRUPTION_CODE[impl],
        "imagenet_c_files": "decode -> CenterCrop(224) only, as released (files whose short "
        "side is 224); any other size: Resize(256) -> CenterCrop(224), counted below",
        "imagenet_c_files_resized": probe_precorrupted(work or []),
        "corruption_seed": "blake2b-32 of (seed, image_id, corruption, severity), "
        "iqalign.scoring.corruption_seed",
        "fr_reference": "the clean row's picture (X0 after the same pipeline)",
        "mixture": "exactly round(p_c*N) image IDs per p_c, by stable hash; corruption uniform "
        "over the 15, severity uniform over mixture_severities",
        "seed": config.seed,
    }
