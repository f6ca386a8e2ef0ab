"""iqalign.stats: does quality Q predict performance M, and do the data agree with a DAG?

Every function takes a scores table (a DataFrame, a Parquet file or a folder of shards;
see :mod:`iqalign.stats.core.table`) and the Q and M columns, and returns a frozen result with
``to_dict()`` and ``to_frame()``. ``*_score`` is higher-better, ``*_loss`` lower-better.
Every result reports n, the strata used and skipped, and the prior-only baseline.

- :func:`predictability` -- pooled held-out AUC and cross-entropy of P(M | Q) (paper 4.2);
- :func:`group_correlations` -- mean Q vs accuracy across (corruption, severity) groups,
  cluster-bootstrap intervals over image IDs (Fig. 3/5/7);
- :func:`stratified_cv` -- k-fold AUC/CE within strata, vectorised (Appendix G);
- :func:`ci_test` -- conditional-independence tests with effect sizes; :func:`holm_adjust`;
- :func:`mixture_predictability` -- the p_c mixtures of clean and corrupted images (6.3);
- :func:`run_verdicts` -- every testable claim of a DAG, with a verdict by a written rule;
- :func:`simulate_scores` -- synthetic tables from any DAG, with known truth;
- :func:`estimate_accuracy` -- label-free accuracy estimators (AC, DoC, ATC, Q-based)
  fitted on held-out image IDs and scored on held-out corruptions or mixtures;
- :func:`run_analysis` -- the runner: every analysis on every (model, metric) pair of a
  table and every DAG's claims, one failure policy (:mod:`iqalign.stats.runner.analysis`).

Importing this package is fast and never imports torch or :mod:`iqalign.scoring`;
statsmodels and scikit-learn are imported inside the functions that need them.

Examples
--------
>>> from iqalign.stats import simulate_scores, stratified_cv
>>> table = simulate_scores("common_corruptions", n_ids=40, seed=0)
>>> result = stratified_cv(table, "q_sim", "correct_sim", by="image_id")
>>> 0.5 < result.mean_auc_score < 0.8
True
"""

from iqalign.stats.analyses.citests import CI_TESTS, CITestResult, ci_test, holm_adjust
from iqalign.stats.analyses.groups import GroupCorrelationResult, group_correlations
from iqalign.stats.analyses.mixtures import MixtureResult, make_mixture, mixture_predictability
from iqalign.stats.analyses.predictability import PredictabilityResult, predictability
from iqalign.stats.analyses.simulate import simulate_scores
from iqalign.stats.analyses.stratified import StratifiedCVResult, stratified_cv
from iqalign.stats.analyses.verdicts import VERDICTS, VerdictResult, decide_verdict, run_verdicts
from iqalign.stats.core.auc import delong_ci, grouped_roc_auc, roc_auc_score
from iqalign.stats.core.logistic import PENALTIES, LogisticFits, fit_grouped_logistic
from iqalign.stats.core.table import load_scores, prepare_scores
from iqalign.stats.estimation.accuracy import EstimationResult, estimate_accuracy
from iqalign.stats.runner.analysis import AnalysisResult, AnalysisSettings, run_analysis

__all__ = [
    "CI_TESTS",
    "PENALTIES",
    "VERDICTS",
    "AnalysisResult",
    "AnalysisSettings",
    "CITestResult",
    "EstimationResult",
    "GroupCorrelationResult",
    "LogisticFits",
    "MixtureResult",
    "PredictabilityResult",
    "StratifiedCVResult",
    "VerdictResult",
    "ci_test",
    "decide_verdict",
    "delong_ci",
    "estimate_accuracy",
    "fit_grouped_logistic",
    "group_correlations",
    "grouped_roc_auc",
    "holm_adjust",
    "load_scores",
    "make_mixture",
    "mixture_predictability",
    "predictability",
    "prepare_scores",
    "roc_auc_score",
    "run_analysis",
    "run_verdicts",
    "simulate_scores",
    "stratified_cv",
]
