"""The end of a run: the parts on disk become the final shards.

Runs after the last part exists -- in the session that finishes the run, whether it
started it or resumed it -- and always from the parts on disk, so an interrupted and an
uninterrupted run end with the same table. (Set-level accuracy estimators such as ATC and
DoC are fitted later, by ``iqalign estimate``, on the images its protocol chooses: a
column fitted here on every clean row would leak the rows it is evaluated on.)
"""

from __future__ import annotations

from typing import Any

from iqalign.scoring.run.writer import RunStore

__all__ = ["finalize_run"]


def finalize_run(
    store: RunStore, unpaired: list[dict[str, str]] | None = None
) -> tuple[tuple[list[dict[str, Any]], list[dict[str, Any]]], int]:
    """Rewrite the parts into shards; return ``((skipped, failures), rows)``.

    ``unpaired``: files left out by ``--unpaired skip``, listed first in ``skipped.csv``.
    """
    import pyarrow as pa

    rows = 0

    def count(table: pa.Table) -> pa.Table:
        nonlocal rows
        rows += table.num_rows
        return table

    left_out = [{**u, "stage": "pairing"} for u in unpaired or []]
    return store.finalize(count, left_out), rows
