from __future__ import annotations

import pytest

from iqalign.causal import check_claim, load_dag, parse_claim, parse_query
from iqalign.errors import ClaimSyntaxError


@pytest.mark.parametrize(
    ("text", "left", "right", "given", "independent"),
    [
        ("Q _||_ M | X", {"Q"}, {"M"}, {"X"}, True),
        ("Q !_||_ M | Y", {"Q"}, {"M"}, {"Y"}, False),
        ("Q _||_ M | X, Y", {"Q"}, {"M"}, {"X", "Y"}, True),
        ("Q _||_ M", {"Q"}, {"M"}, set(), True),
        ("Q, R ⊥ M | C S", {"Q", "R"}, {"M"}, {"C", "S"}, True),
        ("Q not _||_ M", {"Q"}, {"M"}, set(), False),
        ("Q_||_M|X", {"Q"}, {"M"}, {"X"}, True),
        ("EDN1.3 _||_ 1st | Ŷ", {"EDN1.3"}, {"1st"}, {"Ŷ"}, True),
        (
            '"carry matches" _||_ "a|b" | "x, y", "not"',
            {"carry matches"},
            {"a|b"},
            {"x, y", "not"},
            True,
        ),
        ('"say \\"hi\\"" !_||_ "back\\\\slash"', {'say "hi"'}, {"back\\slash"}, set(), False),
    ],
)
def test_parse(text, left, right, given, independent):
    claim = parse_claim(text)
    assert (claim.left, claim.right, claim.given, claim.independent) == (
        left,
        right,
        given,
        independent,
    )
    assert parse_claim(str(claim)) == claim


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the claim is empty"),
        ("Q M | X", "no '_||_' or '!_||_' operator"),
        ("_||_ M", "the left side names no node"),
        ("Q _||_ | X", "the right side names no node"),
        ("Q _||_ M | X | Y", "more than one"),
        ("Q _||_ Q", "Q appears in both sides"),
        ("Q _||_ M | Q", "Q appears in a side and the conditioning set"),
        ("Q-1 _||_ M", "'Q-1' is not a node name .* double quotes: \"Q-1\""),
        ("Q _||_ M _||_ X", "more than one operator"),
        ('"Q _||_ M', "cannot read"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ClaimSyntaxError, match=message.replace("|", r"\|")):
        parse_claim(text)


def test_parse_query_short_form():
    assert parse_query("Q M | X, Y") == parse_claim("Q _||_ M | X, Y")
    assert parse_query("Q !_||_ M") == parse_claim("Q _||_ M")
    with pytest.raises(ClaimSyntaxError, match="expected two nodes"):
        parse_query("Q | X")


def test_check_claim_reports_every_reading():
    check = check_claim(load_dag("weak_task_guided"), "Q _||_ M | X")
    assert not check  # classical reading
    readings = {str(j.reading): j.separated for j in check.judgements}
    assert readings == {
        "classical, selection not conditioned": False,
        "classical, selection conditioned": True,
        "deterministic, selection not conditioned": False,
        "deterministic, selection conditioned": True,
    }
    assert check.readings_disagree
    assert "Q <- T -> Y -> M: open" in check.explain()


def test_dependence_claims_are_implied_when_connected():
    assert check_claim(load_dag("shared_features"), "Q !_||_ M | X")
    assert not check_claim(load_dag("baseline"), "Q !_||_ M | X")
