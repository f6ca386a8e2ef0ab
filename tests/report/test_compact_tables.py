"""The report's compact views: best/worst per family, collapsible full tables, verdict counts."""

import numpy as np
import pandas as pd

from iqalign.report.document import Document, Table, render_html, render_markdown
from iqalign.report.tables import best_and_worst, verdict_overview


def test_best_and_worst_are_the_argmax_and_argmin_of_auc_per_model():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"model (M)": np.repeat(["a", "b"], 9),
                          "metric (Q)": [f"q{k}" for k in range(18)], "AUC": rng.random(18)})  # fmt: skip
    compact = best_and_worst(table)
    for model, part in table.groupby("model (M)"):
        got = compact[compact["model (M)"] == model].set_index("shown")["metric (Q)"]
        assert got["best"] == part.loc[part["AUC"].idxmax(), "metric (Q)"]
        assert got["worst"] == part.loc[part["AUC"].idxmin(), "metric (Q)"]
    assert len(compact) == 4


def test_collapsed_table_folds_in_html_and_stays_whole_in_markdown():
    frame = pd.DataFrame({"x": [1, 2, 3]})
    doc = Document("t").add(Table(frame, caption="all rows", collapsed=True))
    assert "<details><summary>all rows (3 rows)</summary><table>" in render_html(doc)
    assert render_markdown(doc).count("\n| ") == 4  # header + 3 rows


def test_verdict_overview_counts_tested_rows_per_dag():
    verdicts = pd.DataFrame({
        "dag": ["d1", "d1", "d1", "d2", "d2"], "model": ["a"] * 5,
        "verdict": ["consistent", "contradicted", "not tested", "inconclusive", "consistent"],
    })  # fmt: skip
    overview = verdict_overview(verdicts).set_index("DAG")
    assert overview.loc["d1"].tolist() == [1, 1, 0] and overview.loc["d2"].tolist() == [1, 0, 1]
