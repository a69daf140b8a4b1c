"""Regex -> byte DFA agrees with Python's re.fullmatch (hypothesis: positives from the regex,
negatives from random text over the pattern's own characters)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radtrio.fsm.compile import build_grammar
from radtrio.fsm.regex_parser import RegexError, parse_regex
from radtrio.types import Constraint, RequestError

# Real-world patterns (JSON Schema stores, API specs, validators) plus syntax corner cases.
PATTERNS = [
    r"[a-z.]+\.[a-z]+",
    r"\d{3}-\d{2,4}",
    r"(ab|cd)*e?",
    r"[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8})?",
    r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?",
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    r"\d{4}-\d{2}-\d{2}",
    r"(?:[01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?",
    r"[\w.+-]+@[\w-]+\.[\w.]+",
    r"https?://[^\s/$.?#].[^\s]*",
    r"^[a-zA-Z_][a-zA-Z0-9_]*$",
    r"(true|false|null)",
    r"[^aeiou\n]{0,5}",
    r"é+[^a]ü?",
    r"[\u00c0-\u024f]+\s\d",
    r"\s*\S+\s*",
    r"(?P<year>\d{4})/(?P<m>\d\d)",
    r"a{2}b{1,}c{0,3}d{,2}",
    r"x*?y+?z??",
    r"[\]\-\\^]+",
    r"\.\*\+\?\(\)\[\]\{\}\|",
    r"(\W|\D)\w\d",
    r"[^\d\s]+",
    r"(a|b|)c",
    r"\x41\u00e9\t\n",
    r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)",
    r"[a-z]+(-[a-z]+)*",
    r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?",
    r"\+?[1-9]\d{1,14}",
    r".{2,5}",
    r"😀+[^😀]",
    r"[😀-🙏]{2}",
]


def _chars(pattern: str) -> str:
    lits = {c for c in pattern if c.isprintable()}
    return "".join(sorted(lits | set("aZ09 _.-\n")))


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_dfa_agrees_with_python_re(pattern, data):
    grammar, _, _ = _compiled(pattern)
    pos = data.draw(st.from_regex(pattern, fullmatch=True), label="positive")
    assert re.fullmatch(pattern, pos)
    assert grammar.matches(pos.encode("utf-8")), pos
    neg = data.draw(st.text(alphabet=_chars(pattern), max_size=12), label="random")
    expected = re.fullmatch(pattern, neg) is not None
    assert grammar.matches(neg.encode("utf-8")) == expected, neg


_CACHE: dict[str, object] = {}


def _compiled(pattern: str):
    if pattern not in _CACHE:
        _CACHE[pattern] = build_grammar(Constraint(regex=pattern))
    return _CACHE[pattern]


@pytest.mark.parametrize(
    "bad",
    [r"(a", r"a)", r"[a-", r"*a", r"a**", r"(?=a)b", r"a\1", r"\bword\b", r"a{3,1}", r"a^b"],
)
def test_bad_regex_raises_request_error(bad):
    with pytest.raises(RequestError) as e:
        build_grammar(Constraint(regex=bad))
    assert "regex" in str(e.value)


def test_regex_error_is_request_error():
    assert issubclass(RegexError, RequestError)
    with pytest.raises(RegexError, match="position"):
        parse_regex("(?i)abc")


def test_multibyte_split_inside_character():
    grammar, _, _ = _compiled(r"é+[^a]ü?")
    stk, depth = grammar.initial()
    data = "éé".encode()
    # feed the first byte of 'é' alone: an inner state, neither dead nor accepting
    d1 = grammar.step_bytes(stk, depth, data[:1])
    assert d1 > 0 and not grammar.can_end(stk, d1)
    d2 = grammar.step_bytes(stk, d1, data[1:])
    assert d2 > 0


def test_empty_language_refused():
    with pytest.raises(RequestError, match="matches no string"):
        build_grammar(Constraint(regex=r"[^\x00-\U0010ffff]"))


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("(" * 400 + "a" + ")" * 400, "nests too deeply"),
        ("(?:a{1000}){1000}", "too large"),
        ("[z-a]", "bad character range"),
    ],
)
def test_bad_regex_names_pattern_and_problem(bad, problem):
    with pytest.raises(RequestError) as e:
        build_grammar(Constraint(regex=bad))
    assert repr(bad)[:40] in str(e.value) and problem in str(e.value)
