"""Reading and writing DAGs: the YAML files in ``dags/``, dagitty text, DOT, pgmpy.

``parse_*`` functions take text and are pure; ``load_*`` functions take a path or a
built-in name, read the file and call the parser. The YAML schema is documented in
``dags/README.md``; dagitty text (``dag { A -> B; U [latent] }``) is accepted wherever
a DAG is, so a graph drawn on dagitty.net is one paste away.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign.causal.claims import _unquote, parse_claim
from iqalign.causal.dag import AppliesTo, Dag, Edge, Node, RecordedClaim
from iqalign.causal.dagitty import format_dagitty, is_dagitty_text, parse_dagitty
from iqalign.errors import ClaimSyntaxError, DagFormatError, DagNotFoundError, did_you_mean

if TYPE_CHECKING:  # pgmpy is slow to import: only to_pgmpy imports it at run time
    from pgmpy.base import DAG as PgmpyDAG

__all__ = [
    "dag_to_dict",
    "format_dagitty",
    "get_builtin_dag_dir",
    "list_builtin_dags",
    "list_variant_groups",
    "load_dag",
    "parse_dag",
    "parse_dagitty",
    "to_pgmpy",
]

_TOP_KEYS = (
    "name",
    "title",
    "description",
    "paper",
    "nodes",
    "edges",
    "implies",
    "not_implies",
    "under_selection",
    "under_determinism",
    "applies_to",
    "variant_of",
)
_NODE_KEYS = ("role", "label", "deterministic", "column", "identifies_row", "description")
_EDGE_KEYS = ("edge", "style", "note", "input")
_NAME = r'[\w.]+|"(?:[^"\\]|\\.)*"'
_EDGE = re.compile(rf"^\s*({_NAME})\s*->\s*({_NAME})\s*$")
_CLAIM_SECTIONS = {"under_selection": "selection", "under_determinism": "deterministic"}
_DAGITTY_SUFFIXES = (".dagitty", ".txt", ".dag")
_YAML_SUFFIXES = (".yaml", ".yml")


# ----------------------------------------------------------------------------- YAML


def parse_dag(text: str, source: str = "<string>", name: str | None = None) -> Dag:
    """Parse a DAG from YAML text (the ``dags/*.yaml`` schema) or dagitty text.

    Parameters
    ----------
    text
        The file's content.
    source
        Where the text came from; every error message starts with it.
    name
        The DAG's name when the text gives none (``load_dag`` passes the file stem).

    Returns
    -------
    Dag
        The validated DAG.

    Examples
    --------
    >>> dag = parse_dag('''
    ... nodes: {X: {}, Q: {deterministic: true}, M: {}}
    ... edges: ["X -> Q", "X -> M"]
    ... implies: ["Q _||_ M | X"]
    ... ''', name="tiny")
    >>> dag.parents("Q"), str(dag.claims[0].claim)
    (('X',), 'Q _||_ M | X')
    """
    if is_dagitty_text(text):
        return parse_dagitty(text, source=source, name=name)
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        if _has_arrow(text):  # dagitty's bare form, "a -> b; U [latent]"
            return parse_dagitty(text, source=source, name=name)
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise DagFormatError(f"{source}: not valid YAML{at}: {problem}") from err
    if not isinstance(data, Mapping) and _has_arrow(text):
        return parse_dagitty(text, source=source, name=name)
    if not isinstance(data, Mapping):
        raise DagFormatError(
            f"{source}: expected a YAML mapping with 'nodes' and 'edges', got {type(data).__name__}"
        )
    return _dag_from_mapping(data, source, name)


def _has_arrow(text: str) -> bool:
    """dagitty's bare form (``a -> b``, no header): arrows, and no ``key:`` line of YAML."""
    has_key = re.search(r"^\s*[A-Za-z_]\w*\s*:", text, re.MULTILINE)
    return bool(re.search(r"->|<-", text)) and not has_key


def _dag_from_mapping(data: Mapping[str, Any], source: str, name: str | None) -> Dag:
    for key in data:
        if key not in _TOP_KEYS:
            raise DagFormatError(f"{source}: {key}: unknown field{_suggest(str(key), _TOP_KEYS)}")
    nodes = _parse_nodes(data.get("nodes"), source)
    edges = _parse_edges(data.get("edges"), source)
    declared = [node.name for node in nodes]
    claims = _parse_claim_lists(data, source, "classical", "", declared)
    for section, criterion in _CLAIM_SECTIONS.items():
        block = data.get(section)
        if block is None:
            continue
        if not isinstance(block, Mapping):
            raise DagFormatError(
                f"{source}: {section}: expected a mapping with 'implies' and/or 'not_implies'"
            )
        for key in block:
            if key not in ("implies", "not_implies"):
                raise DagFormatError(
                    f"{source}: {section}.{key}: unknown field; use 'implies' or 'not_implies'"
                )
        claims += _parse_claim_lists(block, source, criterion, f"{section}.", declared)
    applies_to = _parse_applies_to(data.get("applies_to"), source)
    paper = data.get("paper") or {}
    if not isinstance(paper, Mapping):
        raise DagFormatError(f"{source}: paper: expected a mapping such as {{figure: 'Fig. 1'}}")
    return Dag(
        name=str(data.get("name") or name or "dag"),
        title=str(data.get("title") or ""),
        description=str(data.get("description") or "").strip(),
        paper={str(k): str(v) for k, v in paper.items()},
        nodes=nodes,
        edges=edges,
        claims=claims,
        applies_to=applies_to,
        source=source,
        variant_of=str(data.get("variant_of") or ""),
    )


def _parse_applies_to(raw: Any, source: str) -> AppliesTo:
    if raw is None:
        return AppliesTo()
    if not isinstance(raw, Mapping):
        raise DagFormatError(
            f"{source}: applies_to: expected a mapping such as "
            "{families: [strong_tg], q_source: same_model}"
        )
    for key in raw:
        if key not in ("families", "q_source"):
            raise DagFormatError(
                f"{source}: applies_to.{key}: unknown field; use 'families' or 'q_source'"
            )
    families = raw.get("families") or []
    if isinstance(families, str):
        families = [families]
    if not isinstance(families, list):
        raise DagFormatError(f"{source}: applies_to.families: expected a list of family names")
    return AppliesTo(tuple(str(f) for f in families), str(raw.get("q_source", "any")))


def _parse_nodes(raw: Any, source: str) -> tuple[Node, ...]:
    if raw is None:
        raise DagFormatError(
            f"{source}: nodes: missing; declare every node, e.g. nodes: {{X: {{}}}}"
        )
    if isinstance(raw, list):  # a bare list of names: every node observed
        raw = {name: {} for name in raw}
    if not isinstance(raw, Mapping):
        raise DagFormatError(f"{source}: nodes: expected a mapping of node name -> attributes")
    nodes = []
    for name, attrs in raw.items():
        field = f"nodes.{name}"
        if not isinstance(name, str) or not name or not name.isprintable():
            raise DagFormatError(
                f"{source}: {field}: a node name is a non-empty string of printable "
                "characters (quote it in YAML if it has spaces or ':')"
            )
        attrs = attrs or {}
        if not isinstance(attrs, Mapping):
            raise DagFormatError(f"{source}: {field}: expected a mapping such as {{role: latent}}")
        for key in attrs:
            if key not in _NODE_KEYS:
                raise DagFormatError(
                    f"{source}: {field}.{key}: unknown field{_suggest(str(key), _NODE_KEYS)}"
                )
        for flag in ("deterministic", "identifies_row"):
            if not isinstance(attrs.get(flag, False), bool):
                raise DagFormatError(
                    f"{source}: {field}.{flag}: expected true or false, got {attrs[flag]!r}"
                )
        nodes.append(
            Node(
                name=name,
                role=str(attrs.get("role", "observed")),  # type: ignore[arg-type]
                label=str(attrs.get("label") or ""),
                deterministic=attrs.get("deterministic", False),
                column=None if attrs.get("column") is None else str(attrs["column"]),
                identifies_row=attrs.get("identifies_row", False),
                description=str(attrs.get("description") or ""),
            )
        )
    return tuple(nodes)


def _parse_edges(raw: Any, source: str) -> tuple[Edge, ...]:
    if raw is None:
        raise DagFormatError(f"{source}: edges: missing; list edges as 'A -> B'")
    if not isinstance(raw, list):
        raise DagFormatError(f"{source}: edges: expected a list of 'A -> B' strings")
    edges = []
    for index, item in enumerate(raw):
        attrs: Mapping[str, Any] = {}
        if isinstance(item, Mapping):
            attrs = item
            for key in attrs:
                if key not in _EDGE_KEYS:
                    hint = _suggest(str(key), _EDGE_KEYS)
                    raise DagFormatError(f"{source}: edges[{index}].{key}: unknown field{hint}")
            item = attrs.get("edge")
        match = _EDGE.match(item) if isinstance(item, str) else None
        if not match:
            raise DagFormatError(
                f"{source}: edges[{index}]: cannot read {item!r}; write an edge as 'A -> B' "
                "(or {edge: 'A -> B', style: dashed})"
            )
        edges.append(
            Edge(
                _unquote(match.group(1)),
                _unquote(match.group(2)),
                style=str(attrs.get("style", "solid")),
                note=str(attrs.get("note") or ""),
                input=_flag(attrs, "input", True, f"{source}: edges[{index}]"),
            )
        )
    return tuple(edges)


def _flag(attrs: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = attrs.get(key, default)
    if not isinstance(value, bool):
        raise DagFormatError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _parse_claim_lists(
    data: Mapping[str, Any], source: str, criterion: str, prefix: str, declared: list[str]
) -> tuple[RecordedClaim, ...]:
    recorded = []
    for key, holds in (("implies", True), ("not_implies", False)):
        items = data.get(key) or []
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            raise DagFormatError(f"{source}: {prefix}{key}: expected a list of claims")
        for index, text in enumerate(items):
            try:
                claim = parse_claim(text)
            except ClaimSyntaxError as err:
                raise DagFormatError(f"{source}: {prefix}{key}[{index}]: {err}") from err
            unknown = sorted(claim.nodes - set(declared))
            if unknown:
                raise DagFormatError(
                    f"{source}: {prefix}{key}[{index}] {text!r}: names undeclared node(s) "
                    f"{unknown}; nodes are {declared}"
                )
            recorded.append(RecordedClaim(claim if holds else claim.negated(), criterion))
    return tuple(recorded)


def dag_to_dict(dag: Dag) -> dict[str, Any]:
    """The YAML schema's plain data for ``dag`` (round-trips through :func:`parse_dag`).

    Parameters
    ----------
    dag
        The DAG to export.

    Returns
    -------
    dict[str, Any]
        Plain data (dicts, lists, strings) that ``yaml.safe_dump`` writes as a DAG file.
    """
    data: dict[str, Any] = {"name": dag.name}
    if dag.variant_of:
        data["variant_of"] = dag.variant_of
    if dag.title:
        data["title"] = dag.title
    if dag.paper:
        data["paper"] = dict(dag.paper)
    if dag.description:
        data["description"] = dag.description
    data["nodes"] = {node.name: _node_to_dict(node) for node in dag.nodes}
    data["edges"] = [_edge_to_item(edge) for edge in dag.edges]
    if dag.applies_to != AppliesTo():
        data["applies_to"] = {
            "families": list(dag.applies_to.families),
            "q_source": dag.applies_to.q_source,
        }
    _add_claims(data, dag)
    return data


def _node_to_dict(node: Node) -> dict[str, Any]:
    """One node's attributes as the YAML schema writes them (defaults left out)."""
    attrs: dict[str, Any] = {"role": node.role}
    if node.label:
        attrs["label"] = node.label
    if node.deterministic:
        attrs["deterministic"] = True
    if node.column is not None:
        attrs["column"] = node.column
    if node.identifies_row:
        attrs["identifies_row"] = True
    if node.description:
        attrs["description"] = node.description
    return attrs


def _edge_to_item(edge: Edge) -> str | dict[str, str | bool]:
    """One edge: its text, or a mapping when it has a style, a note or is not an input."""
    if edge.style == "solid" and not edge.note and edge.input:
        return str(edge)
    item: dict[str, str | bool] = {"edge": str(edge), "style": edge.style}
    if not edge.input:
        item["input"] = False
    if edge.note:
        item["note"] = edge.note
    return item


def _add_claims(data: dict[str, Any], dag: Dag) -> None:
    """Add the recorded claims: classical ones at the top, the others in their sections."""
    for criterion, section in (("classical", None), *((v, k) for k, v in _CLAIM_SECTIONS.items())):
        block: dict[str, list[str]] = {}
        for recorded in dag.claims:
            if recorded.criterion != criterion:
                continue
            claim = recorded.claim
            key = "implies" if claim.independent else "not_implies"
            block.setdefault(key, []).append(str(claim if claim.independent else claim.negated()))
        if section is None:
            data.update(block)
        elif block:
            data[section] = block


# ---------------------------------------------------------------------- pgmpy


def to_pgmpy(dag: Dag) -> PgmpyDAG:
    """A ``pgmpy.base.DAG`` with the same edges; latent nodes passed as ``latents``.

    pgmpy is imported here only: it is slow to import and pulls in torch where installed.

    Parameters
    ----------
    dag
        The DAG.

    Returns
    -------
    pgmpy.base.DAG
        The pgmpy DAG.
    """
    try:
        from pgmpy.base import DAG as PgmpyDAG
    except ImportError as err:  # pragma: no cover - pgmpy is a core dependency
        raise ImportError("to_pgmpy needs pgmpy: pip install pgmpy") from err
    model = PgmpyDAG()
    model.add_nodes_from(dag.node_names)
    model.add_edges_from((edge.source, edge.target) for edge in dag.edges)
    latents = dag.nodes_with_role("latent")
    # pgmpy checks that role variables exist, so roles are attached after the nodes.
    return model.with_role("latents", list(latents), inplace=False) if latents else model


# ----------------------------------------------------------------- files, built-ins


def get_builtin_dag_dir() -> Path:
    """The folder that holds the built-in DAG files (``dags/`` in the source tree).

    Returns
    -------
    pathlib.Path
        The folder of the built-in ``*.yaml`` DAG files.
    """
    return Path(str(resources.files("iqalign") / "dags"))


def list_builtin_dags() -> list[str]:
    """Names of the built-in DAGs, sorted.

    Returns
    -------
    list[str]
        The names :func:`load_dag` accepts.
    """
    return sorted(path.stem for path in get_builtin_dag_dir().glob("*.yaml"))


def list_variant_groups(dags: list[Dag] | None = None) -> dict[str, list[Dag]]:
    """Readings of one paper figure: DAG name -> that DAG and the DAGs whose
    ``variant_of`` names it (only groups of two or more; default: the built-ins).

    Parameters
    ----------
    dags
        The DAGs to group; ``None`` groups the built-in DAGs.

    Returns
    -------
    dict[str, list[Dag]]
        Each base DAG's name and its group, the base DAG first.

    Examples
    --------
    >>> [d.name for d in list_variant_groups()["weak_task_guided"]]
    ['weak_task_guided', 'weak_task_guided_collider']
    """
    dags = dags if dags is not None else [load_dag(name) for name in list_builtin_dags()]
    groups: dict[str, list[Dag]] = {}
    for dag in dags:
        groups.setdefault(dag.variant_of or dag.name, []).append(dag)
    return {root: members for root, members in groups.items() if len(members) > 1}


def load_dag(name_or_path: str | Path) -> Dag:
    """Load a built-in DAG by name, or a user's ``.yaml`` / dagitty (``.dagitty``, ``.txt``) file.

    Parameters
    ----------
    name_or_path
        A built-in name (:func:`list_builtin_dags`) or the path of a DAG file.

    Returns
    -------
    Dag
        The validated DAG.

    Raises
    ------
    DagNotFoundError
        If the argument is neither an existing file nor a built-in name; the message lists
        the built-ins and close matches.
    DagFormatError
        If the file does not parse or validate (``file: field: problem``).

    Examples
    --------
    >>> load_dag("shared_features").node("Z").role
    'latent'
    """
    path = Path(name_or_path)
    text_name = str(name_or_path)
    looks_like_path = path.suffix.lower() in _YAML_SUFFIXES + _DAGITTY_SUFFIXES or "/" in text_name
    if path.is_file():
        return _load_file(path)
    if not looks_like_path:
        builtin = get_builtin_dag_dir() / f"{text_name}.yaml"
        if builtin.is_file():
            return _load_file(builtin, source=f"dags/{builtin.name}")
    names = list_builtin_dags()
    hint = did_you_mean(path.stem, names)
    what = f"file {str(path)!r} does not exist" if looks_like_path else f"no DAG {text_name!r}"
    raise DagNotFoundError(
        f"{what}.{hint} Built-in DAGs: {', '.join(names)}; or pass a path to a .yaml or "
        ".dagitty file"
    )


def _load_file(path: Path, source: str | None = None) -> Dag:
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DagFormatError(f"{source}: cannot read the file: {err}") from err
    if path.suffix.lower() in _DAGITTY_SUFFIXES:
        return parse_dagitty(text, source=source, name=path.stem)
    return parse_dag(text, source=source, name=path.stem)


def _suggest(word: str, choices: Sequence[str]) -> str:
    hint = did_you_mean(word, choices)
    if hint:
        return f";{hint}"
    return f"; valid fields are {list(choices)}" if len(choices) < 12 else ""
