"""Time one call of each iqalign.stats.estimation.label_free estimator on ImageNet-C-sized arrays.

A target set of 50,000 images x 1,000 classes of float16 log-softmax values (one
corruption at one severity of ImageNet-C), a labelled source of ``--source`` images, and
the predicted classes of ``--models`` classifiers for GDE and ALine. Prints one JSON
object (seconds per call, and the estimates) as its last line. ``cot_one_class`` is
COT's worst case: the target shifted so that one class takes every prediction.

    PYTHONPATH=src python benchmarks/bench_label_free.py [--rows 50000] [--skip-cot]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from iqalign.stats.estimation import label_free as lf


def synthetic_log_probs(rng, n, k, labels, shift):
    """Logits with a label signal that weakens with ``shift``, as float16 log-softmax."""
    out = np.empty((n, k), dtype=np.float16)
    for start in range(0, n, 5000):
        rows = slice(start, min(start + 5000, n))
        z = rng.normal(0.0, 1.5, size=(rows.stop - rows.start, k)).astype(np.float32)
        z[np.arange(z.shape[0]), labels[rows]] += rng.uniform(0, 8.0 / shift, z.shape[0])
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        out[rows] = z
    return out


def predictions(rng, labels, accuracies, k):
    rows = []
    for acc in accuracies:
        right = rng.random(labels.size) < acc
        rows.append(np.where(right, labels, rng.integers(0, k, labels.size)))
    return np.stack(rows)


def timed(results, name, call):
    start = time.perf_counter()
    value = call()
    results[f"{name}_s"] = round(time.perf_counter() - start, 3)
    results[name] = value if np.isscalar(value) else np.round(value, 4).tolist()
    print(name, results[f"{name}_s"], "s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--source", type=int, default=25_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--skip-cot", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k = args.classes
    src_labels = rng.integers(0, k, args.source)
    tgt_labels = rng.integers(0, k, args.rows)
    src = synthetic_log_probs(rng, args.source, k, src_labels, 1.0)
    tgt = synthetic_log_probs(rng, args.rows, k, tgt_labels, 2.0)
    acc = np.linspace(0.5, 0.85, args.models)
    src_pred = predictions(rng, src_labels, acc, k)
    tgt_pred = predictions(rng, tgt_labels, acc - 0.2, k)
    out: dict = {"rows": args.rows, "classes": k, "source_rows": args.source,
                 "models": args.models, "machine": platform.node()}  # fmt: skip
    out["true_accuracy"] = float(np.mean(tgt.argmax(axis=1) == tgt_labels))
    timed(out, "gde", lambda: lf.gde_estimate(tgt_pred))
    timed(out, "aline_s", lambda: lf.aline_estimate(src_pred, src_labels, tgt_pred).aline_s)
    timed(out, "fit_temperature", lambda: lf.fit_temperature(src, src_labels))
    t = out["fit_temperature"]
    timed(out, "ts_ac", lambda: lf.temperature_scaled_ac(tgt, t))
    timed(out, "nuclear_norm", lambda: lf.nuclear_norm_score(tgt))
    timed(out, "mano_normalisation", lambda: lf.mano_normalisation(src))
    timed(out, "mano", lambda: lf.mano_score(tgt, out["mano_normalisation"]))
    if not args.skip_cot:
        timed(out, "cot", lambda: lf.cot_estimate(tgt, src_labels))
        timed(out, "cot_10000", lambda: lf.cot_estimate(tgt, src_labels, max_rows=10_000))
        tgt[:, 7] += 30  # the worst case: class 7 takes every prediction
        timed(out, "cot_one_class", lambda: lf.cot_estimate(tgt, src_labels))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
