from __future__ import annotations

import pandas as pd

from iqalign.report.document import (
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    write_document,
)

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def test_html_and_markdown_from_the_same_blocks(tmp_path):
    frame = pd.DataFrame({"metric": ["tv", "piqe"], "auc": [0.51234, float("nan")], "n": [10, 12]})
    doc = Document("t").add(
        Heading("Section <1>", 2, anchor="s1"),
        Paragraph("a < b"),
        Table(frame, caption="cap"),
        Figure("fig", SVG, "svg", "a figure"),
        Code("x | y"),
    )
    html_path, md_path = write_document(doc, tmp_path)
    html = html_path.read_text()
    md = md_path.read_text()
    assert "Section &lt;1&gt;" in html and 'id="s1"' in html
    assert "<td>0.512</td>" in html and "<td>–</td>" in html and "nan" not in html
    assert "<svg" in html and "<?xml" not in html  # inlined, prolog dropped
    assert "| tv | 0.512 | 10 |" in md and "| piqe | – | 12 |" in md
    assert "![a figure](figures/fig.svg)" in md
    assert (tmp_path / "figures" / "fig.svg").read_bytes() == SVG
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_markdown_escapes_pipes_in_headers_and_cells(tmp_path):
    frame = pd.DataFrame({"Q _||_ M | Y": ["a | b"]})
    _, md_path = write_document(Document("t").add(Table(frame)), tmp_path)
    assert "| Q _\\|\\|_ M \\| Y |" in md_path.read_text()
    assert "| a \\| b |" in md_path.read_text()


def test_png_figures_are_data_uris(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    html_path, _ = write_document(Document("t").add(Figure("p", png, "png")), tmp_path)
    assert 'src="data:image/png;base64,' in html_path.read_text()
