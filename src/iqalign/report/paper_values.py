"""The paper's Tables 1-4, transcribed once, and the look-up that sets them beside a run's.

Drenkow & Unberath report, per task model M (ConvNeXt-B, ResNet-34, Swin-B) and quality
metric Q, the held-out AUC and cross-entropy of P(M | Q) and |KRCC|, |PLCC|, |SRCC|
across the 75 ImageNet-C (corruption, severity) groups: Table 1 for classic no-reference
IQA (Sec. 4.2), Table 2 for strong task-guided Q from the task model itself (Sec. 5.1),
Table 3 for zero-shot CLIP (Sec. 6.2), Table 4 for strong task-guided Q from each of
the three classifiers (Appendix E). ``paper_values.csv`` beside this module holds every
row exactly as printed (text, so "0.070" keeps its last digit);
``tests/report/test_paper_values.py`` checks each one against the paper's text.

The paper's names of the task-guided variants are defined in its Sec. 5 (and again in
Sec. 6.1 for ZSCLIP-IQA): "(1) Max probability: Q_p := max_i y_i (2) Entropy: Q_h :=
H(y) ... and (3) Max logit: Q_l := max_i z_i". So Q_h is ``*_entropy``, Q_l
``*_maxlogit`` and Q_p ``*_maxprob``.

A row of a run's pooled table matches a paper row only for the same task model, the
same metric and the same source of Q: no source for a metric of the image alone, the
same classifier for a strong task-guided Q, any zero-shot CLIP backbone for ZSCLIP-IQA
(the paper does not name its backbone).

Examples
--------
>>> values = find_paper_values("resnet34", "tg_maxprob_resnet34", "resnet34")
>>> values["auc"], values["srcc"], values["tables"]
('0.850', '0.977 ± 0.021', '2, 4')
>>> find_paper_values("resnet34", "tg_maxprob_efficientnet_lite0", "efficientnet_lite0")
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from iqalign.scores import quality_column, slug

__all__ = [
    "ANY_CLIP",
    "PAPER_NOTE",
    "PAPER_STATISTICS",
    "PaperRow",
    "find_paper_values",
    "load_paper_values",
    "parse_paper_values",
]

#: The statistics of Tables 1-4, in the paper's column order.
PAPER_STATISTICS: tuple[str, ...] = ("auc", "ce", "krcc", "plcc", "srcc")
#: ``q_source`` of a ZSCLIP-IQA row: any zero-shot CLIP backbone (``clip:<model>``).
ANY_CLIP = "clip:*"
_FILE = "paper_values.csv"
_KEYS = ("table", "model", "metric", "q_source", "paper_model", "paper_q_model", "paper_metric")
_PM = ("krcc", "plcc", "srcc")  # the statistics the paper prints with a ±
_COLUMNS: tuple[str, ...] = (*_KEYS, "auc", "ce", *(f"{s}{x}" for s in _PM for x in ("", "_pm")))

PAPER_NOTE = (
    "'(paper)' columns: the paper's value for the same task model, metric and source of Q, "
    "as printed in Drenkow & Unberath's Tables 1–4 ('paper table'; ImageNet-C, 50,000 "
    "images; its AUC and CE intervals are within ±0.001, its |r| carry the ± it prints), "
    "from iqalign/report/paper_values.csv. Empty: the paper has no such pair or statistic. "
    "Its Q_h, Q_l, Q_p are entropy, max logit, max probability (its Sec. 5); an AUC of "
    "its below 0.5 reads like our 'raw AUC of Q', not our AUC (docs/stats.md)."
)


@dataclass(frozen=True)
class PaperRow:
    """One printed row: which pair it is (registry names), how the paper names it, and its
    values as printed (``""`` where the paper prints none)."""

    table: int
    model: str
    metric: str
    q_source: str
    label: str
    values: dict[str, str] = field(hash=False)
    pm: dict[str, str] = field(hash=False)

    def cell(self, statistic: str) -> str:
        """The value as the paper prints it, with its ± where it has one."""
        value, pm = self.values.get(statistic, ""), self.pm.get(statistic, "")
        return f"{value} ± {pm}" if value and pm else value

    def matches(self, model: str, metric: str, q_model: str) -> bool:
        """Is a pooled-table pair (task model slug, metric name = the column without its
        prefix, source model of Q or ``""``) this row's pair?"""
        if slug(model) != slug(self.model):
            return False
        if self.q_source == ANY_CLIP:
            if not q_model.startswith("clip:"):
                return False
        elif slug(q_model) != slug(self.q_source):
            return False
        return quality_column(metric) == quality_column(self.metric, q_model or None)


def parse_paper_values(text: str) -> tuple[PaperRow, ...]:
    """Rows of a ``paper_values.csv`` text (``#`` lines are comments)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise ValueError(
            f"{_FILE}: expected the columns {list(_COLUMNS)}, found {reader.fieldnames}"
        )
    return tuple(_parse_row(record, number) for number, record in enumerate(reader, 2))


def _parse_row(record: dict[str, str], number: int) -> PaperRow:
    try:
        table = int(record["table"])
    except ValueError as err:
        raise ValueError(
            f"{_FILE}: data row {number}: table {record['table']!r} is not a number"
        ) from err
    names = [record["paper_model"], record["paper_q_model"], record["paper_metric"]]
    return PaperRow(
        table=table,
        model=record["model"],
        metric=record["metric"],
        q_source=record["q_source"],
        label=" ".join(name for name in names if name),
        values={s: record.get(s, "") for s in PAPER_STATISTICS},
        pm={s: record[f"{s}_pm"] for s in _PM},
    )


@lru_cache(maxsize=1)
def load_paper_values() -> tuple[PaperRow, ...]:
    """Every row of the packaged ``paper_values.csv``."""
    text = resources.files("iqalign.report").joinpath(_FILE).read_text(encoding="utf-8")
    return parse_paper_values(text)


def find_paper_values(
    model: str, metric: str, q_model: str, rows: tuple[PaperRow, ...] | None = None
) -> dict[str, str] | None:
    """The paper's printed cells for one pair, or ``None`` when no table has it.

    Keys: each of :data:`PAPER_STATISTICS` (``""`` where no matching row prints it) and
    ``tables`` (the table numbers, e.g. ``"2, 4"``). Where two tables hold the pair
    (Table 2's rows are also in Table 4), the first that prints a statistic gives it;
    the test of the data file checks that they agree.
    """
    found = [row for row in (rows or load_paper_values()) if row.matches(model, metric, q_model)]
    if not found:
        return None
    cells = {s: next((r.cell(s) for r in found if r.cell(s)), "") for s in PAPER_STATISTICS}
    cells["tables"] = ", ".join(str(n) for n in sorted({r.table for r in found}))
    return cells
