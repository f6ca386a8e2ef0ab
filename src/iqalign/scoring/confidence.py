"""Quality scores read off a classifier's logits, and label-free accuracy estimators.

Strong task-guided IQA (paper Sec. 5.1; ``tg_*``) and ZSCLIP-IQA (Sec. 5.2; ``zsclip_*``)
share three variants of logits l, p = softmax(l):

- ``maxprob``: max_k p_k (higher = more confident = "better quality");
- ``entropy``: -sum_k p_k log p_k -- a *negative* quality signal: the manifest records
  ``higher_is_better: false`` and the value is never flipped;
- ``maxlogit``: max_k l_k / tau (tau = 1 for ordinary nets; for zero-shot CLIP it undoes the
  logit scale, giving the max cosine similarity).

Accuracy estimators (``accuracy_estimator`` family) compare "quality predicts
performance" with the literature's confidence-based baselines:

- ``msp``: max softmax probability per image (Hendrycks & Gimpel 2017).
- ``atc`` / ``atc_ne``: Average Thresholded Confidence (Garg et al. 2022). A threshold t
  is fitted on the run's clean rows so that the fraction of clean images with score > t
  equals the clean accuracy; the per-image column is 1[score > t], whose mean over any
  group is ATC's estimate of that group's accuracy. Score: MSP (``atc``) or negative
  entropy (``atc_ne``).
- ``doc``: Difference of Confidences (Guillory et al. 2021). Per image: MSP - (mean clean
  MSP - clean accuracy); its group mean is DoC's accuracy estimate.

ATC and DoC need the whole run's clean rows, so during scoring their columns hold the raw
score, and :func:`fit_estimators` / :func:`apply_estimators` turn it into the final
column once every shard exists (again, identically, after a resume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from iqalign.errors import ScoringConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "EstimatorFit",
    "apply_estimator",
    "fit_atc_threshold",
    "fit_estimator",
    "logit_score",
]

# kind -> what the raw column holds while the run is in progress
RAW_SCORE = {"atc": "maxprob", "atc_ne": "negentropy", "doc": "maxprob"}


def logit_score(kind: str, logits: torch.Tensor, logit_scale: float = 1.0) -> torch.Tensor:
    """``maxprob``, ``entropy``, ``negentropy`` or ``maxlogit`` of each row of ``logits``."""
    import torch

    logits = logits.float()
    if kind == "maxlogit":
        return logits.max(dim=1).values / logit_scale
    log_p = torch.log_softmax(logits, dim=1)
    if kind == "maxprob":
        return log_p.max(dim=1).values.exp()
    entropy = -(log_p.exp() * log_p).sum(dim=1)
    if kind == "entropy":
        return entropy
    if kind == "negentropy":
        return -entropy
    raise ValueError(f"unknown logit score {kind!r}")


@dataclass(frozen=True)
class EstimatorFit:
    """What ATC/DoC learned from the clean rows (recorded in the manifest)."""

    kind: str
    score: str
    parameter: float  # ATC: threshold t; DoC: offset (mean clean MSP - clean accuracy)
    n_clean: int
    clean_accuracy: float | None
    source: str  # "clean rows" or "config"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        name = "threshold" if self.kind.startswith("atc") else "offset"
        return {
            "kind": self.kind, "score_function": self.score, name: self.parameter,
            "n_clean": self.n_clean, "clean_accuracy": self.clean_accuracy,
            "fitted_on": self.source,
        }  # fmt: skip


def fit_atc_threshold(scores: np.ndarray, correct: np.ndarray) -> float:
    """t with ``mean(scores > t) == mean(correct)`` (as nearly as the sample allows).

    Examples
    --------
    >>> t = fit_atc_threshold(np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 1, 1, 0]))
    >>> float(np.mean(np.array([0.1, 0.4, 0.6, 0.9]) > t))
    0.5
    """
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n_above = round(float(np.mean(correct)) * len(ordered))
    if n_above >= len(ordered):
        return float(np.nextafter(ordered[0], -np.inf))
    return float(ordered[len(ordered) - n_above - 1])


def fit_estimator(
    kind: str,
    clean_scores: np.ndarray,
    clean_correct: np.ndarray,
    *,
    column: str,
    given: float | None = None,
) -> EstimatorFit:
    """Fit ATC's threshold or DoC's offset on clean rows, or take ``given`` from the config."""
    score = RAW_SCORE[kind]
    if given is not None:
        return EstimatorFit(kind, score, float(given), 0, None, "config")
    if len(clean_scores) == 0:
        setting = config_setting(kind)
        raise ScoringConfigError(
            f"{column}: {kind} is fitted on the run's clean rows, and this run has none "
            f"(e.g. an ImageNet-C folder). Give it in the config: [score.{setting}] "
            f"<model> = <value>, fitted on clean data of the same model."
        )
    accuracy = float(np.mean(clean_correct))
    if kind.startswith("atc"):
        parameter = fit_atc_threshold(clean_scores, clean_correct)
    else:
        parameter = float(np.mean(clean_scores)) - accuracy
    return EstimatorFit(kind, score, parameter, len(clean_scores), accuracy, "clean rows")


def config_setting(kind: str) -> str:
    """The config table that gives ``kind``'s parameter for runs without clean rows."""
    return "atc_thresholds" if kind.startswith("atc") else "doc_offsets"


def estimator_label(kind: str) -> str:
    """``ATC`` or ``DoC``, for the manifest."""
    return "ATC" if kind.startswith("atc") else "DoC"


def apply_estimator(fit: EstimatorFit, raw: np.ndarray) -> np.ndarray:
    """Raw per-image score -> final column (ATC: 1[score > t]; DoC: MSP - offset)."""
    raw = np.asarray(raw, dtype=np.float64)
    if fit.kind.startswith("atc"):
        return np.where(np.isnan(raw), np.nan, (raw > fit.parameter).astype(np.float64))
    return raw - fit.parameter
