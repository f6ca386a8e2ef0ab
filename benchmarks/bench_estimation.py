"""Benchmark of label-free accuracy estimation on an ImageNet-C-sized synthetic run.

Builds ``--ids`` image IDs x 76 rows (clean + 15 corruptions x 5 severities; 50,000 x 76 =
3.8M rows by default) for 3 task models, with the demo's columns: per model its
predictions, MSP (``tg_maxprob``), entropy and max logit; 6 image-only quality columns;
with ``--probs``, also the first model's per-row log-softmax over 1,000 classes (what
``iqalign score --save-probs`` stores; 2 kB per row), consistent with its predictions.
Correctness is drawn from a group- and image-dependent rate that the confidences track. Then times
:func:`iqalign.stats.estimation.accuracy.estimate_accuracy` (the full protocol: ID split, AC, DoC,
ATC-MC, ATC-NE on the clean track; DoC, ATC-MC, ATC-NE on all source rows, DoC-reg, Q-mean
and Q-dist for all 15 Q columns x 3 models on the shifts track; leave one corruption
out with every ``shifts`` fit redone per held-out corruption, ``--boot`` resamples of the
corruptions jointly with the target IDs; GDE and ALine-S/D from the predictions; with
``--probs``, TS-AC, MaNo, the nuclear norm and COT too).

The last line printed is one JSON object. Run: ``python benchmarks/bench_estimation.py``
(``--ids 2000`` for a quick run); the probability-based estimators at 380k rows:
``python benchmarks/bench_estimation.py --ids 5000 --probs``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

CORRUPTIONS = [f"c{k:02d}" for k in range(15)]
MODELS = ("lite0", "lite1", "lite2")
IMAGE_Q = ("piqe", "entropy", "brisque_live", "tv", "psnr", "gmsd")


def synthetic_run(n_ids: int, seed: int = 0) -> pd.DataFrame:
    """One row per (image, corruption, severity); columns as an 'iqalign score' run."""
    rng = np.random.default_rng(seed)
    cells = [("none", 0)] + [(c, s) for c in CORRUPTIONS for s in range(1, 6)]
    n_cells = len(cells)
    image = np.repeat(np.arange(n_ids), n_cells)
    corruption = np.tile(np.array([c for c, _ in cells]), n_ids)
    severity = np.tile(np.array([s for _, s in cells], dtype=np.int64), n_ids)
    hardness = rng.normal(0, 1, n_ids)[image]  # an image is hard for every model
    cell_shift = np.tile(rng.uniform(0.5, 1.5, n_cells), n_ids) * severity
    frame = {"image_id": image.astype(np.int64), "label": (image % 1000).astype(np.int64),
             "corruption": pd.Categorical(corruption), "severity": severity}  # fmt: skip
    for k, name in enumerate(IMAGE_Q):
        frame[f"q_{name}"] = (cell_shift * (0.5 + 0.1 * k) + rng.normal(0, 1, image.size)).astype(
            np.float32
        )
    for k, model in enumerate(MODELS):
        logit = 2.0 + 0.3 * k - 0.45 * cell_shift - hardness + rng.normal(0, 1, image.size)
        p = 1 / (1 + np.exp(-logit))
        frame[f"correct_{model}"] = (rng.random(image.size) < p).astype(np.int8)
        msp = np.clip(p + rng.normal(0, 0.1, image.size), 1e-3, 1.0)
        frame[f"q_tg_maxprob_{model}"] = msp.astype(np.float32)
        frame[f"q_tg_entropy_{model}"] = (-np.log(msp) * 3 + rng.random(image.size)).astype(
            np.float32
        )
        frame[f"q_tg_maxlogit_{model}"] = (logit + 8).astype(np.float32)
        wrong = (frame["label"] + rng.integers(1, 1000, image.size)) % 1000
        frame[f"pred_{model}"] = np.where(frame[f"correct_{model}"] == 1, frame["label"], wrong)
    return pd.DataFrame(frame)


def synthetic_log_probs(table: pd.DataFrame, model: str, seed: int = 1) -> list[np.ndarray]:
    """Per-row log-softmax over 1,000 classes, peaked on the model's prediction (float16,
    in shards of 8,192 rows, as ``--save-probs`` writes them)."""
    rng = np.random.default_rng(seed)
    pred = table[f"pred_{model}"].to_numpy()
    margin = 1.0 + 4.0 * table[f"q_tg_maxprob_{model}"].to_numpy(dtype=np.float64)
    parts = []
    for lo in range(0, len(table), 8192):
        rows = slice(lo, min(lo + 8192, len(table)))
        logits = rng.normal(0.0, 1.0, (rows.stop - lo, 1000)).astype(np.float32)
        logits[np.arange(rows.stop - lo), pred[rows]] += margin[rows].astype(np.float32)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        parts.append(logits.astype(np.float16))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=50_000, help="image IDs (x 76 rows)")
    parser.add_argument("--boot", type=int, default=200, help="cluster bootstrap resamples")
    parser.add_argument("--protocol", default="loco", choices=("loco", "mixtures"))
    parser.add_argument("--probs", action="store_true", help="also the first model's probs")
    args = parser.parse_args()
    from iqalign.scores import ScoredRun
    from iqalign.stats.estimation.accuracy import estimate_accuracy

    load_before = os.getloadavg()
    started = time.perf_counter()
    table = synthetic_run(args.ids)
    log_probs = {MODELS[0]: synthetic_log_probs(table, MODELS[0])} if args.probs else None
    made = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    run = ScoredRun.from_table(table)
    result = estimate_accuracy(run, protocol=args.protocol,
                               n_boot=args.boot, seed=0, log_probs=log_probs)  # fmt: skip
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    best = result.summary.groupby(["model", "track"]).head(1)
    print(result.summary.head(8).to_string())
    print(json.dumps({
        "rows": len(table), "ids": args.ids, "models": len(MODELS), "protocol": args.protocol,
        "q_columns": len(run.metrics), "estimators": len(result.summary), "n_boot": args.boot,
        "log_probs_models": len(log_probs or {}),
        "target_groups": result.n_target_groups, "synthesize_s": round(made, 2),
        "estimate_s": round(seconds, 2), "estimate_cpu_s": round(cpu, 2),
        "best": {f"{m}/{t}": e for m, t, e in best[["model", "track", "estimator"]].values},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(), "python": platform.python_version(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
