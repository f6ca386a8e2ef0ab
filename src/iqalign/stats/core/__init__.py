"""The numeric cores every analysis shares: reading and coding a scores table, the memo
of shared work, compiled kernels, AUC, logistic fits, splits, cluster cells, the result
records and the input checks. Nothing here imports an analysis, the estimation or the
runner (the import direction is core <- analyses <- estimation, runner)."""
