"""iqalign: causal claims about image quality (Q) and network performance (M), tested on data.

The five jobs, from the names exported here (``notebooks/five_jobs.ipynb`` runs them)::

    import iqalign
    dag = iqalign.load_dag("baseline")                        # 1. load a DAG,
    print(iqalign.check_claim(dag, "Q _||_ M | X").explain())  #    check a claim
    iqalign.list_implied_independencies(dag)                  # 2. list its implications
    run = iqalign.read_run("iqalign-demo")                    # 3. read a scored run
    iqalign.predictability(run.table, "q_tv", "correct_efficientnet_lite0")  # 4. one (Q, M)
    iqalign.run_analysis(run, dags=["baseline"])              # 5. run everything,
    iqalign.estimate_accuracy(run)                            #    estimate accuracy

Layers (``docs/architecture.md`` draws them):

- :mod:`iqalign.causal` -- DAG files, d-separation, claims, test plans, figures (no torch).
- :mod:`iqalign.scores` -- the scores table and run folder: :func:`read_run`.
- :mod:`iqalign.stats` -- predictability, correlations, conditional-independence tests (no torch).
- :mod:`iqalign.scoring` -- images -> scores table (torch, pyiqa, open_clip; optional extra).
- :mod:`iqalign.report` -- figures, tables, HTML/Markdown report.
- :mod:`iqalign.cli` -- the ``iqalign`` command.

The names are imported on first use (PEP 562), so ``import iqalign`` stays light and never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The demo run (``iqalign demo``): three ImageNet classifiers that run on a laptop CPU...
DEMO_MODELS: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: ...and every Q that runs offline: classic NR (pyiqa's piqe and entropy, BRISQUE as
#: published when its LIVE model files are installed), total variation, full-reference
#: against the clean image (psnr, gmsd; pyiqa's ssim is left out: it alone would double
#: the demo's CPU time) and strong task-guided from each classifier (from which
#: ``iqalign estimate`` also computes the label-free accuracy estimators MSP, ATC and
#: DoC). Classifier-based metrics expand to one column per model, so each M is also
#: tested against Q from the others.
DEMO_METRICS: tuple[str, ...] = (
    "piqe", "entropy", "brisque", "tv", "psnr", "gmsd", "tg_maxprob", "tg_entropy", "tg_maxlogit",
)  # fmt: skip

# name -> the module that defines it (imported when the name is first asked for)
_EXPORTS = {
    "load_dag": "iqalign.causal",
    "check_claim": "iqalign.causal",
    "list_implied_independencies": "iqalign.causal",
    "read_run": "iqalign.scores",
    "ScoredRun": "iqalign.scores",
    "predictability": "iqalign.stats",
    "run_analysis": "iqalign.stats.runner.analysis",
    "estimate_accuracy": "iqalign.stats.estimation.accuracy",
}

__all__ = [  # spelled out: the names of _EXPORTS, and the constants above
    "DEMO_METRICS",
    "DEMO_MODELS",
    "ScoredRun",
    "__version__",
    "check_claim",
    "estimate_accuracy",
    "list_implied_independencies",
    "load_dag",
    "predictability",
    "read_run",
    "run_analysis",
]

if TYPE_CHECKING:
    from iqalign.causal import check_claim, list_implied_independencies, load_dag
    from iqalign.scores import ScoredRun, read_run
    from iqalign.stats import predictability
    from iqalign.stats.estimation.accuracy import estimate_accuracy
    from iqalign.stats.runner.analysis import run_analysis


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'iqalign' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
