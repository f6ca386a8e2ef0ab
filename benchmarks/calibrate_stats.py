"""Measure the level of every CI test and the coverage of every interval; write the table.

Runs :mod:`iqalign.stats.calibration` (a seeded generator of ImageNet-C-shaped tables,
Q and M both clustered by image ID, known truth):

- rejection rate under the null of the ``score`` and ``cmh`` tests (``lr`` refuses
  clustered tables) at 2, 3, 10 and 50 image IDs per stratum, strata = label or
  (corruption, severity), ``--rejection-reps`` replicates each (default 1000);
- coverage of the pooled AUC intervals and of the group-correlation intervals at 200
  and 500 image IDs, ``--coverage-reps`` replicates each (default 400; Spearman and
  Kendall, whose intervals are labelled rather than printed, ``--rank-reps``, 100).

``--part rejection|pooled|groups`` runs one part (they can run in parallel; each merges
into ``benchmarks/calibration.json``). Once all parts are there it writes the measured
table in ``docs/stats.md`` (between the ``calibration`` markers) and
``src/iqalign/stats/calibration_measured.json``, which the report and CLI read to label
intervals that did not reach their level. Prints one JSON
object as its last line. Run: ``PYTHONPATH=src python benchmarks/calibrate_stats.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"
PARTS = ("rejection", "pooled", "groups")
_RANKS = ("spearman", "kendall")


def measure(part: str, rejection_reps: int, coverage_reps: int, rank_reps: int) -> dict:
    """One part of the calibration ("rejection", "pooled", "groups"), printed as it goes."""
    from iqalign.stats.calibration import group_coverage, pooled_auc_coverage, rejection_rates

    started = time.perf_counter()
    rows: list[dict] = []
    if part == "rejection":
        settings = [
            (test, strata, k)
            for test in ("score", "cmh")
            for strata in ("label", "condition")
            for k in (2, 3, 10, 50)
        ]
        for test, strata, k in settings:
            rows.append(rejection_rates(test, strata, k, rejection_reps))
            print(json.dumps(rows[-1]), flush=True)
    elif part == "pooled":
        rows = [pooled_auc_coverage(n, coverage_reps) for n in (200, 500)]
    else:  # rank correlations: fewer replicates (their interval is labelled, not printed)
        rows = [
            row
            for n in (200, 500)
            for methods, reps in ((("pearson",), coverage_reps), (_RANKS, rank_reps))
            for row in group_coverage(n, reps, methods=methods)
        ]
    return {
        part: rows,
        f"{part}_seconds": round(time.perf_counter() - started, 1),
        f"{part}_loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _pct(value: float) -> str:
    return "—" if value != value else f"{100 * value:.1f}%"


def render(result: dict) -> str:
    lines = [
        START,
        "",
        "Measured by `benchmarks/calibrate_stats.py` (seconds and 1-minute load average "
        f"per part: rejection {result['rejection_seconds']:.0f} s, load "
        f"{result['rejection_loadavg'][0]:.1f}; pooled {result['pooled_seconds']:.0f} s; "
        f"groups {result['groups_seconds']:.0f} s, load {result['groups_loadavg'][0]:.1f}); "
        "targets: rejection 5% ± 1.5%, coverage ≥ 93%.",
        "",
        "| test | strata | image IDs per stratum | replicates | refused | rejection at 5% |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rejection"]:
        strata = "label" if r["strata"] == "label" else "(corruption, severity), IDs span all"
        lines.append(
            f"| {r['test']} | {strata} | {r['ids_per_stratum']} | {r['replicates']} | "
            f"{_pct(r['refused'])} | {_pct(r['rejection'])} |"
        )
    lines += [
        "",
        "| pooled AUC interval | image IDs | replicates | coverage |",
        "|---|---|---|---|",
    ]
    for r in result["pooled"]:
        for name in ("delong", "bootstrap"):
            label = "clustered DeLong (t)" if name == "delong" else "percentile bootstrap of IDs"
            lines.append(f"| {label} | {r['n_ids']} | {r['replicates']} | {_pct(r[name])} |")
    lines += [
        "",
        "| group correlation | scope | image IDs | replicates | truth | mean r | mean corrected "
        "| interval shown | coverage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["groups"]:
        lines.append(
            f"| {r['method']} | {r['scope']} | {r['n_ids']} | {r['replicates']} | "
            f"{r['truth']:.4f} | {r['mean_r']:.4f} | {r['mean_corrected']:.4f} | "
            f"{_pct(r['shown'])} | {_pct(r['coverage'])} |"
        )
    return "\n".join([*lines, "", END])


def measured_coverage(result: dict) -> dict:
    """Lowest coverage per (scope kind, method) over the sizes: what the report labels."""
    out: dict[str, float] = {}
    for r in result["groups"]:
        kind = r["scope"].split("=")[0]
        key = f"{kind}:{r['method']}"
        out[key] = min(out.get(key, 1.0), r["coverage"])
    for r in result["pooled"]:
        for name in ("delong", "bootstrap"):
            out[f"auc:{name}"] = min(out.get(f"auc:{name}", 1.0), r[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rejection-reps", type=int, default=1000)
    parser.add_argument("--coverage-reps", type=int, default=400)
    parser.add_argument(
        "--rank-reps", type=int, default=100, help="replicates for Spearman/Kendall coverage"
    )
    parser.add_argument(
        "--part",
        choices=("all", *PARTS),
        default="all",
        help="run one part (parts can run in parallel) into benchmarks/calibration.json",
    )
    parser.add_argument("--write", action="store_true", help="only rewrite docs from the JSON")
    args = parser.parse_args()
    store = ROOT / "benchmarks" / "calibration.json"
    result = json.loads(store.read_text()) if store.exists() else {}
    for part in PARTS if args.part == "all" else () if args.write else (args.part,):
        measured = measure(part, args.rejection_reps, args.coverage_reps, args.rank_reps)
        result = (json.loads(store.read_text()) if store.exists() else {}) | measured
        store.write_text(json.dumps(result, indent=1))
    if all(part in result for part in PARTS):
        docs = ROOT / "docs" / "stats.md"
        head, _, rest = docs.read_text().partition(START)
        docs.write_text(head + render(result) + rest.partition(END)[2])
        target = ROOT / "src" / "iqalign" / "stats" / "calibration_measured.json"
        target.write_text(json.dumps(measured_coverage(result), indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
