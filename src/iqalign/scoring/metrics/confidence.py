"""Quality scores read off a classifier's logits.

Strong task-guided IQA (paper Sec. 5.1; ``tg_*``) and ZSCLIP-IQA (Sec. 5.2; ``zsclip_*``)
share three variants of logits l, p = softmax(l):

- ``maxprob``: max_k p_k (higher = more confident = "better quality");
- ``entropy``: -sum_k p_k log p_k -- a *negative* quality signal: the manifest records
  ``higher_is_better: false`` and the value is never flipped;
- ``maxlogit``: max_k l_k / tau (tau = 1 for ordinary nets; for zero-shot CLIP it undoes the
  logit scale, giving the max cosine similarity).

The label-free accuracy estimators the field compares with (MSP, ATC, DoC, ...) are not
per-image columns: ``iqalign estimate`` (:mod:`iqalign.stats.estimation.accuracy`) computes them
from ``tg_maxprob`` / ``tg_entropy``, fitted on the source images its protocol chooses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["logit_score"]


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
