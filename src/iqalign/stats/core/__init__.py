"""The numeric cores every analysis shares: reading and coding a scores table, the memo
of shared work, compiled kernels, AUC, logistic fits, splits, cluster cells, the result
records, the argument checks (``arguments``) and the measured interval coverage. Nothing
here imports an analysis, the estimation or the runner (the import direction is
core <- analyses <- estimation, runner)."""
