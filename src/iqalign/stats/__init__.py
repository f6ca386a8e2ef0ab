"""iqalign.stats: predictability of M from Q, group correlations, conditional-independence
tests and verdicts (no torch)."""
