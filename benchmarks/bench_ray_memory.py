"""Peak memory of a Ray-backend run against its size: is it bounded?

Scores N synthetic ImageNet-C-layout JPEGs with ``--backend ray`` on a local cluster
(W rendering CPUs + one scoring actor) and prints one JSON object: images/s and the peak
proportional set size of this process and every descendant (``bench_parts.PeakMemory``).
Run it for two sizes and compare ``ray_peak_pss_mb``::

    python benchmarks/bench_ray_memory.py --images 96
    python benchmarks/bench_ray_memory.py --images 480
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["efficientnet_lite0"]
METRICS = ["tv", "piqe", "brisque", "tg_maxlogit"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2, help="rendering CPUs")
    parser.add_argument("--work-dir", help="keep data and runs here (default: a temp folder)")
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="iqalign-bench-"))
    # Before torch/pyiqa import: stand-ins go to a private cache (as in bench_scoring.py,
    # never a TORCH_HOME the user set); nothing is downloaded.
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent)]  # bench_parts; tests.standins
    from tests.standins import make_private_torch_home

    make_private_torch_home(work / "torch-home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from bench_parts import prepare_weights, ray_run, write_jpegs

    weights = prepare_weights(MODELS, METRICS, work)
    data = write_jpegs(work / f"data-{args.images}", args.images)
    out = work / f"ray-{args.images}-{int(time.time())}"
    result = ray_run(data, out, MODELS, METRICS, weights, "cpu", 0, args.workers)
    print(json.dumps({"images": args.images, **result,
                      "load_average": [round(v, 2) for v in os.getloadavg()]}))  # fmt: skip


if __name__ == "__main__":
    main()
