"""The task models M: the registry (:mod:`.registry`), their loaders and the weight
files they need (checked by hash, offline first)."""
