"""Will a Ray run progress? The actors and the rendering tasks against the cluster's nodes.

A Ray run needs two kinds of work running at once: the scoring actors, which hold their
CPUs (and GPUs) for the whole run, and the rendering tasks, which need a free CPU each.
A plan whose actors take every CPU never renders a picture, and Ray waits for resources
forever without a word. So, before a run starts, :func:`check_plan` refuses a plan that
cannot progress, and while it runs :class:`StallWatch` says what it waits for when no
batch has come back for :data:`STALL_S` seconds.

The check is per node, because an actor's CPUs and GPUs must all be on one node: two
1-CPU nodes hold two 1-CPU actors, but then no CPU is left for rendering. The actors are
identical, so each node holds ``min(CPUs // cpus_per_actor, GPUs // gpus_per_actor)`` of
them, whatever the other nodes do; the best plan keeps the rendering CPU on the node
where that costs the fewest actors (:func:`max_actors`). The choice made here: an
``--actors N`` that does not fit is refused (exit 2) rather than silently shrunk or given
fractional CPUs -- an actor's torch threads follow the CPUs it holds, and fractions
could leave a fraction of a CPU free on every node, which Ray may do whatever the totals
say. The default actor count is capped to what fits, which keeps one CPU for rendering.

This module imports no Ray: the cluster comes in as plain per-node numbers.

Examples
--------
>>> two_small_nodes = [Node(cpus=1, gpus=0), Node(cpus=1, gpus=0)]
>>> max_actors(two_small_nodes, cpus_per_actor=1, gpus_per_actor=0)
1
>>> max_actors([Node(cpus=8, gpus=4)], cpus_per_actor=1, gpus_per_actor=1)
4
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from iqalign.errors import ScoringConfigError

__all__ = [
    "RENDER_CPUS", "STALL_S", "Node", "StallWatch", "check_plan", "describe_nodes",
    "max_actors", "say",
]  # fmt: skip

# CPUs one rendering task asks for (the CPU stage's num_cpus in ray_backend).
RENDER_CPUS = 1.0
# A run that gets no batch back for this long says what it waits for, and again every
# STALL_S while nothing comes: long enough for actors to start and load their weights.
STALL_S = 300.0
# Float division: 0.3 / 0.1 is 2.999..., which must count as 3 actors (Ray counts in 1e-4).
_EPS = 1e-6
# An actor that asks for no CPU and no GPU: no node limits how many it holds.
_UNBOUNDED = 10**6


@dataclass(frozen=True)
class Node:
    """A live node's total CPUs and GPUs (as Ray counts them)."""

    cpus: float
    gpus: float


def _holds(cpus: float, gpus: float, cpus_per_actor: float, gpus_per_actor: float) -> int:
    """How many actors fit into ``cpus`` and ``gpus`` (-1 if the node is over-committed)."""
    if cpus < -_EPS or gpus < -_EPS:
        return -1
    fits = [
        math.floor(have / need + _EPS)
        for have, need in ((cpus, cpus_per_actor), (gpus, gpus_per_actor))
        if need > 0
    ]
    return min(fits) if fits else _UNBOUNDED


def max_actors(nodes: Iterable[Node], cpus_per_actor: float, gpus_per_actor: float) -> int:
    """The most actors the nodes hold while one node keeps a CPU for rendering (0: none).

    Examples
    --------
    >>> max_actors([Node(cpus=2, gpus=0)], cpus_per_actor=1, gpus_per_actor=0)
    1
    >>> max_actors([Node(cpus=4, gpus=2), Node(cpus=1, gpus=0)], 1, 1)  # renders on node 2
    2
    >>> max_actors([Node(cpus=1, gpus=1)], cpus_per_actor=1, gpus_per_actor=1)
    0
    """
    nodes = list(nodes)
    alone = [_holds(n.cpus, n.gpus, cpus_per_actor, gpus_per_actor) for n in nodes]
    total = sum(alone)
    plans = [
        total - held + _holds(n.cpus - RENDER_CPUS, n.gpus, cpus_per_actor, gpus_per_actor)
        for n, held in zip(nodes, alone, strict=True)
        if n.cpus >= RENDER_CPUS - _EPS
    ]
    return max(0, *plans) if plans else 0


def check_plan(
    nodes: list[Node],
    actors: int,
    cpus_per_actor: float,
    gpus_per_actor: float,
    where: str,
    *,
    default: bool = False,
) -> int:
    """How many actors to start: ``actors`` if they fit beside one rendering CPU.

    A ``default`` count (the user gave no ``--actors``) is capped to what fits; a count
    the user gave is never changed. Raises :class:`~iqalign.errors.ScoringConfigError`
    (the CLI's exit 2) for a plan that cannot progress, naming the cluster's CPUs and GPUs,
    the ``--actors`` that would fit and how to fix it.

    Examples
    --------
    >>> check_plan([Node(2, 0)], 1, 1.0, 0.0, "the local Ray cluster")
    1
    >>> check_plan([Node(8, 0)], 16, 1.0, 0.0, "here", default=True)
    7
    """
    most = max_actors(nodes, cpus_per_actor, gpus_per_actor)
    if most and (default or actors <= most):
        return min(actors, most)
    asked = f"--actors {actors}" if not default else f"--actors (default: {actors})"
    if most:
        fix = f"use --actors {most} or fewer (or leave --actors out)"
    else:
        fix = "add CPUs: one node must hold an actor, and one CPU must be left for rendering"
        fix += ", or give each actor less with --gpus-per-actor" if gpus_per_actor else ""
    raise ScoringConfigError(
        f"{asked}: {where} ({describe_nodes(nodes)}) cannot run {actors} scoring "
        f"actor{'s' * (actors != 1)} ({_resources(cpus_per_actor, gpus_per_actor)} each, "
        f"on one node) and keep {RENDER_CPUS:g} CPU free for the rendering tasks, so the "
        f"run would wait forever; at most {most} fit{'s' * (most == 1)}. To fix it, {fix}"
    )


def describe_nodes(nodes: Iterable[Node]) -> str:
    """``2 CPUs, 0 GPUs on 2 nodes: 2 x (1 CPU, 0 GPUs)`` -- identical nodes counted once.

    Examples
    --------
    >>> describe_nodes([Node(1, 0), Node(1, 0)])
    '2 CPUs, 0 GPUs on 2 nodes: 2 x (1 CPU, 0 GPUs)'
    """
    nodes = list(nodes)
    kinds = Counter(nodes)
    parts = ", ".join(f"{n} x ({_resources(k.cpus, k.gpus)})" for k, n in kinds.items())
    total = _resources(sum(n.cpus for n in nodes), sum(n.gpus for n in nodes))
    return f"{total} on {len(nodes)} node{'s' * (len(nodes) != 1)}: {parts}"


def _resources(cpus: float, gpus: float) -> str:
    return f"{cpus:g} CPU{'s' * (cpus != 1)}, {gpus:g} GPU{'s' * (gpus != 1)}"


def say(line: str) -> None:
    """One line on stderr (above the CLI's progress bar, which redirects stderr)."""
    print(line, file=sys.stderr, flush=True)


class StallWatch:
    """Calls ``report(describe(idle_s))`` once nothing progressed for ``stall_s``; repeats.

    ``tick()`` marks progress; ``report`` defaults to :func:`say` (stderr). The watch runs
    on its own thread while the caller blocks waiting for results. It only reports, and
    never stops the run: a first batch behind a slow weight load, or a node still joining,
    is no hang, and a run stopped by hand keeps its finished shards, so the user decides
    (Ctrl-C). Ray Data itself fails a run with no progress at all after 30 min
    (``RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S``).

    Examples
    --------
    >>> lines = []
    >>> with StallWatch(0.05, lambda idle: f"idle {idle >= 0.05}", lines.append):
    ...     time.sleep(0.2)
    >>> lines[0]
    'idle True'
    """

    def __init__(
        self,
        stall_s: float,
        describe: Callable[[float], str],
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.stall_s, self.describe, self.report = stall_s, describe, report or say
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="iqalign-stall", daemon=True)

    def tick(self) -> None:
        """Progress: the clock starts again."""
        self._last = time.monotonic()

    def __enter__(self) -> StallWatch:
        self._last = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        said = -math.inf  # when the last report went out: the next is stall_s after it
        while True:
            since = max(self._last, said)
            if self._stop.wait(since + self.stall_s - time.monotonic()):
                return
            now = time.monotonic()
            if now - max(self._last, said) < self.stall_s:
                continue  # progress came while we slept
            try:
                line = self.describe(now - self._last)
            except Exception as err:  # the cluster may be what is failing: still say it
                line = f"no progress for {now - self._last:.0f} s (asking Ray why: {err!r})"
            self.report(line)
            said = now
