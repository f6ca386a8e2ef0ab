"""The exceptions iqalign raises on purpose.

Every error iqalign raises about user input derives from :class:`IqalignError` and
also from the builtin it resembles, so ``except ValueError`` keeps working for callers
who do not know our hierarchy. Messages say what was expected, what came, and how to
fix it.
"""

from __future__ import annotations

__all__ = [
    "ClaimSyntaxError",
    "ColumnNotFoundError",
    "DagFormatError",
    "DagNotFoundError",
    "DegenerateDataError",
    "IqalignError",
    "MissingDependencyError",
    "NodeNotFoundError",
    "QueryError",
    "ScoresNotFoundError",
    "ScoresTableError",
    "SimulationError",
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


class ScoresTableError(IqalignError, ValueError):
    """A scores table cannot be analysed as given (empty, non-binary M, non-finite Q, ...)."""


class ColumnNotFoundError(IqalignError, KeyError):
    """A scores table lacks a column an analysis needs; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ScoresNotFoundError(IqalignError, FileNotFoundError):
    """No scores table (Parquet file or folder of shards) at the given path."""


class DegenerateDataError(IqalignError, ValueError):
    """The data leave a statistic undefined (one class of M, constant Q, no usable stratum)."""


class SimulationError(IqalignError, ValueError):
    """A synthetic-data request names an unknown edge, layout or an impossible setting."""
