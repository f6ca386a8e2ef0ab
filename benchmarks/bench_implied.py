"""Benchmark of ``iqalign dag implied``: implied independencies of random DAGs, 10-40 nodes.

For each node count and mean degree, ``--graphs`` random DAGs (edges from lower to higher
index with probability degree/(n-1); each node latent with probability ``--latent``) are
listed in both modes through :func:`iqalign.causal.list_implied_independencies`; the
slowest and median graph are reported with the number of implications listed. The CLI
itself (``python -m iqalign dag implied FILE --all``, a fresh process: import and file
reading included) is timed on the slowest 20- and 40-node graphs, and on the paper's
6-node baseline DAG for the start-up cost alone. The exponential subset
search that the listing replaced (``implied._separators_by_search``, the deterministic
reading's method) is timed on the small graphs for comparison.

Targets (issue 13): ``implied --all`` under 1 s for 20-node graphs, under 10 s for 40.
The last line printed is one JSON object. Run: ``PYTHONPATH=src python
benchmarks/bench_implied.py`` (``--graphs 2`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from iqalign.causal import Dag, Edge, Node, Reading, format_dagitty, implied
from iqalign.causal import list_implied_independencies as list_implied


def random_dag(rng: np.random.Generator, n: int, degree: float, p_latent: float) -> Dag:
    names = [f"V{i}" for i in range(n)]
    p = min(1.0, degree / (n - 1))
    edges = [
        Edge(names[i], names[j]) for i in range(n) for j in range(i + 1, n) if rng.random() < p
    ]
    roles = ["latent" if rng.random() < p_latent else "observed" for _ in names]
    nodes = tuple(Node(name, role=role) for name, role in zip(names, roles, strict=True))  # type: ignore[arg-type]
    return Dag(name=f"random{n}", nodes=nodes, edges=tuple(edges or [Edge("V0", "V1")]))


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def _subset_search_s(dag: Dag) -> float:
    start = time.perf_counter()
    for u, v in implied._non_adjacent_pairs(dag, sorted(dag.observable)):
        implied._separators_by_search(dag, u, v, Reading(), "all")
    return time.perf_counter() - start


def _cli_s(dag: Dag | None) -> float:
    """Wall time of ``iqalign dag implied FILE --all`` (the 6-node baseline DAG for None)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graph.dagitty"
        path.write_text(format_dagitty(dag) if dag else "")
        target = str(path) if dag else "baseline"
        command = [sys.executable, "-m", "iqalign", "dag", "implied", target, "--all"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", type=int, default=5, help="random DAGs per cell")
    parser.add_argument("--latent", type=float, default=0.2, help="share of latent nodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset-max", type=int, default=14, help="largest n for the old search")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, slowest = [], {}
    load_before = os.getloadavg()
    for n in (10, 15, 20, 25, 30, 35, 40):
        for degree in (2.0, 3.0, 4.0):
            times, counts, basis_times, subset = [], [], [], []
            for _ in range(args.graphs):
                dag = random_dag(rng, n, degree, args.latent)
                claims, seconds = _timed(list_implied, dag, mode="all")
                _, basis_seconds = _timed(list_implied, dag, mode="basis")
                times.append(seconds)
                basis_times.append(basis_seconds)
                counts.append(len(claims))
                if n <= args.subset_max:
                    subset.append(_subset_search_s(dag))
                if seconds >= slowest.get(n, (None, -1.0))[1]:
                    slowest[n] = (dag, seconds)
            rows.append(
                {
                    "nodes": n,
                    "degree": degree,
                    "all_max_s": round(max(times), 4),
                    "all_median_s": round(statistics.median(times), 4),
                    "basis_max_s": round(max(basis_times), 4),
                    "implications_max": max(counts),
                    "subset_search_max_s": round(max(subset), 3) if subset else None,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    cli = {n: round(_cli_s(slowest[n][0]), 3) for n in (20, 40)}
    cli["baseline"] = round(_cli_s(None), 3)  # start-up: import, file, a 6-node DAG
    result = {
        "rows": rows,
        "cli_all_s": cli,
        "max_all_s_20": max(r["all_max_s"] for r in rows if r["nodes"] == 20),
        "max_all_s_40": max(r["all_max_s"] for r in rows if r["nodes"] == 40),
        "graphs_per_cell": args.graphs,
        "latent_share": args.latent,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
