"""What a job of the analysis runner gives: a :class:`Result` or a :class:`Failure`.

A job either computed its value or could not run on these data (planned with a reason,
or an :class:`~iqalign.errors.IqalignError` said why); both travel back from a worker
as one :data:`Outcome`, and :class:`JobResult` keeps it with its job and its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from iqalign.stats.runner.kinds import Job

__all__ = ["Failure", "JobResult", "Outcome", "Result"]

T = TypeVar("T")


@dataclass(frozen=True)
class Result(Generic[T]):
    """A job's value (the result object of the library function it called)."""

    value: T


@dataclass(frozen=True)
class Failure:
    """Why a job could not run on these data (a row of ``failures.csv``)."""

    reason: str


Outcome = Result[Any] | Failure


@dataclass(frozen=True)
class JobResult:
    """One job, its outcome and the seconds it took."""

    job: Job
    outcome: Outcome
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Result)

    @property
    def value(self) -> Any:
        """The job's value (a :class:`Failure` has none: asking for it is a bug)."""
        if not isinstance(self.outcome, Result):
            raise AttributeError(f"{self.job.analysis} failed: {self.outcome.reason}")
        return self.outcome.value
