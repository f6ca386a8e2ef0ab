"""dagitty model text: read what dagitty.net and the dagitty R/JS packages write, and write it.

dagitty's model syntax is a dialect of Graphviz DOT (grammar: ``jslib/parser/
GraphDotParser.pegjs`` in jtextor/dagitty; meaning: ``GraphParser.parseDotStatementArray``).
This reader follows both:

- ``dag { ... }`` (any case, optionally ``strict`` and a graph name), or the bare form
  ``a -> b`` with no header; a BOM and ``//``, ``/* */`` or ``#`` comments are skipped;
- spaces, newlines and ``;`` all separate statements, so ``dag{ a->x->m<-y m->p }`` is
  four edges and an edge may be split across lines;
- names are bare words of letters, digits, ``_`` and ``.`` (``EDN1.3``, ``1x``) or
  double-quoted strings (``"carry matches"``, ``\\"`` inside, ``"a" + "b"`` joined);
- ``{a b}`` groups, nested (``x -> {a -> b}`` is x->a, x->b, a->b), on either side of an
  arrow; chains ``a -> b <- c``;
- node attributes ``[latent]`` (``l``, ``u``, ``unobserved``), ``[selected]`` (``s``),
  ``[exposure]`` (``e``), ``[outcome]`` (``o``), ``[adjusted]`` (``a``), ``pos="x,y"``,
  ``label="..."``; ``bb="..."`` and other ``key=value`` graph options; edge attributes
  such as ``[beta=0.3]`` are read and ignored, as dagitty does;
- ``a <-> b`` becomes a latent common cause ``L1 -> a, L1 -> b``, named as dagitty's
  ``canonicalDag`` names it, and the DAG's description says so.

Refused, with what to do instead: ``pdag``/``mag``/``pag`` graphs, undirected ``--`` and
PAG edges (``@->``), a statement that starts with an arrow (``dag { -> a b }``), and
attribute sets that contradict each other (``latent`` and ``adjusted``). A node marked
both ``latent`` and ``selected`` is a selection node: iqalign never observes those either.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iqalign.errors import DagFormatError

if TYPE_CHECKING:  # causal.dag is imported where a Dag is built (it imports this module)
    from iqalign.causal.dag import Dag

__all__ = ["format_dagitty", "is_dagitty_text", "parse_dagitty"]

_EDGE_OPS = ("@->", "<-@", "--@", "<->", "@-@", "@--", "->", "--", "<-")
_TOKEN = re.compile(
    r"""(?P<skip>[\s;\ufeff]+|//[^\n]*|\#[^\n]*|/\*.*?\*/)
    | (?P<string>")
    | (?P<edge>@->|<-@|--@|<->|@-@|@--|->|--|<-)
    | (?P<id>-?[\w.]+)
    | (?P<punct>[{}\[\]=,+])""",
    re.VERBOSE | re.DOTALL,
)
_HEADER = re.compile(
    r"^(?:\s|\ufeff|//[^\n]*|\#[^\n]*|/\*.*?\*/)*(?:strict\s+)?"
    r"(dag|digraph|graph|pdag|mag|pag)\b(?:\s+(?:[\w.]+|\"[^\"]*\"))?\s*\{",
    re.IGNORECASE | re.DOTALL,
)
_FLAGS = {
    "latent": "latent", "l": "latent", "unobserved": "latent", "u": "latent",
    "selected": "selected", "s": "selected",
    "exposure": "exposure", "e": "exposure", "source": "exposure",
    "outcome": "outcome", "o": "outcome", "target": "outcome",
    "adjusted": "adjusted", "a": "adjusted",
}  # fmt: skip
_REFUSED_TYPES = {
    "pdag": "a PDAG/CPDAG stands for a class of DAGs with some edges unoriented; orient "
    "every '--' edge (pick one DAG of the class) and write it as 'dag { ... }'",
    "mag": "a MAG is not a DAG; dagitty's canonicalize() (R) turns it into a DAG with a "
    "latent node for each '<->' and a selected node for each '--': paste that",
    "pag": "a PAG (from FCI) leaves edge marks undetermined; choose one DAG that it "
    "represents and write it as 'dag { ... }'",
}
_DAGITTY_BARE = re.compile(r"^[0-9a-zA-Z_.]+$")


@dataclass(frozen=True)
class _Token:
    kind: str
    value: str
    line: int
    column: int

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}"


def is_dagitty_text(text: str) -> bool:
    """True when ``text`` opens with a dagitty/DOT graph header (``dag {``, ``DAG G {``...)."""
    return bool(_HEADER.match(text))


def parse_dagitty(text: str, source: str = "<string>", name: str | None = None) -> Dag:
    """Parse dagitty model text into a :class:`~iqalign.causal.Dag`.

    Parameters
    ----------
    text
        The dagitty model text (``dag { ... }``).
    source
        Where the text came from; every error message starts with it.
    name
        The DAG's name.

    Returns
    -------
    Dag
        The DAG, its latent and selection nodes marked as dagitty marks them.

    Examples
    --------
    >>> dag = parse_dagitty('dag { U [latent]\\n U -> X; X -> {Q M} }')
    >>> dag.node("U").role, dag.children("X")
    ('latent', ('M', 'Q'))
    >>> parse_dagitty("dag{ a->x->m<-y m->p }").parents("m")
    ('x', 'y')
    >>> sorted(parse_dagitty("x <-> y").graph.edges)
    [('L1', 'x'), ('L1', 'y')]
    """
    tokens = _tokenize(text, source)
    header = _HEADER.match(text)
    graph_name = ""
    if header:
        kind = header.group(1).lower()
        if kind in _REFUSED_TYPES:
            raise DagFormatError(
                f"{source}: a '{kind}' graph cannot be read: {_REFUSED_TYPES[kind]}"
            )
        tokens, graph_name = _strip_header(tokens, source)
    statements = _Parser(tokens, source).statements(until=None)
    builder = _Builder(source)
    builder.run(statements)
    return builder.build(name or "dagitty", graph_name)


# ------------------------------------------------------------------------- tokens


def _tokenize(text: str, source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, line, line_start = 0, 1, 0
    while position < len(text):
        column = position - line_start + 1
        if text[position] == '"':
            value, end = _read_string(text, position, source, line, column)
            tokens.append(_Token("string", value, line, column))
        else:
            match = _TOKEN.match(text, position)
            if not match:
                raise DagFormatError(
                    f"{source}: line {line}, column {column}: cannot read dagitty text at "
                    f"{text[position : position + 20].splitlines()[0]!r}; names are letters, "
                    'digits, _ and . or "quoted"'
                )
            end = match.end()
            kind = match.lastgroup or ""
            if kind != "skip":
                tokens.append(_Token(kind, match.group(kind), line, column))
        newlines = text.count("\n", position, end)
        if newlines:
            line += newlines
            line_start = text.rindex("\n", position, end) + 1
        position = end
    return _join_strings(tokens, source)


def _read_string(text: str, start: int, source: str, line: int, column: int) -> tuple[str, int]:
    # dagitty: \" is a quote, a backslash before a line break continues the line, any
    # other backslash is itself; a raw line break or control character ends nothing.
    out: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(out), position + 1
        if char == "\\" and text[position + 1 : position + 2] == '"':
            out.append('"')
            position += 2
        elif char == "\\" and text[position + 1 : position + 2] in ("\n", "\r"):
            position += 1
            while text[position : position + 1] in ("\n", "\r"):
                position += 1
        elif ord(char) < 32 or ord(char) == 127:
            break
        else:
            out.append(char)
            position += 1
    raise DagFormatError(
        f"{source}: line {line}, column {column}: unterminated string; close it with '\"' "
        "on the same line"
    )


def _join_strings(tokens: list[_Token], source: str) -> list[_Token]:
    """``"a" + "b"`` is one string (DOT concatenation)."""
    out: list[_Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind == "punct" and token.value == "+":
            before = out[-1] if out else None
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            if not (before and after and before.kind == after.kind == "string"):
                raise DagFormatError(f"{source}: {token.where}: '+' joins two quoted strings")
            out[-1] = _Token("string", before.value + after.value, before.line, before.column)
            index += 2
            continue
        out.append(token)
        index += 1
    return [_Token("id", t.value, t.line, t.column) if t.kind == "string" else t for t in out]


def _strip_header(tokens: list[_Token], source: str) -> tuple[list[_Token], str]:
    index = 1 if tokens[0].value.lower() == "strict" else 0
    index += 1  # the graph type
    graph_name = ""
    if tokens[index].kind == "id":
        graph_name = tokens[index].value
        index += 1
    last = tokens[-1]
    if last.kind != "punct" or last.value != "}":
        raise DagFormatError(
            f"{source}: {last.where}: the graph must end with its closing '}}', found "
            f"{last.value!r}"
        )
    return tokens[index + 1 : -1], graph_name


# ------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over dagitty's grammar; statements are plain tuples."""

    def __init__(self, tokens: list[_Token], source: str) -> None:
        self.tokens, self.index, self.source = tokens, 0, source

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.index + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: _Token | None, problem: str) -> DagFormatError:
        where = token.where if token else "end of text"
        return DagFormatError(f"{self.source}: {where}: {problem}")

    def statements(self, until: str | None) -> list[tuple]:
        out: list[tuple] = []
        while True:
            token = self.peek()
            if token is None:
                if until:
                    raise self.fail(None, "a '{' group is not closed; add '}'")
                return out
            if until and token.value == until and token.kind == "punct":
                self.take()
                return out
            out.append(self.statement())

    def statement(self) -> tuple:
        token = self.peek()
        assert token is not None
        if token.kind == "id" and self._is(1, "="):
            key = self.take()
            self.take()
            return ("option", key.value, self.value_after(key), key)
        if token.kind == "edge":
            raise self.fail(
                token, f"'{token.value}' has no node before it; write 'a {token.value} b'"
            )
        operand = self.operand()
        if operand is None:
            raise self.fail(token, f"unexpected {token.value!r}; expected a node name or '{{'")
        if self.peek() and self.peek().kind == "edge":  # type: ignore[union-attr]
            operands, ops = [operand], []
            while self.peek() and self.peek().kind == "edge":  # type: ignore[union-attr]
                op = self.take()
                following = self.operand()
                if following is None:
                    raise self.fail(self.peek(), f"'{op.value}' at {op.where} has no node after it")
                ops.append(op)
                operands.append(following)
            return ("edge", operands, ops, self.attributes())
        if operand[0] == "group":
            return operand
        return ("node", operand[1], self.attributes(), token)

    def operand(self) -> tuple | None:
        token = self.peek()
        if token is None:
            return None
        if token.kind == "id":
            self.take()
            return ("id", token.value, token)
        if token.kind == "punct" and token.value == "{":
            self.take()
            return ("group", self.statements(until="}"))
        return None

    def attributes(self) -> list[tuple[str, Any, _Token]]:
        if not self._is(0, "["):
            return []
        self.take()
        out: list[tuple[str, Any, _Token]] = []
        while not self._is(0, "]"):
            key = self.peek()
            if key is None or key.kind != "id":
                raise self.fail(key, "expected an attribute name or ']' in '[...]'")
            self.take()
            value: Any = True
            if self._is(0, "="):
                self.take()
                value = self.value_after(key)
            out.append((key.value, value, key))
            if self._is(0, ","):
                self.take()
        self.take()
        return out

    def value_after(self, key: _Token) -> str:
        token = self.peek()
        if token is None or token.kind != "id":
            raise self.fail(token or key, f"'{key.value}=' needs a value, e.g. {key.value}=\"...\"")
        return self.take().value

    def _is(self, ahead: int, punct: str) -> bool:
        token = self.peek(ahead)
        return token is not None and token.kind == "punct" and token.value == punct


# ------------------------------------------------------------------------ builder


@dataclass
class _Builder:
    """Turns statements into nodes and edges (dagitty ``parseDotStatementArray``)."""

    source: str
    order: list[str] = field(default_factory=list)
    flags: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    edges: dict[tuple[str, str], None] = field(default_factory=dict)
    bidirected: dict[frozenset[str], tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def declare(self, name: str, token: _Token) -> str:
        if name in ("graph", "node"):
            raise DagFormatError(
                f"{self.source}: {token.where}: a node cannot be named {name!r} in dagitty; "
                'rename it and give it label="' + name + '"'
            )
        if name not in self.flags:
            self.flags[name] = set()
            self.order.append(name)
        return name

    def run(self, statements: list[tuple]) -> list[str]:
        members: dict[str, None] = {}
        for statement in statements:
            kind = statement[0]
            if kind == "option":
                self.option(statement[1], statement[2], statement[3])
            elif kind == "group":
                members.update(dict.fromkeys(self.run(statement[1])))
            elif kind == "node" and statement[1] == "graph":
                for key, value, token in statement[2]:
                    self.option(key, value, token)
            elif kind == "node":
                members[self.declare(statement[1], statement[3])] = None
                for key, value, token in statement[2]:
                    self.attribute(statement[1], key, value, token)
            else:
                members.update(dict.fromkeys(self.edge_statement(statement)))
        return list(members)

    def resolve(self, operand: tuple) -> list[str]:
        if operand[0] == "id":
            return [self.declare(operand[1], operand[2])]
        return self.run(operand[1])

    def edge_statement(self, statement: tuple) -> list[str]:
        _, operands, ops, attributes = statement
        sides = [self.resolve(operand) for operand in operands]
        for left, op, right in zip(sides, ops, sides[1:], strict=False):
            for a in left:
                for b in right:
                    self.add_edge(a, op, b)
        if any(key in _FLAGS for key, _, _ in attributes):
            self.notes.append(
                f"attributes after the edge at {ops[0].where} belong to the edge (as in "
                "dagitty) and were ignored; give a node its role in its own statement: U [latent]"
            )
        return [name for side in sides for name in side]

    def add_edge(self, a: str, op: _Token, b: str) -> None:
        if op.value == "->":
            self.edges[(a, b)] = None
        elif op.value == "<-":
            self.edges[(b, a)] = None
        elif op.value == "<->":
            self.bidirected.setdefault(frozenset((a, b)), (a, b))
        elif op.value == "--":
            raise DagFormatError(
                f"{self.source}: {op.where}: '{a} -- {b}' is undirected; iqalign needs a DAG: "
                f"orient it ('{a} -> {b}' or '{a} <- {b}'), or, if it stands for selection, "
                f"add a selected node: {a} -> S <- {b}, S [selected]"
            )
        else:
            raise DagFormatError(
                f"{self.source}: {op.where}: '{op.value}' is a PAG edge mark; iqalign needs a "
                "DAG: choose an orientation ('->', '<-', or '<->' for a latent common cause)"
            )

    def option(self, key: str, value: Any, token: _Token) -> None:
        numbers = r"\s*-?[0-9.]+\s*"
        if key == "bb" and not re.fullmatch(",".join([numbers] * 4), str(value)):
            raise DagFormatError(
                f"{self.source}: {token.where}: bb={value!r}: expected four numbers, "
                'e.g. bb="0,0,1,1"'
            )

    def attribute(self, node: str, key: str, value: Any, token: _Token) -> None:
        if key in _FLAGS:
            self.flags[node].add(_FLAGS[key])
        elif key == "pos":
            if not re.search(r"-?[0-9.]+\s*,\s*-?[0-9.]+", str(value)):
                raise DagFormatError(
                    f"{self.source}: {token.where}: node {node!r}: pos={value!r}: expected "
                    'two numbers, e.g. pos="1,2"'
                )
        elif key == "label":
            if node in self.labels and self.labels[node] != value:
                raise DagFormatError(
                    f"{self.source}: {token.where}: node {node!r} has two labels, "
                    f"{self.labels[node]!r} and {value!r}; keep one"
                )
            self.labels[node] = str(value)
        elif value is True:
            close = difflib.get_close_matches(key, [*_FLAGS, "pos", "label"], n=2)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DagFormatError(
                f"{self.source}: {token.where}: node {node!r}: unknown dagitty attribute "
                f"{key!r}{hint} Known: latent (l, u, unobserved), selected (s), exposure (e), "
                "outcome (o), adjusted (a), pos=..., label=..."
            )
        # Other key=value attributes (beta=0.3, color=...) are kept by dagitty for its
        # own tools; they do not change the graph.

    def role(self, node: str) -> str:
        flags = self.flags[node]
        if {"latent", "adjusted"} <= flags:
            raise DagFormatError(
                f"{self.source}: node {node!r} is marked both latent and adjusted; a latent "
                "node cannot be adjusted for: drop one of the two"
            )
        if {"latent", "selected"} <= flags:
            self.notes.append(
                f"{node} is marked latent and selected: read as a selection node (never "
                "observed, conditioned on by design)"
            )
        if "selected" in flags:
            return "selection"
        return "latent" if "latent" in flags else "observed"

    def build(self, name: str, graph_name: str) -> Dag:
        from iqalign.causal.dag import Dag, Edge, Node

        nodes = [Node(n, role=self.role(n), label=self.labels.get(n, "")) for n in self.order]  # type: ignore[arg-type]
        edges = [Edge(a, b) for a, b in self.edges]
        taken = set(self.order)
        counter = 1
        for a, b in self.bidirected.values():
            while f"L{counter}" in taken:
                counter += 1
            latent = f"L{counter}"
            taken.add(latent)
            nodes.append(Node(latent, role="latent"))
            edges += [Edge(latent, a), Edge(latent, b)]
            self.notes.append(f"{a} <-> {b} read as a latent common cause {latent} -> {a}, {b}")
        for flag in ("exposure", "outcome", "adjusted"):
            marked = [n for n in self.order if flag in self.flags[n]]
            if marked:
                self.notes.append(f"dagitty {flag}: {', '.join(marked)}")
        description = "\n".join(["Read from dagitty text."] + [f"- {n}" for n in self.notes])
        return Dag(
            name=name,
            title=graph_name,
            description=description if self.notes else "",
            nodes=tuple(nodes),
            edges=tuple(edges),
            source=self.source,
        )


# ------------------------------------------------------------------------- writer


def _quote(name: str, what: str) -> str:
    if _DAGITTY_BARE.match(name):
        return name
    if name.endswith("\\") or not name.isprintable() or name in ("graph", "node"):
        raise DagFormatError(
            f"{what} {name!r} cannot be written as dagitty text (a trailing backslash, a "
            "control character or the words graph/node); rename it"
        )
    return '"' + name.replace('"', '\\"') + '"'


def format_dagitty(dag: Dag) -> str:
    """dagitty text for ``dag`` (paste into dagitty.net); latent and selection roles and
    labels kept, names quoted as dagitty quotes them.

    Parameters
    ----------
    dag
        The DAG to write.

    Returns
    -------
    str
        The dagitty model text (``dag { ... }``).

    Examples
    --------
    >>> print(format_dagitty(parse_dagitty('dag { U [latent]; U -> "my X" }')))
    dag {
      U [latent]
      "my X"
      U -> "my X"
    }
    """
    lines = ["dag {"]
    for node in dag.nodes:
        attrs = []
        if node.role == "latent":
            attrs.append("latent")
        elif node.role == "selection":
            attrs.append("selected")
        if node.label and node.label != node.name:
            attrs.append(f"label={_quote_value(node.label)}")
        text = _quote(node.name, "node")
        lines.append(f"  {text}" + (f" [{','.join(attrs)}]" if attrs else ""))
    lines += [f"  {_quote(e.source, 'node')} -> {_quote(e.target, 'node')}" for e in dag.edges]
    lines.append("}")
    return "\n".join(lines)


def _quote_value(value: str) -> str:
    if _DAGITTY_BARE.match(value):
        return f'"{value}"'
    return _quote(value, "label")
