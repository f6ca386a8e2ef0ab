"""One question each: predictability of M from Q (pooled, per stratum), group
correlations, conditional-independence tests, p_c mixtures, DAG verdicts, and the
simulator of tables with known truth. Built on :mod:`iqalign.stats.core`."""
