"""Measure the level of every CI test and the coverage of every interval; write the table.

Runs :mod:`iqalign.stats.calibration` (a seeded generator of ImageNet-C-shaped tables,
Q and M both clustered by image ID, known truth):

- rejection rate under the null of the ``score`` and ``cmh`` tests (``lr`` refuses
  clustered tables) at 2, 3, 10 and 50 image IDs per stratum, strata = label or
  (corruption, severity), ``--rejection-reps`` replicates each (default 1000);
- coverage of the pooled AUC intervals and of the group-correlation intervals at 200
  and 500 image IDs, ``--coverage-reps`` replicates each (default 400).

Writes ``benchmarks/calibration.json``, the measured table in ``docs/stats.md`` (between
the ``calibration`` markers) and ``src/iqalign/stats/calibration_measured.json``, which the
report and CLI read to label intervals that did not reach their level. Prints one JSON
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


def measure(rejection_reps: int, coverage_reps: int) -> dict:
    from iqalign.stats.calibration import group_coverage, pooled_auc_coverage, rejection_rates

    started = time.perf_counter()
    rates = [
        rejection_rates(test, strata, k, rejection_reps)
        for test in ("score", "cmh")
        for strata in ("label", "condition")
        for k in (2, 3, 10, 50)
    ]
    pooled = [pooled_auc_coverage(n, coverage_reps) for n in (200, 500)]
    groups = [row for n in (200, 500) for row in group_coverage(n, coverage_reps)]
    return {
        "rejection": rates,
        "pooled_auc": pooled,
        "groups": groups,
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _pct(value: float) -> str:
    return "—" if value != value else f"{100 * value:.1f}%"


def render(result: dict) -> str:
    lines = [
        START,
        "",
        f"Measured by `benchmarks/calibrate_stats.py` ({result['seconds']:.0f} s, load "
        f"{result['loadavg'][0]:.1f}); targets: rejection 5% ± 1.5%, coverage ≥ 93%.",
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
    for r in result["pooled_auc"]:
        for name in ("delong", "bootstrap"):
            label = "clustered DeLong (t)" if name == "delong" else "percentile bootstrap of IDs"
            lines.append(f"| {label} | {r['n_ids']} | {r['replicates']} | {_pct(r[name])} |")
    lines += [
        "",
        "| group correlation | scope | image IDs | replicates | interval shown | coverage |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["groups"]:
        lines.append(
            f"| {r['method']} | {r['scope']} | {r['n_ids']} | {r['replicates']} | "
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
    for r in result["pooled_auc"]:
        for name in ("delong", "bootstrap"):
            out[f"auc:{name}"] = min(out.get(f"auc:{name}", 1.0), r[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rejection-reps", type=int, default=1000)
    parser.add_argument("--coverage-reps", type=int, default=400)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    result = measure(args.rejection_reps, args.coverage_reps)
    if not args.no_write:
        (ROOT / "benchmarks" / "calibration.json").write_text(json.dumps(result, indent=1))
        docs = ROOT / "docs" / "stats.md"
        text = docs.read_text()
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        docs.write_text(head + render(result) + tail)
        target = ROOT / "src" / "iqalign" / "stats" / "calibration_measured.json"
        target.write_text(json.dumps(measured_coverage(result), indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
