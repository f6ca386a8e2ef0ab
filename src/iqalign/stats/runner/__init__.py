"""The analysis runner: the only place that decides which analyses run on a scores
table (:func:`iqalign.stats.run_analysis`), with one failure policy."""
