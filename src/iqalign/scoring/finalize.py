"""The end of a run: fit ATC/DoC on every clean row, then write the final shards.

Runs after the last part exists -- in the session that finishes the run, whether it
started it or resumed it -- and always from the parts on disk, so an interrupted and an
uninterrupted run end with the same table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqalign.scores import CLEAN, performance_column
from iqalign.scoring.confidence import (
    EstimatorFit,
    apply_estimator,
    config_setting,
    fit_estimator,
)
from iqalign.scoring.config import ScoreConfig
from iqalign.scoring.setup import Scorers
from iqalign.scoring.writer import RunStore

__all__ = ["finalize_run"]


def finalize_run(
    store: RunStore,
    config: ScoreConfig,
    scorers: Scorers,
    unpaired: list[dict[str, str]] | None = None,
) -> tuple[dict[str, Any], tuple[list[dict[str, Any]], list[dict[str, Any]]], int]:
    """Fit estimators, rewrite parts into shards; return (fits, (skipped, failures), rows).

    ``unpaired``: files left out by ``--unpaired skip``, listed first in ``skipped.csv``.
    """
    import pyarrow as pa

    fits = {m.column: _fit(store, config, scorers, m) for m in scorers.metrics if m.postprocess}
    rows = 0

    def transform(table: pa.Table) -> pa.Table:
        nonlocal rows
        rows += table.num_rows
        for column, fit in fits.items():
            raw = table.column(column).to_numpy(zero_copy_only=False)
            index = table.schema.get_field_index(column)
            table = table.set_column(index, column, pa.array(apply_estimator(fit, raw)))
        return table

    left_out = [{**u, "stage": "pairing"} for u in unpaired or []]
    lists = store.finalize(transform, left_out)
    return {c: f.to_dict() for c, f in fits.items()}, lists, rows


def _fit(store: RunStore, config: ScoreConfig, scorers: Scorers, metric: Any) -> EstimatorFit:
    import pyarrow.compute as pc

    source = metric.source
    correct = performance_column(scorers.classifiers[source].column)
    table = store.read_part_columns([metric.column, correct, "corruption", "variant"])
    clean = pc.and_(pc.equal(table["corruption"], CLEAN), pc.is_null(table["variant"]))
    clean_rows = table.filter(clean)
    given_table = getattr(config, config_setting(metric.postprocess))
    given = given_table.get(metric.column, given_table.get(source))
    return fit_estimator(
        metric.postprocess,
        np.asarray(clean_rows[metric.column].to_numpy(zero_copy_only=False), dtype=np.float64),
        np.asarray(clean_rows[correct].to_numpy(zero_copy_only=False), dtype=np.float64),
        column=metric.column,
        given=given,
    )
