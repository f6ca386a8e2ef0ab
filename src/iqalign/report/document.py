"""A small report document that renders to self-contained HTML and to Markdown.

A :class:`Document` is a list of blocks (headings, paragraphs, tables, figures, code).
``write_document`` renders it twice from the same blocks, so the two files never drift:

- ``report.html``: one file, every figure embedded (SVG inline, PNG as a data URI), no
  script, no network access: it opens from disk, in an e-mail, on an air-gapped machine;
- ``report.md``: the Markdown twin, figures written to ``figures/`` and linked.

Files are written to a temporary name and renamed, so a crash never leaves half a report.
"""

from __future__ import annotations

import base64
import html
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign.files import write_bytes_atomic

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Code", "Document", "Figure", "Heading", "Paragraph", "Table", "write_document"]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Table:
    """A table from a DataFrame; ``floatfmt`` formats float cells (e.g. ``"{:.3f}"``)."""

    frame: pd.DataFrame
    caption: str = ""
    floatfmt: str = "{:.3f}"
    collapsed: bool = False  # HTML: folded under its caption (<details>); Markdown: as is


@dataclass(frozen=True)
class Figure:
    """A figure as bytes: ``kind`` is ``"svg"`` or ``"png"``; ``name`` is its file stem."""

    name: str
    data: bytes
    kind: str = "svg"
    caption: str = ""


Block = Heading | Paragraph | Code | Table | Figure


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def write_document(
    document: Document, out_dir: str | Path, stem: str = "report"
) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.md`` (figures in ``figures/``); return both paths."""
    out = Path(out_dir)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for block in document.blocks:
        if isinstance(block, Figure):
            write_bytes_atomic(figures_dir / f"{block.name}.{block.kind}", block.data)
    html_path = out / f"{stem}.html"
    md_path = out / f"{stem}.md"
    write_bytes_atomic(html_path, render_html(document).encode("utf-8"))
    write_bytes_atomic(md_path, render_markdown(document).encode("utf-8"))
    return html_path, md_path


# ----------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:72em;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
figure{display:inline-block;margin:.6em;vertical-align:top;max-width:100%}
figure svg,figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
"""


def render_html(document: Document) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(document.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(document.title)}</h1>",
    ]
    parts += [_block_html(block) for block in document.blocks]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _block_html(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Code):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Table):
        return _table_html(block)
    return _figure_html(block)


def _table_html(table: Table) -> str:
    frame = table.frame
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_cell(v, table.floatfmt))}</td>" for v in values)
        rows.append(f"<tr>{cells}</tr>")
    body = f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if table.collapsed:  # no script needed: the browser folds and unfolds <details>
        label = html.escape(table.caption or "table")
        return f"<details><summary>{label} ({len(frame)} rows)</summary>{body}</details>"
    return body


def _figure_html(figure: Figure) -> str:
    if figure.kind == "svg":
        svg = figure.data.decode("utf-8")
        body = svg[svg.find("<svg") :]  # inline: drop the XML prolog and DOCTYPE
    else:
        encoded = base64.b64encode(figure.data).decode("ascii")
        alt = html.escape(figure.caption or figure.name)
        body = f'<img alt="{alt}" src="data:image/{figure.kind};base64,{encoded}">'
    caption = f"<figcaption>{html.escape(figure.caption)}</figcaption>" if figure.caption else ""
    return f'<figure data-name="{html.escape(figure.name)}">{body}{caption}</figure>'


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if value != value:  # NaN: shown as a dash, never as "nan"
            return "–"
        return floatfmt.format(value)
    return str(value)


# ------------------------------------------------------------------------- Markdown


def render_markdown(document: Document) -> str:
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        lines += _block_markdown(block)
        lines.append("")
    return "\n".join(lines)


def _block_markdown(block: Block) -> Sequence[str]:
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {block.text}"]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Code):
        return ["```", block.text, "```"]
    if isinstance(block, Table):
        return _table_markdown(block)
    return [f"![{block.caption or block.name}](figures/{block.name}.{block.kind})"]


def _table_markdown(table: Table) -> list[str]:
    frame = table.frame
    lines = [f"*{table.caption}*", ""] if table.caption else []
    lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in frame.columns) + " |")
    lines.append("|" + "---|" * len(frame.columns))
    for values in frame.itertuples(index=False):
        cells = [_cell(v, table.floatfmt).replace("|", "\\|") for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
