"""The exceptions iqalign raises on purpose.

Every error iqalign raises about user input derives from :class:`IqalignError` and
also from the builtin it resembles, so ``except ValueError`` keeps working for callers
who do not know our hierarchy. Messages say what was expected, what came, and how to
fix it.
"""

from __future__ import annotations

__all__ = [
    "ClaimSyntaxError",
    "DagFormatError",
    "DagNotFoundError",
    "DataSourceError",
    "ImageDecodeError",
    "IqalignError",
    "MissingDependencyError",
    "NodeNotFoundError",
    "QueryError",
    "RunMismatchError",
    "ScoringConfigError",
    "UnknownNameError",
    "WeightsNotFoundError",
]


class IqalignError(Exception):
    """Base class of every error iqalign raises on purpose."""


class DagFormatError(IqalignError, ValueError):
    """A DAG file or text is malformed (``file: field: problem``)."""


class DagNotFoundError(IqalignError, FileNotFoundError):
    """Neither a built-in DAG nor a readable file has this name."""


class NodeNotFoundError(IqalignError, KeyError):
    """A query names a node that the DAG does not declare."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ClaimSyntaxError(IqalignError, ValueError):
    """A claim such as ``"Q _||_ M | X"`` cannot be parsed."""


class MissingDependencyError(IqalignError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class QueryError(IqalignError, ValueError):
    """A d-separation query whose sets overlap or are empty."""


class ScoringConfigError(IqalignError, ValueError):
    """A scoring setting (CLI option or config-file field) has a value that cannot work."""


class UnknownNameError(IqalignError, KeyError):
    """A metric, model, corruption or data layout name that no registry holds."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(IqalignError, FileNotFoundError):
    """A weight file is missing and cannot be downloaded; the message lists the places looked in."""


class DataSourceError(IqalignError, ValueError):
    """A data folder, label file or image layout that cannot be read as asked."""


class ImageDecodeError(IqalignError, ValueError):
    """One image cannot be decoded (truncated, not an image, too large); the run skips it."""


class RunMismatchError(IqalignError, ValueError):
    """An output folder holds a run with different settings, so it cannot be resumed."""
