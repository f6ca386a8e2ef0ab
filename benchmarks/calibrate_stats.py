"""Measure the level of every CI test and the coverage of every interval; write the table.

Runs :mod:`tests.stats.calibration_study` (a seeded generator of ImageNet-C-shaped tables,
Q and M both clustered by image ID, known truth):

- rejection rate under the null of the ``score`` and ``cmh`` tests (``lr`` refuses
  clustered tables) at 2, 3, 10 and 50 image IDs per stratum, strata = label or
  (corruption, severity), ``--rejection-reps`` replicates each (default 1000);
- coverage of the pooled AUC intervals and of the group-correlation intervals at 200
  and 500 image IDs, ``--coverage-reps`` replicates each (default 400; Spearman and
  Kendall, whose intervals are labelled rather than printed, ``--rank-reps``, 100).

``--part estimation`` measures the MAE intervals of label-free accuracy estimation
(:func:`tests.stats.calibration_study.estimation_coverage`: 15 corruptions at 200, 1,000 and
5,000 target image IDs, and 5 corruptions at 200; ``--estimation-reps`` replicates, default
200) and writes its table in ``docs/estimation.md`` (between the ``estimation-calibration``
markers).

``--part rejection|pooled|groups`` runs one part (they can run in parallel; each merges
into ``benchmarks/calibration.json``). Once all parts are there it writes the measured
table in ``docs/stats.md`` (between the ``calibration`` markers) and
``src/iqalign/stats/core/coverage_measured.json``, which the report and CLI read to label
intervals that did not reach their level. Prints one JSON
object as its last line. Run: ``PYTHONPATH=src python benchmarks/calibrate_stats.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the study code (calibration generators, reference transcriptions) lives under tests/
sys.path.insert(0, str(ROOT))
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"
PARTS = ("rejection", "pooled", "groups")
EST_START, EST_END = "<!-- estimation-calibration:start -->", "<!-- estimation-calibration:end -->"
EST_SIZES = ((200, 15), (1000, 15), (5000, 15), (200, 5))
_RANKS = ("spearman", "kendall")


def measure(part: str, rejection_reps: int, coverage_reps: int, rank_reps: int) -> dict:
    """One part of the calibration ("rejection", "pooled", "groups"), printed as it goes."""
    from tests.stats.calibration_study import group_coverage, pooled_auc_coverage, rejection_rates

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


def measure_estimation(replicates: int) -> dict:
    """Coverage of the estimation MAE intervals (docs/estimation.md), printed as it goes."""
    from tests.stats.calibration_study import estimation_coverage

    started, rows = time.perf_counter(), []
    for n_ids, n_corruptions in EST_SIZES:
        rows += estimation_coverage(n_ids, replicates, n_corruptions=n_corruptions)
        print(json.dumps(rows[-3:]), flush=True)
    return {
        "estimation": rows,
        "estimation_seconds": round(time.perf_counter() - started, 1),
        "estimation_loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def render_estimation(result: dict) -> str:
    lines = [
        EST_START,
        "",
        f"Measured by `benchmarks/calibrate_stats.py --part estimation` "
        f"({result['estimation_seconds']:.0f} s, load {result['estimation_loadavg'][0]:.1f}); "
        "200 bootstrap resamples per replicate; SE of a coverage about 0.015.",
        "",
        "| estimator | corruptions | target IDs | replicates | true MAE | MAE − truth "
        "| bias-corrected − truth | interval width | **printed interval** | basic | percentile |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["estimation"]:
        lines.append(
            f"| {r['estimator']} | {r['n_corruptions']} | {r['n_ids']} | {r['replicates']} | "
            f"{r['truth']:.4f} | {r['mae']:+.4f} | {r['corrected']:+.4f} | {r['width']:.4f} | "
            f"**{_pct(r['used'])}** | {_pct(r['basic'])} | {_pct(r['percentile'])} |"
        )
    return "\n".join([*lines, "", EST_END])


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
    parser.add_argument("--estimation-reps", type=int, default=200)
    parser.add_argument(
        "--part",
        choices=("all", *PARTS, "estimation"),
        default="all",
        help="run one part (parts can run in parallel) into benchmarks/calibration.json",
    )
    parser.add_argument("--write", action="store_true", help="only rewrite docs from the JSON")
    args = parser.parse_args()
    store = ROOT / "benchmarks" / "calibration.json"
    result = json.loads(store.read_text()) if store.exists() else {}
    if args.part == "estimation":
        result = result | measure_estimation(args.estimation_reps)
        store.write_text(json.dumps(result, indent=1))
    if "estimation" in result:
        docs = ROOT / "docs" / "estimation.md"
        head, _, rest = docs.read_text().partition(EST_START)
        docs.write_text(head + render_estimation(result) + rest.partition(EST_END)[2])
    if args.part == "estimation":
        print(json.dumps(result["estimation"]))
        return
    for part in PARTS if args.part == "all" else () if args.write else (args.part,):
        measured = measure(part, args.rejection_reps, args.coverage_reps, args.rank_reps)
        result = (json.loads(store.read_text()) if store.exists() else {}) | measured
        store.write_text(json.dumps(result, indent=1))
    if all(part in result for part in PARTS):
        docs = ROOT / "docs" / "stats.md"
        head, _, rest = docs.read_text().partition(START)
        docs.write_text(head + render(result) + rest.partition(END)[2])
        target = ROOT / "src" / "iqalign" / "stats" / "core" / "coverage_measured.json"
        target.write_text(json.dumps(measured_coverage(result), indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
