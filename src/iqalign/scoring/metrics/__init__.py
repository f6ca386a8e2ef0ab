"""The quality metrics Q: the registry (:mod:`.registry`, one spec per metric), pyiqa
metrics, published BRISQUE, classifier confidence, zero-shot CLIP, and the per-image
metrics that run in the loader workers."""
