"""Exact optimal transport between N softmax vectors and N one-hot labels (COT's cost).

With the cost ``||p_i - e_y||_1 / 2 = 1 - p_iy`` and uniform weights on two sets of N
points, an optimal plan is a permutation (Birkhoff-von Neumann), i.e. an assignment of
the images to the labels: maximise ``sum_i p[i, y(i)]`` with exactly ``counts[y]`` images
given class ``y``. :func:`assign_to_labels` solves it exactly by successive shortest paths
on the K *classes* (not on the N label copies, as a general assignment solver would):

1. Every image starts at its most probable class: optimal without the capacities. With
   class prices ``v`` (all 0), moving image ``j`` from class ``a`` to ``b`` has the
   reduced cost ``p[j, a] - p[j, b] + v[a] - v[b] >= 0``.
2. While a class holds more images than its count, a Dijkstra search over the classes --
   from every over-full class, along edges ``a -> b`` weighted by the cheapest reduced
   move out of ``a`` (:class:`ClassMoves`) -- reaches under-full classes; the prices are
   raised so that every edge of the search tree has zero reduced cost, and each reached
   under-full class, nearest first, receives one image along its tree path (the
   cheapest image of each edge moves one class along), as long as every edge of the
   path is still the one the search used. A search stops after as many under-full
   classes as the last one could serve (doubling while all were served).

Each move keeps every image at a class of zero reduced cost with all reduced costs
``>= 0`` (dual feasibility and complementary slackness) and removes one image of excess,
so when the counts hold the assignment is optimal (LP duality). The tests check it
against ``scipy.optimize.linear_sum_assignment`` on the N x N problem.

Cost: ``N K`` to start, then one move per image of excess (``sum_y max(0, n_y -
counts[y])`` for ``n_y`` images predicting ``y``); a search over the K classes serves one
or many of them. 50,000 x 1,000: ~5 s when the predictions spread over the classes,
~70 s when one class takes every prediction (one search per image). Memory: the
float64 ``N x K`` matrix and two ``K x K`` ones.

Examples
--------
>>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
>>> assign_to_labels(p, np.array([1, 2])).tolist()
[0, 1, 1]
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

__all__ = ["ClassMoves", "assign_to_labels"]

_SMALL_CLASS = 64  # classes up to this size recompute their moves directly
_MIN_CACHE = 32  # moves kept per (class, destination) for larger classes


def assign_to_labels(p: np.ndarray, counts: np.ndarray, **cache: int) -> np.ndarray:
    """The class of each row maximising ``sum_i p[i, class_i]`` with the given class counts.

    ``p`` is float64 ``(N, K)``; ``counts`` are K non-negative integers summing to N.
    ``cache`` (``small``, ``min_cache``) tunes :class:`ClassMoves` (tests only).
    """
    assign = np.argmax(p, axis=1)
    excess = np.bincount(assign, minlength=p.shape[1]) - np.asarray(counts, dtype=np.int64)
    prices = np.zeros(p.shape[1])
    moves = ClassMoves(p, assign, **cache)
    target = 1
    while (excess > 0).any():
        stop_after = min(target, int(np.count_nonzero(excess > 0)))
        dist, pred = _search(moves.cost, prices, excess, stop_after)
        done = _serve(moves, assign, excess, dist, pred)
        target = 2 * target if done >= target else max(1, done)
    return assign


def _search(
    cost: np.ndarray, prices: np.ndarray, excess: np.ndarray, stop_after: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dijkstra over the classes from every over-full one; raises ``prices`` in place.

    ``cost[a, b] + prices[a] - prices[b] >= 0`` is the reduced cost of the cheapest move
    from ``a`` to ``b``. The search stops once ``stop_after`` under-full classes are
    reached (or none is left); then ``prices += min(dist, last distance)`` makes every
    edge of the search tree tight (zero reduced cost) and keeps all reduced costs >= 0.
    Returns the distances (inf where not reached) and the tree (``pred``, -1 at roots).
    """
    k = cost.shape[0]
    sources = np.flatnonzero(excess > 0)
    reach = cost[sources] + (prices[sources][:, None] - prices[None, :])
    nearest = np.argmin(reach, axis=0)
    tentative, pred = reach[nearest, np.arange(k)], sources[nearest]
    tentative[sources], pred[sources] = np.inf, -1
    dist = np.full(k, np.inf)
    dist[sources] = 0.0
    closed = np.zeros(k, dtype=bool)
    closed[sources] = True
    last, reached = 0.0, 0
    while True:
        y = int(tentative.argmin())
        if tentative[y] == np.inf:
            break
        last = dist[y] = tentative[y]
        tentative[y], closed[y] = np.inf, True
        reached += int(excess[y] < 0)
        if reached >= stop_after:
            break
        via = cost[y] + (last + prices[y])
        via -= prices
        via[closed] = np.inf
        better = via < tentative
        np.copyto(tentative, via, where=better)
        np.copyto(pred, y, where=better)
    prices += np.minimum(dist, last)
    return dist, pred


def _serve(
    moves: ClassMoves, assign: np.ndarray, excess: np.ndarray, dist: np.ndarray, pred: np.ndarray
) -> int:
    """Move one image along the tree path of each reached under-full class, nearest first,
    while every move on the path is still the tight one of the search; returns how many."""
    reached = np.flatnonzero(np.isfinite(dist) & (excess < 0))
    heads = np.maximum(pred, 0)
    tight = moves.cost[heads, np.arange(pred.size)]  # the tree edge into each class
    done = 0
    for sink in reached[np.argsort(dist[reached], kind="stable")]:
        path = [int(sink)]
        while pred[path[-1]] >= 0:
            path.append(int(pred[path[-1]]))
        path.reverse()
        steps = list(pairwise(path))
        if excess[path[0]] <= 0 or any(moves.cost[a, b] != tight[b] for a, b in steps):
            continue
        movers = [int(moves.who[a, b]) for a, b in steps]
        assign[movers] = path[1:]
        for j, (a, b) in zip(movers, steps, strict=True):
            moves.leave(a, j)
            moves.join(b, j)
        excess[path[0]] -= 1
        excess[path[-1]] += 1
        done += 1
    return done


class ClassMoves:
    """The cheapest move out of each class: ``cost[a, b] = min_j p[j, a] - p[j, b]`` over
    the images ``j`` now in ``a``, and ``who[a, b]`` that image; kept exact as images move.

    A large class keeps, per destination, its ``r`` cheapest moves (``r`` = 1/16 of its
    size, at least 32) and the images that joined since; when an image leaves, each
    destination it was cheapest for takes its next cached image still in the class, and
    the cache is rebuilt when one runs out. Images outside the cache cost at least the
    cache's last entry, so the minimum stays exact.
    """

    def __init__(self, p: np.ndarray, assign: np.ndarray, *, small: int = _SMALL_CLASS,
                 min_cache: int = _MIN_CACHE) -> None:  # fmt: skip
        k = p.shape[1]
        self.p, self.assign, self.small, self.min_cache = p, assign, small, min_cache
        self.cost = np.full((k, k), np.inf)
        self.who = np.full((k, k), -1, dtype=np.int64)
        self.caches: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]] = {}
        order = np.argsort(assign, kind="stable")
        bounds = np.searchsorted(assign[order], np.arange(k + 1))
        for y in range(k):
            self.rebuild(y, order[bounds[y] : bounds[y + 1]])

    def rebuild(self, y: int, members: np.ndarray | None = None) -> None:
        """Recompute row ``y`` (and its cache) from the images now in class ``y``."""
        members = np.flatnonzero(self.assign == y) if members is None else members
        self.caches.pop(y, None)
        if members.size == 0:
            self.cost[y], self.who[y] = np.inf, -1
            return
        r = max(self.min_cache, members.size // 16)
        if members.size <= max(self.small, r):
            delta = self.p[members, y][:, None] - self.p[members]
            best = np.argmin(delta, axis=0)
            self.cost[y] = delta[best, np.arange(delta.shape[1])]
            self.who[y] = members[best]
            return
        ids, vals = self._cheapest(y, members, r)
        self.cost[y], self.who[y] = vals[0], ids[0]
        self.caches[y] = (ids, vals, np.zeros(self.p.shape[1], dtype=np.int64), [])

    def _cheapest(self, y: int, members: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``r`` cheapest moves of class ``y`` to every class, sorted (``r x K``)."""
        k = self.p.shape[1]
        ids, vals = np.empty((r, k), dtype=np.int64), np.empty((r, k))
        own = self.p[members, y][:, None]
        step = max(1, (1 << 22) // members.size)
        for start in range(0, k, step):
            cols = slice(start, min(start + step, k))
            delta = own - self.p[members, cols]
            top = np.argpartition(delta, r - 1, axis=0)[:r]
            top_vals = np.take_along_axis(delta, top, 0)
            order = np.argsort(top_vals, axis=0, kind="stable")
            ids[:, cols] = members[np.take_along_axis(top, order, 0)]
            vals[:, cols] = np.take_along_axis(top_vals, order, 0)
        return ids, vals

    def join(self, y: int, j: int) -> None:
        """Image ``j`` entered class ``y`` (``assign`` already says so)."""
        delta = self.p[j, y] - self.p[j]
        better = delta < self.cost[y]
        self.cost[y, better], self.who[y, better] = delta[better], j
        if y in self.caches:
            self.caches[y][3].append(j)

    def leave(self, y: int, j: int) -> None:
        """Image ``j`` left class ``y`` (``assign`` already says so)."""
        cols = np.flatnonzero(self.who[y] == j)
        if cols.size == 0:
            return
        if y not in self.caches:
            self._recompute(y, cols)
            return
        ids, vals, ptr, joined = self.caches[y]
        if len(joined) > ids.shape[0]:
            self.rebuild(y)
            return
        todo = cols
        while todo.size:
            todo = todo[self.assign[ids[ptr[todo], todo]] != y]
            ptr[todo] += 1
            if (ptr[todo] >= ids.shape[0]).any():
                self.rebuild(y)
                return
        best, who = vals[ptr[cols], cols], ids[ptr[cols], cols]
        still = np.array([m for m in joined if self.assign[m] == y], dtype=np.int64)
        if still.size:
            delta = self.p[still, y][:, None] - self.p[np.ix_(still, cols)]
            pick = np.argmin(delta, axis=0)
            dj = delta[pick, np.arange(cols.size)]
            best, who = np.minimum(dj, best), np.where(dj < best, still[pick], who)
        self.cost[y, cols], self.who[y, cols] = best, who

    def _recompute(self, y: int, cols: np.ndarray) -> None:
        members = np.flatnonzero(self.assign == y)
        if members.size == 0:
            self.cost[y], self.who[y] = np.inf, -1
            return
        delta = self.p[members, y][:, None] - self.p[np.ix_(members, cols)]
        best = np.argmin(delta, axis=0)
        self.cost[y, cols] = delta[best, np.arange(cols.size)]
        self.who[y, cols] = members[best]
