"""Label-free accuracy estimation: the protocol (:mod:`.accuracy`), the estimators
from the literature (:mod:`.label_free`, :mod:`.estimators`) and their builders."""

from iqalign.stats.estimation.accuracy import (
    BUILDERS,
    PROTOCOLS,
    TRACK_MEANING,
    TRACKS,
    Builder,
    EstimationData,
    EstimationResult,
    Estimator,
    SortedSource,
    compare_within_tracks,
    describe_comparison,
    estimate_accuracy,
    read_log_probs,
)

__all__ = [
    "BUILDERS",
    "PROTOCOLS",
    "TRACKS",
    "TRACK_MEANING",
    "Builder",
    "EstimationData",
    "EstimationResult",
    "Estimator",
    "SortedSource",
    "compare_within_tracks",
    "describe_comparison",
    "estimate_accuracy",
    "read_log_probs",
]
