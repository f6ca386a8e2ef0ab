"""Write the notebooks from this script (cells as plain text, outputs left empty).

The notebooks are executed by the test suite (tests/test_notebooks.py), so they cannot
rot; edit the cells here and run ``python notebooks/make_notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

# The demo run, made if it is not there (about two minutes on a laptop CPU).
MAKE_DEMO = (
    "if not (RUN_DIR / 'manifest.json').exists():\n"
    "    from iqalign import DEMO_METRICS, DEMO_MODELS\n"
    "    from iqalign.scoring import ScoreConfig, score\n\n"
    "    score(ScoreConfig(data='demo', out=str(RUN_DIR), models=DEMO_MODELS, metrics=DEMO_METRICS))\n"
)
PARAMETERS = (
    "import os\n"
    "from pathlib import Path\n\n"
    "# Parameters (the test suite sets them through the environment).\n"
    "RUN_DIR = Path(os.environ.get('IQALIGN_RUN_DIR', 'iqalign-demo'))\n"
    "N_BOOT = int(os.environ.get('IQALIGN_N_BOOT', '1000'))  # bootstrap resamples per interval"
)

PAPER_TABLES = [
    new_markdown_cell(
        "# Reproduce the paper's Tables 1–4 and Fig. 20\n\n"
        "Point `RUN_DIR` at a folder written by `iqalign score` (for ImageNet-C: "
        "`iqalign score --data /data/ImageNet-C --layout imagenet-c --labels /data/val_labels.csv "
        "--models resnet34,convnext_base,swin_b --metrics clipiqa,arniqa,brisque,tv,"
        "tg_maxprob,tg_entropy,tg_maxlogit,zsclip_maxprob,zsclip_entropy,zsclip_maxlogit "
        "--device cuda --out runs/imagenet-c`). By default it uses the demo run (`iqalign demo`), "
        "and makes it if it is not there (about two minutes on a laptop CPU)."
    ),
    new_code_cell(PARAMETERS),
    new_code_cell(
        MAKE_DEMO + "\n"
        "from iqalign import read_run, run_analysis\n"
        "from iqalign.stats import AnalysisSettings\n\n"
        "run = read_run(RUN_DIR)\n"
        "table = run.table\n"
        "analysis = run_analysis(run, settings=AnalysisSettings(n_boot=N_BOOT))\n"
        "print(f'{len(table)} rows, {table.image_id.nunique()} image IDs, '\n"
        "      f'{len(run.metrics)} quality columns, models: {analysis.settings[\"models\"]}')"
    ),
    new_markdown_cell(
        "## Tables 1–4: correlation and predictability, one table per metric family\n\n"
        "AUC/CE: logistic P(M=1 | Q) fitted on 80 % of the image IDs, scored on the rest; "
        "prior CE predicts the training accuracy for everyone. |KRCC|, |PLCC|, |SRCC| across "
        "the (corruption, severity) groups with cluster-bootstrap intervals over image IDs. "
        "Where a (task model, Q, Q's source) pair is one of the paper's (e.g. `resnet34` with "
        "`tg_maxprob` from `resnet34`), the '(paper)' columns hold the paper's value as "
        "printed (`iqalign/report/paper_values.csv`); other pairs leave them empty."
    ),
    new_code_cell(
        "from IPython.display import Markdown, display\n\n"
        "from iqalign.report.tables import FAMILY_TITLES, family_summary, paper_table\n\n"
        "for family in dict.fromkeys(analysis.pooled['family']):\n"
        "    display(Markdown(f'**{FAMILY_TITLES.get(family, family)}**'))\n"
        "    display(paper_table(analysis.pooled, analysis.correlations, family).round(3))\n"
        "family_summary(analysis.pooled, analysis.correlations).round(3)"
    ),
    new_markdown_cell(
        "## Fig. 20: predictability within image IDs and within labels\n\n"
        "Strata and folds where M has one class have no AUC; they are counted in the table."
    ),
    new_code_cell(
        "from IPython.display import Image\n\n"
        "from iqalign.report.figures import stratified_auc_bars\n"
        "from iqalign.report.tables import stratified_table\n\n"
        "for model in analysis.settings['models']:\n"
        "    display(Image(stratified_auc_bars(analysis.stratified, model).data))\n"
        "stratified_table(analysis.stratified).round(3)"
    ),
    new_markdown_cell("## Fig. 3/5/7: accuracy vs mean quality per group, for one model"),
    new_code_cell(
        "from iqalign.report.figures import group_scatter_grid\n\n"
        "model = analysis.settings['models'][0]\n"
        "chosen = [m for m in dict.fromkeys(analysis.groups['metric']) if m.startswith(('tg_maxlogit', 'piqe', 'brisque', 'clipiqa', 'zsclip_maxlogit', 'tv'))]\n"
        "Image(group_scatter_grid(analysis.groups, analysis.correlations, model, chosen or list(dict.fromkeys(analysis.groups['metric']))[:4]).data)"
    ),
]

CAUSAL_TOUR = [
    new_markdown_cell(
        "# The causal layer on the paper's DAGs\n\n"
        "Each DAG of the paper is a YAML file in `dags/`. This notebook asks each one what it "
        "implies about quality Q and correctness M, shows the open paths, and turns claims "
        "into the empirical tests that can check them."
    ),
    new_code_cell(
        "from IPython.display import SVG, display\n\n"
        "from iqalign.causal import (Reading, check_claim, format_dagitty, format_dot, judge_d_separation,\n"
        "                            list_builtin_dags, list_implied_independencies, load_dag, plan_tests)\n\n"
        "list_builtin_dags()"
    ),
    new_markdown_cell("## Baseline (Fig. 1): the image separates quality and correctness"),
    new_code_cell(
        "baseline = load_dag('baseline')\n"
        "print(check_claim(baseline, 'Q _||_ M | X').explain())\n"
        "print(check_claim(baseline, 'Q _||_ M | Y').explain())"
    ),
    new_markdown_cell(
        "## Shared features (Fig. 2): a latent Z opens a path that X does not block\n\n"
        "Drawn with the open path of the query in red (needs Graphviz's `dot`)."
    ),
    new_code_cell(
        "import shutil\n\n"
        "import graphviz\n\n"
        "shared = load_dag('shared_features')\n"
        "print([str(p) for p in judge_d_separation(shared, 'Q', 'M', 'X').open_paths])\n"
        "if shutil.which('dot'):\n"
        "    display(SVG(graphviz.Source(format_dot(shared, highlight='Q M | X')).pipe(format='svg')))"
    ),
    new_markdown_cell(
        "## Deterministic nodes: under the paper's own assumption, conditioning on X fixes Q\n\n"
        "In the strong task-guided DAG (Fig. 4), Q is computed from the classifier's output. "
        "Classically X does not separate Q and M; with Ŷ a function of X (D-separation) it does."
    ),
    new_code_cell(
        "strong = load_dag('strong_task_guided')\n"
        "print(check_claim(strong, 'Q _||_ M | X').explain())"
    ),
    new_markdown_cell(
        "## Selection nodes: the task T of weak task-guided IQA (Fig. 6)\n\n"
        "A data set collected for one task is conditioned on T, which blocks the fork at T."
    ),
    new_code_cell(
        "weak = load_dag('weak_task_guided')\n"
        "for reading in (Reading('classical', False), Reading('classical', True)):\n"
        "    print(reading, '->', judge_d_separation(weak, 'Q', 'M', 'X', reading=reading).separated)"
    ),
    new_markdown_cell("## What the common-corruptions DAG implies, in dagitty notation"),
    new_code_cell(
        "cc = load_dag('common_corruptions')\n"
        "print(format_dagitty(cc))\n"
        "[str(c) for c in list_implied_independencies(cc)]"
    ),
    new_markdown_cell(
        "## From claims to tests\n\n"
        "Conditioning on X itself is refused: a stratum would be one image. The per-image-ID "
        "test conditions on X0, and there the DAG predicts a dependence."
    ),
    new_code_cell(
        "import pandas as pd\n\n"
        "pd.DataFrame([{'claim': str(p.claim), 'stratify by': ', '.join(p.stratifiers),\n"
        "               'DAG predicts': p.expected, 'refused': p.refused or ''} for p in plan_tests(cc)])"
    ),
]


FIVE_JOBS = [
    new_markdown_cell(
        "# The five jobs, from names exported at `iqalign`\n\n"
        "Load a DAG and check a claim; list what it implies; read a scored run; test one "
        "(Q, M) pair; run everything and estimate accuracy without labels. Each is at most "
        "three lines. It uses the demo run (`iqalign demo`), and makes it if it is not there."
    ),
    new_code_cell(PARAMETERS + "\n\nimport iqalign"),
    new_markdown_cell("## 1. Load a DAG and check a claim"),
    new_code_cell(
        "dag = iqalign.load_dag('baseline')\n"
        "print(iqalign.check_claim(dag, 'Q _||_ M | X').explain())"
    ),
    new_markdown_cell("## 2. List what the DAG implies"),
    new_code_cell("[str(claim) for claim in iqalign.list_implied_independencies(dag)]"),
    new_markdown_cell(
        "## 3. Read a scored run\n\n"
        "`run.table` is the scores table; `run.metrics` says what each `q_*` column is (its "
        "family, orientation, source model and role, from the run's manifest); `run.models` "
        "names each task model by its registry name and its column slug."
    ),
    new_code_cell(
        MAKE_DEMO + "\n"
        "run = iqalign.read_run(RUN_DIR)\n"
        "print(len(run.table), 'rows;', len(run.metrics), 'quality columns;', 'models:', run.model_slugs)\n"
        "run.metrics['q_tg_maxprob_efficientnet_lite0']"
    ),
    new_markdown_cell(
        "## 4. Test one (Q, M) pair: how well does Q predict correctness on held-out images?"
    ),
    new_code_cell(
        "pair = iqalign.predictability(run.table, 'q_tg_maxprob_efficientnet_lite0',\n"
        "                              'correct_efficientnet_lite0', n_boot=N_BOOT)\n"
        "print(f'AUC {pair.auc_score:.3f}, CE gain {pair.ce_gain:.3f}')"
    ),
    new_markdown_cell(
        "## 5. Run everything, and estimate accuracy without labels\n\n"
        "Every (model, Q) pair against the DAGs whose story it is (the run's metric records "
        "say which), then every label-free accuracy estimator on held-out corruptions."
    ),
    new_code_cell(
        "from iqalign.stats import AnalysisSettings\n\n"
        "analysis = iqalign.run_analysis(run, dags=['baseline', 'strong_task_guided'],\n"
        "                                settings=AnalysisSettings(n_boot=N_BOOT))\n"
        "analysis.verdicts.groupby(['dag', 'verdict']).size()"
    ),
    new_code_cell(
        "estimation = iqalign.estimate_accuracy(run, n_boot=N_BOOT)\n"
        "estimation.summary[['model', 'track', 'estimator', 'MAE']].head(10)"
    ),
]


def write(name: str, cells: list) -> Path:
    for index, cell in enumerate(cells):  # stable ids: a rerun rewrites identical files
        cell["id"] = f"{Path(name).stem}-{index}"
    notebook = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    path = HERE / name
    nbformat.write(notebook, path)
    return path


if __name__ == "__main__":
    for name, cells in (
        ("paper_tables.ipynb", PAPER_TABLES),
        ("causal_tour.ipynb", CAUSAL_TOUR),
        ("five_jobs.ipynb", FIVE_JOBS),
    ):
        print("wrote", write(name, cells))
