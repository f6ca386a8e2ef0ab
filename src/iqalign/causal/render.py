"""DAG figures through Graphviz: DOT text always, SVG / PNG / PDF where ``dot`` is installed.

The drawing follows the paper's legend: observed nodes solid, latent nodes dashed,
predicted nodes (Ŷ) filled, selection nodes boxed; nodes marked deterministic get a
double border; edges the file marks ``dashed`` (H -> Q) are dashed. A query can be
highlighted: its conditioning set is shaded and the edges of every open path drawn red.
The DOT source is generated from the DAG file and never edited by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from iqalign.causal.claims import Claim, parse_query
from iqalign.causal.dag import Dag, Node
from iqalign.causal.dsep import Reading, judge_d_separation
from iqalign.errors import IqalignError

__all__ = ["FORMATS", "GraphvizNotFoundError", "format_dot", "render_dag"]

FORMATS = ("svg", "png", "pdf", "gv")
_HIGHLIGHT = "#c0392b"
_CONDITIONED_FILL = "#d9d9d9"
_PREDICTED_FILL = "#dbe9f6"


class GraphvizNotFoundError(IqalignError, RuntimeError):
    """Graphviz's ``dot`` binary is missing; the ``.gv`` source was written instead."""


def format_dot(
    dag: Dag, *, highlight: Claim | str | None = None, reading: Reading | None = None
) -> str:
    """Graphviz DOT source for ``dag``, optionally highlighting a query's open paths.

    Parameters
    ----------
    dag
        The DAG to draw.
    highlight
        A claim or d-separation query (text or :class:`Claim`) whose open paths are drawn
        in colour; ``None`` draws the DAG plainly.
    reading
        The reading the open paths are found under; default: classical.

    Returns
    -------
    str
        DOT source.

    Examples
    --------
    >>> from iqalign.causal import load_dag
    >>> dot = format_dot(load_dag("shared_features"), highlight="Q M | X")
    >>> 'Z -> Q' in dot and 'style=dashed' in dot
    True
    """
    import graphviz

    query = parse_query(highlight) if isinstance(highlight, str) else highlight
    open_edges: set[tuple[str, str]] = set()
    conditioned: frozenset[str] = frozenset()
    caption = dag.title or dag.name
    if query is not None:
        judgement = judge_d_separation(dag, query.left, query.right, query.given, reading=reading)
        conditioned = judgement.conditioned
        for path in judgement.open_paths:
            for a, arrow, b in zip(path.nodes[:-1], path.arrows, path.nodes[1:], strict=True):
                open_edges.add((a, b) if arrow == "->" else (b, a))
        state = "separated" if judgement.separated else f"{len(judgement.open_paths)} open path(s)"
        caption += f"\n{query.as_independence()}: {state} [{judgement.reading}]"
    graph = graphviz.Digraph(
        name=dag.name,
        graph_attr={"rankdir": "LR", "label": caption, "labelloc": "t", "fontname": "Helvetica"},
    )
    graph.attr("node", fontname="Helvetica")
    for node in dag.nodes:
        graph.node(node.name, **_node_attrs(node, node.name in conditioned, query))
    for edge in dag.edges:
        attrs = {"style": edge.style}
        if (edge.source, edge.target) in open_edges:
            attrs.update(color=_HIGHLIGHT, penwidth="2.2")
        graph.edge(edge.source, edge.target, **attrs)
    return graph.source


def _node_attrs(node: Node, is_conditioned: bool, query: Claim | None) -> dict[str, str]:
    styles = []
    attrs = {"label": node.display, "shape": "ellipse"}
    if node.role == "latent":
        styles.append("dashed")
    if node.role == "selection":
        attrs["shape"] = "box"
    if node.role == "predicted":
        styles.append("filled")
        attrs["fillcolor"] = _PREDICTED_FILL
    if node.deterministic:
        attrs["peripheries"] = "2"
    if is_conditioned:
        styles.append("filled")
        attrs["fillcolor"] = _CONDITIONED_FILL
    if query is not None and node.name in query.left | query.right:
        attrs.update(color=_HIGHLIGHT, penwidth="2")
    if styles:
        attrs["style"] = ",".join(dict.fromkeys(styles))
    return attrs


def render_dag(
    dag: Dag,
    path: str | Path,
    *,
    highlight: Claim | str | None = None,
    reading: Reading | None = None,
) -> Path:
    """Write the figure of ``dag`` to ``path``; the format is the suffix (svg, png, pdf, gv).

    Parameters
    ----------
    dag
        The DAG to draw.
    path
        The output file; its suffix picks the format.
    highlight
        A claim or query whose open paths are drawn in colour.
    reading
        The reading the open paths are found under; default: classical.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        For an unsupported suffix.
    GraphvizNotFoundError
        When ``dot`` is not installed; the ``.gv`` source is written beside ``path`` first,
        and the message says how to install Graphviz and finish the job by hand.
    """
    path = Path(path)
    fmt = _format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = format_dot(dag, highlight=highlight, reading=reading)
    if fmt == "gv":
        path.write_text(source, encoding="utf-8")
        return path
    path.write_bytes(_draw(source, fmt, path))
    return path


def _format_of(path: Path) -> str:
    """The format ``path``'s suffix names; ValueError for an unsupported one."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(
            f"{path}: cannot render to {path.suffix or 'a file without a suffix'!r}; "
            f"use one of {', '.join('.' + f for f in FORMATS)}"
        )
    return fmt


def _draw(source: str, fmt: str, path: Path) -> bytes:
    """``source`` drawn by ``dot`` as ``fmt``; without ``dot``, the ``.gv`` beside ``path``."""
    gv_path = path.with_suffix(".gv")
    if shutil.which("dot") is None:
        gv_path.write_text(source, encoding="utf-8")
        raise GraphvizNotFoundError(
            f"Graphviz's 'dot' program was not found, so {path.name} was not drawn; the DOT "
            f"source is in {gv_path}. Install Graphviz (Debian/Ubuntu: apt-get install graphviz; "
            f"macOS: brew install graphviz; conda: conda install graphviz), then rerun, or run "
            f"dot -T{fmt} {gv_path} -o {path}"
        )
    import graphviz

    try:
        data: bytes = graphviz.Source(source).pipe(format=fmt)
    except (
        graphviz.backend.ExecutableNotFound
    ) as err:  # dot vanished between the check and the call
        gv_path.write_text(source, encoding="utf-8")
        raise GraphvizNotFoundError(
            f"Graphviz's 'dot' failed to start; source in {gv_path}"
        ) from err
    return data
