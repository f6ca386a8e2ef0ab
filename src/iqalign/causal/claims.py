"""Claims: conditional (in)dependence statements in dagitty notation.

A claim names two disjoint node sets and a conditioning set, and says whether they are
independent given it::

    Q _||_ M | X          # Q is independent of M given X
    Q !_||_ M | Y         # Q and M are dependent given Y
    Q _||_ M | X, Y       # given both X and Y
    Q _||_ M              # marginally

``⊥`` is accepted for ``_||_`` and ``⊥̸`` or ``not _||_`` for ``!_||_``. This is the notation
dagitty prints for a DAG's implied independencies, so claims paste to and from
dagitty.net unchanged. Claims are plain values: checking one against a DAG is
:func:`iqalign.causal.check_claim`.

Node names are written bare when they are letters, digits, ``_`` and ``.`` (``EDN1.3``,
``1st``, ``Ŷ``); any other name is written in double quotes, with ``\"`` and ``\\``
inside (``"carry matches" _||_ M``). :func:`format_name` writes a name that way and
every reader (claims, YAML edges, queries) reads it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iqalign.errors import ClaimSyntaxError

__all__ = ["Claim", "format_name", "parse_claim", "parse_query", "split_names"]

_BARE_NAME = re.compile(r"^[\w.]+$")
# Words a bare name cannot be: they read as operators.
_RESERVED = frozenset({"not"})
_QUOTED = r'"(?:[^"\\]|\\.)*"'


@dataclass(frozen=True)
class Claim:
    """``left (in)dependent of right given given``.

    Examples
    --------
    >>> claim = parse_claim("Q _||_ M | X, Y")
    >>> claim.independent, sorted(claim.given)
    (True, ['X', 'Y'])
    >>> str(claim)
    'Q _||_ M | X, Y'
    >>> str(claim.negated())
    'Q !_||_ M | X, Y'
    """

    left: frozenset[str]
    right: frozenset[str]
    given: frozenset[str] = frozenset()
    independent: bool = True

    def __str__(self) -> str:
        operator = "_||_" if self.independent else "!_||_"
        text = f"{_join(self.left)} {operator} {_join(self.right)}"
        return f"{text} | {_join(self.given)}" if self.given else text

    @property
    def nodes(self) -> frozenset[str]:
        """Every node the claim names."""
        return self.left | self.right | self.given

    def negated(self) -> Claim:
        """The same sets with the opposite (in)dependence."""
        return Claim(self.left, self.right, self.given, not self.independent)

    def as_independence(self) -> Claim:
        """The same sets stated as an independence (the query a d-separation test answers)."""
        return Claim(self.left, self.right, self.given, True)


def _join(names: frozenset[str]) -> str:
    return ", ".join(format_name(name) for name in sorted(names))


def format_name(name: str) -> str:
    """``name`` as claims, queries and YAML edges write it: bare, or quoted when needed.

    Examples
    --------
    >>> format_name("EDN1.3"), format_name("carry matches"), format_name('say "hi"')
    ('EDN1.3', '"carry matches"', '"say \\\\"hi\\\\""')
    """
    if _BARE_NAME.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1]) if token.startswith('"') else token


_CLAIM_TOKEN = re.compile(
    rf"""\s*(?:
      (?P<dep>not\s+_\|\|_|!_\|\|_|⊥\u0338)
    | (?P<ind>_\|\|_|⊥)
    | (?P<bar>\|)
    | (?P<comma>,)
    | (?P<quoted>{_QUOTED})
    | (?P<word>(?:(?!!?_\|\|_)[^\s,|"⊥])+)
    )""",
    re.VERBOSE,
)


def parse_claim(text: str) -> Claim:
    """Parse ``"Q _||_ M | X, Y"`` (or ``"Q !_||_ M | Y"``) into a :class:`Claim`.

    Parameters
    ----------
    text
        The claim in dagitty's notation.

    Returns
    -------
    Claim
        The parsed claim.

    Raises
    ------
    ClaimSyntaxError
        If the text has no operator, an empty side, a malformed node name, or a node
        on two sides. The message quotes the text and shows the expected form.

    Examples
    --------
    >>> parse_claim("Q !_||_ M").independent
    False
    >>> parse_claim("Q ⊥ M | C, S").given == frozenset({"C", "S"})
    True
    >>> sorted(parse_claim('"carry matches" _||_ EDN1.3').nodes)
    ['EDN1.3', 'carry matches']
    """
    if not isinstance(text, str) or not text.strip():
        raise ClaimSyntaxError(_syntax_message(text, "the claim is empty"))
    parts: list[list[str]] = [[]]
    operators: list[bool] = []
    bars = 0
    tokens = _tokenize_claim(text)
    if not any(kind in ("dep", "ind") for kind, _ in tokens):
        raise ClaimSyntaxError(_syntax_message(text, "no '_||_' or '!_||_' operator"))
    for kind, value in tokens:
        if kind in ("dep", "ind"):
            if operators or bars:
                raise ClaimSyntaxError(_syntax_message(text, "more than one operator"))
            operators.append(kind == "ind")
            parts.append([])
        elif kind == "bar":
            bars += 1
            if bars > 1:
                raise ClaimSyntaxError(_syntax_message(text, "more than one '|'"))
            parts.append([])
        elif kind != "comma":
            parts[-1].append(value)
    if len(parts) == 2 and bars:  # "Q | X _||_ M": the bar came before the operator
        raise ClaimSyntaxError(_syntax_message(text, "'|' before the operator"))
    left = _side(parts[0], text, "left side")
    right = _side(parts[1], text, "right side")
    given = frozenset(parts[2]) if len(parts) > 2 else frozenset()
    _check_disjoint(text, left, right, given)
    return Claim(left, right, given, operators[0])


def _check_disjoint(
    text: str, left: frozenset[str], right: frozenset[str], given: frozenset[str]
) -> None:
    """Raise if a node of ``text`` is on both sides, or on a side and in the conditioning set."""
    for a, b, what in (
        (left, right, "both sides"),
        (left | right, given, "a side and the conditioning set"),
    ):
        overlap = a & b
        if overlap:
            raise ClaimSyntaxError(
                _syntax_message(text, f"{', '.join(sorted(overlap))} appears in {what}")
            )


def _tokenize_claim(text: str) -> list[tuple[str, str]]:
    tokens, position, end = [], 0, len(text.rstrip())
    while position < end:
        match = _CLAIM_TOKEN.match(text, position)
        if not match or match.end() == position:
            rest = text[position:].strip()[:20]
            raise ClaimSyntaxError(_syntax_message(text, f"cannot read {rest!r}"))
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and not _BARE_NAME.match(value):
            raise ClaimSyntaxError(
                _syntax_message(
                    text,
                    f"{value!r} is not a node name (letters, digits, '_', '.'); write other "
                    f"names in double quotes: {format_name(value)}",
                )
            )
        if kind == "quoted":
            value = _unquote(value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _side(names: list[str], text: str, what: str) -> frozenset[str]:
    if not names:
        raise ClaimSyntaxError(_syntax_message(text, f"the {what} names no node"))
    return frozenset(names)


def split_names(text: str) -> list[str]:
    """Node names separated by commas or spaces; double-quoted names may hold either.

    Examples
    --------
    >>> split_names('X, "carry matches" EDN1.3')
    ['X', 'carry matches', 'EDN1.3']
    """
    names = []
    for kind, value in _tokenize_claim(text):
        if kind in ("dep", "ind", "bar"):
            raise ClaimSyntaxError(
                f"cannot read node names {text!r}: unexpected {value!r}; "
                'separate names with commas or spaces, quote others ("my node")'
            )
        if kind != "comma":
            names.append(value)
    return names


def _syntax_message(text: object, problem: str) -> str:
    return (
        f"cannot parse claim {text!r}: {problem}; "
        "expected e.g. 'Q _||_ M | X, Y' (independent) or 'Q !_||_ M | Y' (dependent)"
    )


def parse_query(text: str) -> Claim:
    """Parse a d-separation query: ``"Q M | X"`` (two nodes, then the conditioning set) or
    any claim (``"Q _||_ M | X"``). The result is stated as an independence.

    Parameters
    ----------
    text
        The query or claim text.

    Returns
    -------
    Claim
        The query as an independence claim.

    Examples
    --------
    >>> str(parse_query("Q M | X, Y"))
    'Q _||_ M | X, Y'
    """
    tokens = _tokenize_claim(text)
    if any(kind in ("dep", "ind") for kind, _ in tokens):
        return parse_claim(text).as_independence()
    bar = next((i for i, (kind, _) in enumerate(tokens) if kind == "bar"), len(tokens))
    names = [value for kind, value in tokens[:bar] if kind not in ("comma", "bar")]
    if len(names) != 2 or sum(kind == "bar" for kind, _ in tokens) > 1:
        raise ClaimSyntaxError(
            f"cannot parse query {text!r}: expected two nodes then an optional conditioning "
            "set, e.g. 'Q M | X' (or a claim such as 'Q _||_ M | X')"
        )
    given = [value for kind, value in tokens[bar + 1 :] if kind != "comma"]
    claim = Claim(frozenset(names[:1]), frozenset(names[1:]), frozenset(given), True)
    return parse_claim(str(claim))
