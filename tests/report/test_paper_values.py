"""``iqalign/report/paper_values.csv`` against the paper's own text, row by row.

The paper's text (``shared/paper/paper.txt``, beside the repository; not part of it) is
parsed here independently of the package: each of Tables 1-4 from its caption line to
the blank line after it, each row's names (a name the paper leaves out repeats the one
above, as printed) and its numbers with their ±. Every row and value of the data file
must equal the parsed table, in the paper's order, and each table must have as many
rows as the paper's. Without the text these tests skip, except under ``CI=1``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from importlib import resources
from pathlib import Path

import pytest

from iqalign.report.paper_values import (
    ANY_CLIP,
    PAPER_STATISTICS,
    find_paper_values,
    load_paper_values,
    parse_paper_values,
)


def _paper_text_path() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "paper" / "paper.txt"
        if candidate.is_file():
            return candidate
    return None


PAPER = _paper_text_path()
if PAPER is None and os.environ.get("CI"):
    raise RuntimeError("CI: the paper's text (shared/paper/paper.txt) is missing")
needs_paper = pytest.mark.skipif(PAPER is None, reason="shared/paper/paper.txt not found")

TABLES = (1, 2, 3, 4)
MODELS = {"ConvNext-B": "convnext_base", "ResNet34": "resnet34", "Swin-B": "swin_b"}
TABLE_1_METRICS = {"ARNIQA": "arniqa", "BRISQUE": "brisque", "CLIP-IQA": "clipiqa", "TV": "tv"}
HEADER_STATISTICS = {"AUC": "auc", "CE": "ce", "K R C C": "krcc", "P L C C": "plcc",
                     "S R C C": "srcc"}  # fmt: skip
NUMBER = r"\d\.\d{3}"
CELL = re.compile(rf"({NUMBER})(?:\s+plus-or-minus\\pm\s+({NUMBER}))?\s*")
DEFINITION = re.compile(r"\(\d\) (Max probability|Entropy|Max[- ]logit): Q([hlp])")
VARIANTS = {"Max probability": "maxprob", "Entropy": "entropy", "Max logit": "maxlogit",
            "Max-logit": "maxlogit"}  # fmt: skip


def _table_block(text: str, number: int) -> tuple[str, list[str]]:
    """The header line and the row lines of Table ``number`` (up to the blank line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"Table {number}:"))
    header = lines[start + 1]
    assert header.startswith("Model "), header
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line)
    return header, rows


def _parse_row(line: str, statistics: list[str]) -> tuple[list[str], dict[str, tuple]]:
    first = re.search(rf"\b{NUMBER}\b", line)
    assert first, f"no number in {line!r}"
    names = [t for t in line[: first.start()].split() if not t.startswith("Q_{")]
    names = [re.sub(r"^Q([hlp])$", r"Q_\1", name) for name in names]
    numbers = line[first.start() :]
    cells = [(m.group(1), m.group(2) or "") for m in CELL.finditer(numbers)]
    assert "".join(m.group(0) for m in CELL.finditer(numbers)) == numbers, numbers
    assert len(cells) == len(statistics), f"{len(cells)} cells for {statistics}: {line!r}"
    return names, dict(zip(statistics, cells, strict=True))


def parse_paper_table(text: str, number: int) -> list[dict]:
    """Table ``number`` of the paper's text: per row its printed names and cells."""
    header, lines = _table_block(text, number)
    statistics = [HEADER_STATISTICS[name] for name in re.findall(
        r"\b(AUC|CE|K R C C|P L C C|S R C C)\b", header)]  # fmt: skip
    assert statistics[:2] == ["auc", "ce"] and len(set(statistics)) == len(statistics)
    parsed, previous = [], None
    for line in lines:
        names, cells = _parse_row(line, statistics)
        if previous is None:
            previous = names  # the first row prints every name
        assert 1 <= len(names) <= len(previous), line
        previous = previous[: len(previous) - len(names)] + names
        model, *q_model, metric = previous
        row = {"paper_model": model, "paper_q_model": q_model[0] if q_model else "",
               "paper_metric": metric}  # fmt: skip
        for statistic in PAPER_STATISTICS:
            row[statistic], row[f"{statistic}_pm"] = cells.get(statistic, ("", ""))
        parsed.append(row)
    return parsed


def _file_rows() -> list[dict]:
    """The packaged data file's rows, read with the csv module alone."""
    text = resources.files("iqalign.report").joinpath("paper_values.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def _as_printed(row: dict) -> dict:
    out = {key: row[key] for key in ("paper_model", "paper_q_model", "paper_metric")}
    for statistic in PAPER_STATISTICS:
        out[statistic], out[f"{statistic}_pm"] = row[statistic], row.get(f"{statistic}_pm", "")
    return out


@pytest.fixture(scope="module")
def text() -> str:
    return PAPER.read_text(encoding="utf-8")


@needs_paper
@pytest.mark.parametrize("number", TABLES)
def test_every_row_and_value_equals_the_papers_table(text, number):
    paper = parse_paper_table(text, number)
    ours = [_as_printed(row) for row in _file_rows() if row["table"] == str(number)]
    assert len(ours) == len(paper), f"Table {number}: {len(ours)} rows, the paper {len(paper)}"
    for index, (mine, theirs) in enumerate(zip(ours, paper, strict=True)):
        assert mine == theirs, f"Table {number}, row {index + 1}"


@needs_paper
def test_the_paper_has_the_tables_and_row_counts_we_expect(text):
    """3 task models x (4 classic metrics | 3 variants | 3 variants | 3 sources x 3)."""
    counts = {number: len(parse_paper_table(text, number)) for number in TABLES}
    assert counts == {1: 12, 2: 9, 3: 9, 4: 27}
    assert [row["table"] for row in _file_rows()] == [str(n) for n in TABLES for _ in
                                                      range(counts[n])]  # fmt: skip


def test_the_package_reads_every_row_of_the_file():
    raw, rows = _file_rows(), load_paper_values()
    assert len(rows) == len(raw) == 57
    for line, row in zip(raw, rows, strict=True):
        assert (str(row.table), row.model, row.metric, row.q_source) == (
            line["table"], line["model"], line["metric"], line["q_source"])  # fmt: skip
        for statistic in PAPER_STATISTICS:
            pm = line.get(f"{statistic}_pm", "")
            printed = f"{line[statistic]} ± {pm}" if pm else line[statistic]
            assert row.cell(statistic) == printed


@needs_paper
def test_q_h_q_l_q_p_follow_the_papers_definitions(text):
    """Sec. 5 and Sec. 6.1 define the variants; each row's metric follows them."""
    definitions = DEFINITION.findall(text)
    assert len(definitions) == 6, definitions  # three in Sec. 5, three in Sec. 6.1
    variant = {f"Q_{letter}": VARIANTS[name] for name, letter in definitions}
    # both sections agree: one variant per letter, one letter per variant
    assert len({(VARIANTS[name], letter) for name, letter in definitions}) == 3
    assert variant == {"Q_h": "entropy", "Q_l": "maxlogit", "Q_p": "maxprob"}
    for row in _file_rows():
        printed = row["paper_metric"]
        if row["table"] == "1":
            assert row["metric"] == TABLE_1_METRICS[printed], row
        else:
            family = "zsclip" if row["table"] == "3" else "tg"
            assert row["metric"] == f"{family}_{variant[printed]}", row


def test_each_row_names_its_task_model_and_the_source_of_q():
    for row in _file_rows():
        assert row["model"] == MODELS[row["paper_model"]], row
        expected = {"1": "", "2": row["model"], "3": ANY_CLIP}.get(row["table"])
        if row["table"] == "4":
            expected = MODELS[row["paper_q_model"]]
        else:
            assert row["paper_q_model"] == "", row  # Tables 1-3 print no Q model
        assert row["q_source"] == expected, row


def test_table_2_is_table_4_where_q_comes_from_the_task_model():
    """Why Table 2's rows record the task model as Q's source (the paper prints none)."""
    rows = load_paper_values()
    same = {(r.model, r.metric): r for r in rows if r.table == 4 and r.q_source == r.model}
    table_2 = [r for r in rows if r.table == 2]
    assert len(table_2) == len(same) == 9
    for row in table_2:
        other = same[(row.model, row.metric)]
        for statistic in ("auc", "ce", "plcc", "srcc"):
            assert row.cell(statistic) == other.cell(statistic), (row, statistic)


def test_one_row_per_pair_and_table_and_every_value_a_printed_number():
    rows = load_paper_values()
    keys = [(r.table, r.model, r.metric, r.q_source) for r in rows]
    assert len(set(keys)) == len(keys)
    for row in rows:
        for statistic in PAPER_STATISTICS:
            value, pm = row.values[statistic], row.pm.get(statistic, "")
            assert (row.table == 4 and statistic == "krcc") or re.fullmatch(NUMBER, value), row
            assert pm == "" or (value and re.fullmatch(NUMBER, pm)), row


def test_the_metric_names_are_registry_names():
    from iqalign.scoring.metrics.registry import METRIC_SPECS, PAPER_PYIQA_FILES

    for row in load_paper_values():
        assert row.metric in METRIC_SPECS or row.metric in PAPER_PYIQA_FILES, row.metric


def test_a_pair_matches_only_its_own_source_of_q():
    assert find_paper_values("resnet34", "tg_maxprob_resnet34", "resnet34")["tables"] == "2, 4"
    assert find_paper_values("resnet34", "tg_maxprob_swin_b", "swin_b")["auc"] == "0.774"
    assert find_paper_values("resnet34", "tg_maxprob_swin_b", "resnet34") is None  # mislabelled
    assert find_paper_values("resnet34", "tg_maxprob_timm_resnet34", "timm:resnet34") is None
    assert find_paper_values("resnet34", "tg_maxprob_resnet34", "") is None
    zsclip = find_paper_values("swin_b", "zsclip_entropy_vit_b_32", "clip:ViT-B-32")
    assert zsclip["auc"] == "0.354" and zsclip["tables"] == "3"
    assert find_paper_values("swin_b", "zsclip_entropy_vit_b_32", "") is None
    assert find_paper_values("swin_b", "clipiqa", "")["srcc"] == "0.410 ± 0.211"
    assert find_paper_values("swin_b", "brisque_pyiqa", "") is None
    assert find_paper_values("efficientnet_lite0", "clipiqa", "") is None


def test_a_malformed_file_is_refused():
    with pytest.raises(ValueError, match="expected the columns"):
        parse_paper_values("table,model\n1,resnet34\n")
