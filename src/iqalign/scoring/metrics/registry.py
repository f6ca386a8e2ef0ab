"""Quality metrics (Q) by name: a spec table, :func:`create_metric`, column names.

A metric is asked for as ``name`` or ``name:source``:

- classic IQA: any pyiqa metric by its pyiqa name (``piqe``, ``clipiqa``, ``arniqa``,
  ``psnr``, ``ssim``, ...; full-reference ones compare with the clean image
  X0 of the same ID); ``tv`` (total variation); ``brisque`` (BRISQUE as published: LIVE's
  original model and feature definition, our code, see :mod:`iqalign.scoring.metrics.brisque`);
  ``brisque_pyiqa`` (pyiqa's re-implementation, which pyiqa calls ``brisque``);
- strong task-guided ``tg_maxprob``, ``tg_entropy``, ``tg_maxlogit`` ``:<model>``;
- ``zsclip_maxprob``, ``zsclip_entropy``, ``zsclip_maxlogit`` ``:<open_clip model>``
  (default ``ViT-B-32``).

Label-free accuracy estimators (MSP, ATC, DoC, ...) are not metrics: ``iqalign estimate``
computes them from ``tg_maxprob`` / ``tg_entropy`` (:data:`REMOVED` says so to a user who
asks for one).

Without ``:source``, the classifier-based metrics expand to one column per task model
of the run. Column scheme: ``q_<slug(name)>`` for image metrics and
``q_<slug(name)>_<slug(source)>`` for classifier-based ones, where :func:`slug`
lower-cases and maps ``+`` to ``_plus`` and other symbols to ``_``: ``q_tv``,
``q_clipiqa_plus``, ``q_tg_maxlogit_efficientnet_lite1``, ``q_zsclip_entropy_vit_b_32``.
Orientation is recorded, never flipped.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from iqalign.errors import MissingDependencyError, UnknownNameError, did_you_mean
from iqalign.scores import quality_column

if TYPE_CHECKING:  # the registry imports neither numpy nor torch at run time
    import numpy as np
    import torch

    from iqalign.scoring.metrics.iqa import BatchView

__all__ = [
    "METRIC_SPECS",
    "REMOVED",
    "MetricSpec",
    "QualityMetric",
    "create_metric",
    "get_metric_spec",
    "list_metrics",
    "metric_column",
    "metric_readiness",
    "split_metric_key",
]

DEFAULT_CLIP = "ViT-B-32"


@dataclass(frozen=True)
class MetricSpec:
    """A registry row (plain data; the loader is imported only when the metric is built)."""

    name: str
    family: str  # one of iqalign.scores.FAMILIES
    higher_is_better: bool
    needs_reference: bool
    source: str | None  # None, "classifier" or "clip": what ``name:<source>`` names
    loader: str  # "module:function"
    extra: str
    weights: str  # what it needs, for ``metrics list``
    description: str
    amp: bool = False  # safe under fp16/bf16 autocast
    implementation: str = "iqalign"  # the package whose code computes it (version: manifest)
    reference: str = ""  # what its values are checked against (tests), or "" if nothing
    # Classifier-based metrics: the score read off the source's logits (maxprob, entropy,
    # maxlogit: iqalign.scoring.metrics.confidence.logit_score).
    logit_score: str | None = None
    # "module:function" returning True when the metric's files are installed (``metrics
    # list``); None: pyiqa's cache is checked, or nothing is needed.
    readiness: str | None = None
    # "module:function(sdist=None) -> folder" installing those files (``metrics download``).
    installer: str | None = None
    # A metric computed per image on the CPU: "module:function" returning a function of one
    # (224, 224, 3) uint8 picture. The engine runs it in the loader workers, beside
    # decoding, never in the main process (iqalign.scoring.metrics.in_workers).
    worker: str | None = None
    # What its values are (one of iqalign.scores.ROLES), recorded in the manifest so that
    # readers find a classifier's confidence or entropy by role, never by metric name.
    role: str = "quality"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


_IQA = "iqalign.scoring.metrics.iqa"
_TG = "iqalign.scoring.metrics.iqa:create_logit_metric"


# The role of each score read off logits (iqalign.scores.ROLES).
_LOGIT_ROLES = {"maxprob": "confidence", "entropy": "entropy", "maxlogit": "max_logit"}


def _logit(name: str, family: str, higher: bool, source: str, text: str) -> MetricSpec:
    """A score read off a classifier's logits: ``tg_<score>`` / ``zsclip_<score>``."""
    score = name.split("_", 1)[-1]
    return MetricSpec(
        name, family, higher, False, source, _TG, "scoring", "its model's", text,
        logit_score=score, role=_LOGIT_ROLES[score],
    )  # fmt: skip


# fmt: off
METRIC_SPECS: dict[str, MetricSpec] = {
    "tv": MetricSpec(
        "tv", "tv", False, False, None, f"{_IQA}:create_tv", "scoring", "none",
        "total variation: mean |horizontal| + |vertical| difference of [0,1] RGB; grows with "
        "noise, falls with blur (a roughness measure; recorded lower-is-better)"),
    "entropy": MetricSpec(
        "entropy", "classic_nr", True, False, None, f"{_IQA}:create_entropy", "scoring", "none",
        "grey-level entropy of the Y channel: pyiqa's 'entropy', same values, computed with a "
        "histogram (pyiqa's one-hot version needs 100 MB per image)", reference="pyiqa"),
    "brisque": MetricSpec(
        "brisque", "classic_nr", False, False, None, f"{_IQA}:create_brisque", "scoring",
        "LIVE's allmodel + allrange ('iqalign metrics download brisque')",
        "BRISQUE as published: LIVE's original SVR and feature definition (MATLAB release), "
        "our code, per image on the CPU (in the loader workers)",
        readiness="iqalign.scoring.metrics.brisque:live_model_installed",
        worker="iqalign.scoring.metrics.brisque:worker_scorer",
        installer="iqalign.scoring.metrics.brisque:install_live_model",
        reference="original LIVE model (MATLAB release), allmodel sha256 "
        "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f; published values "
        "of pyiqa's calibration table (TID2013): 4 of 5 within 0.04"),
    "brisque_pyiqa": MetricSpec(
        "brisque_pyiqa", "classic_nr", False, False, None, f"{_IQA}:create_pyiqa_metric",
        "scoring", "pyiqa weight file(s) in $TORCH_HOME/hub/pyiqa",
        "pyiqa's BRISQUE (pyiqa's 'brisque': YCbCr luma, its own SVM file; differs from the "
        "published values by up to 5.4 on pyiqa's calibration images)",
        implementation="pyiqa", reference="pyiqa"),
    "tg_maxprob": _logit("tg_maxprob", "strong_tg", True, "classifier", "max softmax probability"),
    "tg_entropy": _logit("tg_entropy", "strong_tg", False, "classifier",
                         "softmax entropy (a negative quality signal)"),
    "tg_maxlogit": _logit("tg_maxlogit", "strong_tg", True, "classifier", "max logit"),
    "zsclip_maxprob": _logit("zsclip_maxprob", "zsclip", True, "clip",
                             "zero-shot CLIP max probability (softmax of tau * cosine)"),
    "zsclip_entropy": _logit("zsclip_entropy", "zsclip", False, "clip",
                             "zero-shot CLIP entropy (a negative quality signal)"),
    "zsclip_maxlogit": _logit("zsclip_maxlogit", "zsclip", True, "clip",
                              "zero-shot CLIP max cosine similarity"),
}
# fmt: on

# Names that were metrics once: what to use instead (an old command gets this, not a guess).
REMOVED = {
    name: f"{name!r} is no longer a per-image metric: 'iqalign estimate RUN_DIR' computes "
    "MSP, ATC, ATC-NE and DoC (and more) from the tg_maxprob / tg_entropy columns, fitted on "
    "the images its protocol holds out; score tg_maxprob,tg_entropy instead"
    for name in ("msp", "atc", "atc_ne", "doc")
}
# pyiqa entries that are not one number per image (distribution scores, caption scores).
_PYIQA_EXCLUDED = frozenset(
    {"fid", "sfid", "fid_dinov2", "inception_score", "clipscore", "compare2score", "fgresq_pair"}
)
# Our names for pyiqa metrics whose pyiqa name means something else here.
PYIQA_NAMES = {"brisque_pyiqa": "brisque"}
# pyiqa metrics that need no weight file (checked by the tests, offline).
PYIQA_WEIGHT_FREE = frozenset(
    {"piqe", "entropy", "psnr", "psnry", "ssim", "ssimc", "ms_ssim", "cw_ssim", "fsim", "gmsd"}
    | {"vif", "vsi", "nlpd", "mad"}
)
# The paper's learned pyiqa metrics: the files they read, under $TORCH_HOME/hub.
PAPER_PYIQA_FILES = {
    "clipiqa": ("clip/RN50.pt",),
    "arniqa": (
        "checkpoints/resnet50-0676ba61.pth", "checkpoints/ARNIQA.pth",
        "pyiqa/regressor_koniq10k.pth",
    ),
    "brisque_pyiqa": ("pyiqa/brisque_svm_weights.pth",),
}  # fmt: skip
# learned pyiqa networks that are fine under autocast
_PYIQA_AMP_PREFIXES = ("clipiqa", "arniqa", "topiq", "musiq", "maniqa", "qualiclip", "liqe")


def split_metric_key(key: str) -> tuple[str, str | None]:
    """``"tg_maxlogit:efficientnet_lite1"`` -> ``("tg_maxlogit", "efficientnet_lite1")``."""
    name, _, source = key.partition(":")
    if name.startswith("zsclip_") and source and not source.startswith("clip:"):
        source = f"clip:{source}"
    return name.strip(), (source.strip() or None)


def metric_column(name: str, source: str | None = None) -> str:
    """The scores-table column of a metric (see the module notes for the scheme).

    Examples
    --------
    >>> metric_column("tg_maxlogit", "efficientnet_lite1")
    'q_tg_maxlogit_efficientnet_lite1'
    >>> metric_column("zsclip_maxlogit", "clip:ViT-B-32")
    'q_zsclip_maxlogit_vit_b_32'
    """
    return quality_column(name, source)


def _pyiqa_configs() -> dict[str, Any]:
    try:
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
    except ImportError as err:
        raise MissingDependencyError(
            f"pyiqa metrics need pyiqa ({err}): pip install 'iqalign[scoring]' "
            "(pyiqa is PolyForm-Noncommercial licensed)"
        ) from err
    return {k: v for k, v in DEFAULT_CONFIGS.items() if k not in _PYIQA_EXCLUDED}


def _pyiqa_spec(name: str, config: dict[str, Any]) -> MetricSpec:
    reference = config.get("metric_mode") == "FR"
    return MetricSpec(
        name, "classic_fr" if reference else "classic_nr", not config.get("lower_better", False),
        reference, None, f"{_IQA}:create_pyiqa_metric", "scoring",
        "none" if name in PYIQA_WEIGHT_FREE else "pyiqa weight file(s) in $TORCH_HOME/hub/pyiqa",
        f"pyiqa {config['metric_opts']['type']} ({'FR' if reference else 'NR'})",
        amp=name.startswith(_PYIQA_AMP_PREFIXES), implementation="pyiqa", reference="pyiqa",
    )  # fmt: skip


def get_metric_spec(name: str) -> MetricSpec:
    """The spec of a metric name (ours first, then pyiqa's), or raise with suggestions."""
    if name in METRIC_SPECS:
        return METRIC_SPECS[name]
    if name in REMOVED:
        raise UnknownNameError(REMOVED[name])
    configs = _pyiqa_configs()
    if name in configs:
        return _pyiqa_spec(name, configs[name])
    hint = did_you_mean(name, list(dict.fromkeys([*METRIC_SPECS, *configs])))
    raise UnknownNameError(f"No metric {name!r}.{hint} See 'iqalign metrics list'.")


class QualityMetric(Protocol):
    """What :func:`create_metric` returns (an :class:`iqalign.scoring.metrics.iqa.Metric`): the
    members the engine, the CLI and notebooks use."""

    spec: MetricSpec
    source: str | None  # the classifier it reads (``name:source``), else None
    column: str  # its column in the scores table (``q_...``)
    key: str  # ``name`` or ``name:source``, as asked for
    weight_files: tuple[str, ...]

    def to(self, device: torch.device) -> QualityMetric:
        """Move any state to ``device``."""
        ...

    def compute(self, view: BatchView) -> torch.Tensor:
        """One value per row of an engine batch."""
        ...

    def __call__(
        self, images: Sequence[np.ndarray], references: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """One float per RGB uint8 image, each at its own size."""
        ...


def create_metric(key: str, weights: dict[str, str] | None = None, **options: Any) -> QualityMetric:
    """Build one metric (``name`` or ``name:source``), loading its weights now.

    Classifier-based metrics get their source's name here; the engine runs that
    classifier once per batch and hands every metric of it the same logits.

    Parameters
    ----------
    key
        The metric's registry name, with ``:source`` for a classifier's or CLIP's Q.
    weights
        Weight file paths by name, for metrics that need files; ``None``: the caches.
    **options
        Passed to the metric's loader.

    Returns
    -------
    Any
        The metric, ready to score batches.
    """
    name, source = split_metric_key(key)
    spec = get_metric_spec(name)
    if spec.source == "clip":
        source = source or f"clip:{DEFAULT_CLIP}"
    elif spec.source is None and source is not None:
        raise UnknownNameError(f"Metric {name!r} takes no ':source' (got {key!r})")
    elif spec.source == "classifier" and source is None:
        raise UnknownNameError(f"Metric {name!r} needs a classifier: write '{name}:<model>'")
    module_name, _, function = spec.loader.partition(":")
    loader = getattr(importlib.import_module(module_name), function)
    return loader(spec, source=source, weights=weights or {}, **options)


def metric_readiness(spec: MetricSpec) -> str:
    """Usable offline now? ``yes``, ``yes (cached)``, ``needs weights`` or ``as its model``.

    Weight files are checked for the paper's learned metrics (CLIP-IQA, ARNIQA, BRISQUE);
    other learned pyiqa metrics say ``needs weights`` without looking (building one tells).
    """
    from iqalign.scoring.models.weights import torch_hub_dir

    if spec.source:
        return "as its model"
    if spec.readiness:
        module_name, _, function = spec.readiness.partition(":")
        ready = getattr(importlib.import_module(module_name), function)()
        return "yes" if ready else "needs model"
    if not spec.loader.endswith("create_pyiqa_metric") or spec.name in PYIQA_WEIGHT_FREE:
        return "yes"
    files = PAPER_PYIQA_FILES.get(spec.name)
    if files and all((torch_hub_dir() / f).is_file() for f in files):
        return "yes (cached)"
    return "needs weights"


def list_metrics(include_pyiqa: bool = True) -> list[MetricSpec]:
    """Every registered metric spec: ours, then (if installed) pyiqa's, sorted by name.

    Parameters
    ----------
    include_pyiqa
        Also list pyiqa's metrics (when pyiqa is installed).

    Returns
    -------
    list[MetricSpec]
        The metric specs.
    """
    specs = list(METRIC_SPECS.values())
    if include_pyiqa:
        with contextlib.suppress(MissingDependencyError):  # listing works without pyiqa
            configs = sorted(_pyiqa_configs().items())
            specs += [_pyiqa_spec(n, c) for n, c in configs if n not in METRIC_SPECS]
    return specs
