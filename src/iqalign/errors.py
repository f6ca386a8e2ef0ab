"""The exceptions iqalign raises on purpose.

Every error iqalign raises about user input derives from :class:`IqalignError` and
also from the builtin it resembles, so ``except ValueError`` keeps working for callers
who do not know our hierarchy. Messages say what was expected, what came, and how to
fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

__all__ = [
    "ClaimSyntaxError",
    "ColumnNotFoundError",
    "DagFormatError",
    "DagNotFoundError",
    "DataSourceError",
    "DegenerateDataError",
    "ImageDecodeError",
    "IqalignError",
    "MissingDependencyError",
    "NodeNotFoundError",
    "ParameterError",
    "QueryError",
    "RunMismatchError",
    "ScoresNotFoundError",
    "ScoresTableError",
    "ScoringConfigError",
    "ScoringStoppedError",
    "SimulationError",
    "UnknownNameError",
    "WeightsMismatchError",
    "WeightsNotFoundError",
    "did_you_mean",
]


def did_you_mean(names: str | Iterable[str], choices: Iterable[object], n: int = 3) -> str:
    """`` Did you mean: 'a', 'b'?`` for the choices close to ``names``, or ``""``.

    The one way every message suggests a spelling. ``names`` may be several spellings of
    one request (``"tv"`` and ``"q_tv"``); their matches are merged in order.

    Parameters
    ----------
    names
        The misspelt name, or several spellings of it.
    choices
        The valid names.
    n
        The most close matches per spelling.

    Returns
    -------
    str
        The suggestion, with a leading space, or ``""`` when nothing is close.

    Examples
    --------
    >>> did_you_mean("clipiqa+x", ["clipiqa+", "clipiqa", "piqe"])
    " Did you mean: 'clipiqa+', 'clipiqa'?"
    >>> did_you_mean("zzz", ["clipiqa"])
    ''
    """
    options = [str(c) for c in choices]
    wanted = [names] if isinstance(names, str) else list(names)
    close = [match for name in wanted for match in get_close_matches(name, options, n=n)]
    unique = list(dict.fromkeys(close))
    return f" Did you mean: {', '.join(repr(c) for c in unique)}?" if unique else ""


class IqalignError(Exception):
    """Base class of every error iqalign raises on purpose."""


class _LookupMessage(KeyError):
    """A KeyError whose ``str()`` is the message itself (KeyError would ``repr()`` it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# ------------------------------------------------------------------------- causal


class DagFormatError(IqalignError, ValueError):
    """A DAG file or text is malformed (``file: field: problem``)."""


class DagNotFoundError(IqalignError, FileNotFoundError):
    """Neither a built-in DAG nor a readable file has this name."""


class NodeNotFoundError(IqalignError, _LookupMessage):
    """A query names a node that the DAG does not declare."""


class ClaimSyntaxError(IqalignError, ValueError):
    """A claim such as ``"Q _||_ M | X"`` cannot be parsed."""


class QueryError(IqalignError, ValueError):
    """A d-separation query whose sets overlap or are empty."""


class MissingDependencyError(IqalignError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


# -------------------------------------------------------------------------- stats


class ScoresTableError(IqalignError, ValueError):
    """A scores table cannot be analysed as given (empty, non-binary M, non-finite Q, ...)."""


class ColumnNotFoundError(IqalignError, _LookupMessage):
    """A scores table lacks a column an analysis needs; the message suggests close names."""


class ScoresNotFoundError(IqalignError, FileNotFoundError):
    """No scores table (Parquet file or folder of shards) at the given path."""


class ParameterError(IqalignError, ValueError):
    """A statistics setting (alpha, folds, C, resamples, margin) outside its valid range."""


class DegenerateDataError(IqalignError, ValueError):
    """The data leave a statistic undefined (one class of M, constant Q, no usable stratum)."""


class TooFewClustersError(DegenerateDataError):
    """A cluster-robust test refused: its clusters (image IDs) carry ``df`` Bell-McCaffrey
    degrees of freedom, fewer than the ``min_df`` it needs to hold its level."""

    def __init__(self, message: str, df: float, n_clusters: int, min_df: float) -> None:
        super().__init__(message)
        self.df, self.n_clusters, self.min_df = df, n_clusters, min_df

    def __reduce__(self):  # picklable with its fields (worker processes send results back)
        return (type(self), (str(self), self.df, self.n_clusters, self.min_df))


class SimulationError(IqalignError, ValueError):
    """A synthetic-data request names an unknown edge, layout or an impossible setting."""


# ------------------------------------------------------------------------ scoring


class ScoringConfigError(IqalignError, ValueError):
    """A scoring setting (CLI option or config-file field) has a value that cannot work."""


class UnknownNameError(IqalignError, _LookupMessage):
    """A metric, model, corruption or data layout name that no registry holds."""


class WeightsNotFoundError(IqalignError, FileNotFoundError):
    """A weight file is missing and cannot be downloaded; the message lists the places looked in."""


class ScoringStoppedError(IqalignError, RuntimeError):
    """A scoring run stopped because images kept failing the same way (see scoring.failures)."""


class WeightsMismatchError(IqalignError, ValueError):
    """A weight file under a published, hash-carrying name does not have that hash."""


class DataSourceError(IqalignError, ValueError):
    """A data folder, label file or image layout that cannot be read as asked."""


class ImageDecodeError(IqalignError, ValueError):
    """One image cannot be decoded (truncated, not an image, too large); the run skips it."""


class RunMismatchError(IqalignError, ValueError):
    """An output folder holds a run with different settings, so it cannot be resumed."""
