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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iqalign.errors import ClaimSyntaxError

__all__ = ["Claim", "parse_claim", "parse_query"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Longest operators first so that "!_||_" is not read as "_||_".
_OPERATORS = (
    ("not _||_", False),
    ("!_||_", False),
    ("⊥̸", False),
    ("_||_", True),
    ("⊥", True),
)


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
    return ", ".join(sorted(names))


def parse_claim(text: str) -> Claim:
    """Parse ``"Q _||_ M | X, Y"`` (or ``"Q !_||_ M | Y"``) into a :class:`Claim`.

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
    """
    if not isinstance(text, str) or not text.strip():
        raise ClaimSyntaxError(_syntax_message(text, "the claim is empty"))
    body = text.strip()
    for operator, is_independence in _OPERATORS:
        if operator in body:
            independent = is_independence
            lhs, rest = body.split(operator, 1)
            break
    else:
        raise ClaimSyntaxError(_syntax_message(text, "no '_||_' or '!_||_' operator"))
    rhs, _, given_text = rest.partition("|")
    if "|" in given_text:
        raise ClaimSyntaxError(_syntax_message(text, "more than one '|'"))
    left = _parse_side(lhs, text, "left side")
    right = _parse_side(rhs, text, "right side")
    given = _parse_side(given_text, text, "conditioning set", allow_empty=True)
    for a, b, what in (
        (left, right, "both sides"),
        (left | right, given, "a side and the conditioning set"),
    ):
        overlap = a & b
        if overlap:
            raise ClaimSyntaxError(
                _syntax_message(text, f"{', '.join(sorted(overlap))} appears in {what}")
            )
    return Claim(left, right, given, independent)


def _parse_side(part: str, text: str, what: str, *, allow_empty: bool = False) -> frozenset[str]:
    names = [name.strip() for name in re.split(r"[,\s]+", part.strip()) if name.strip()]
    if not names:
        if allow_empty:
            return frozenset()
        raise ClaimSyntaxError(_syntax_message(text, f"the {what} names no node"))
    for name in names:
        if not _NAME.match(name):
            raise ClaimSyntaxError(
                _syntax_message(
                    text, f"{name!r} in the {what} is not a node name (letters, digits, _)"
                )
            )
    return frozenset(names)


def _syntax_message(text: object, problem: str) -> str:
    return (
        f"cannot parse claim {text!r}: {problem}; "
        "expected e.g. 'Q _||_ M | X, Y' (independent) or 'Q !_||_ M | Y' (dependent)"
    )


def parse_query(text: str) -> Claim:
    """Parse a d-separation query: ``"Q M | X"`` (two nodes, then the conditioning set) or
    any claim (``"Q _||_ M | X"``). The result is stated as an independence.

    Examples
    --------
    >>> str(parse_query("Q M | X, Y"))
    'Q _||_ M | X, Y'
    """
    if any(operator in text for operator, _ in _OPERATORS):
        return parse_claim(text).as_independence()
    pair, _, given_text = text.partition("|")
    names = [n for n in re.split(r"[,\s]+", pair.strip()) if n]
    if len(names) != 2:
        raise ClaimSyntaxError(
            f"cannot parse query {text!r}: expected two nodes then an optional conditioning "
            "set, e.g. 'Q M | X' (or a claim such as 'Q _||_ M | X')"
        )
    return parse_claim(
        f"{names[0]} _||_ {names[1]} | {given_text}"
        if given_text.strip()
        else f"{names[0]} _||_ {names[1]}"
    )
