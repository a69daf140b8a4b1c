"""Every ``format`` radtrio compiles, against the JSON-Schema-Test-Suite's optional format
cases: an invalid string is never accepted (one documented exception), and a valid one is
rejected only where the format regex is deliberately strict (see radtrio.fsm.json_formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radtrio.fsm.json_formats import FORMATS, UNSUPPORTED_FORMATS
from radtrio.fsm.json_schema import SchemaError, compile_json_schema

FORMAT_CASES = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/json-schema-test-suite/tests/draft2020-12/optional/format"
)


def _strict_on_purpose(fmt: str, value: str) -> bool:
    """Valid values the regexes reject by design: leap seconds at non-UTC offsets and
    Punycode hostname labels."""
    if fmt in ("time", "date-time"):
        return ":60" in value and not value.lower().endswith(("z", "+00:00", "-00:00"))
    if fmt == "hostname":
        return "xn--" in value.lower()
    return False


def _cases(fmt: str) -> list[tuple[object, bool]]:
    path = FORMAT_CASES / f"{fmt}.json"
    out = []
    for case in json.loads(path.read_text()):
        if case["schema"].get("format") != fmt:
            continue
        out += [(t["data"], t["valid"]) for t in case["tests"]]
    return out


@pytest.mark.skipif(not FORMAT_CASES.is_dir(), reason="JSON-Schema-Test-Suite not in ../shared")
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_against_the_suite(fmt):
    grammar = compile_json_schema(json.dumps({"format": fmt}))
    cases = _cases(fmt)
    assert cases, f"no suite cases for {fmt}"
    accepted_invalid, rejected_valid = [], []
    for data, valid in cases:
        got = grammar.matches(json.dumps(data, ensure_ascii=False).encode())
        if got and not valid:
            accepted_invalid.append(data)
        elif valid and not got and not _strict_on_purpose(fmt, data):
            rejected_valid.append(data)
    if fmt == "hostname":  # the 253-character total is not enforced (documented)
        accepted_invalid = [d for d in accepted_invalid if len(d) <= 253]
    assert accepted_invalid == []
    assert rejected_valid == []


@pytest.mark.parametrize("fmt", sorted(UNSUPPORTED_FORMATS))
def test_standard_formats_without_a_regex_are_refused(fmt):
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps({"type": "string", "format": fmt}))
    assert e.value.keyword == "format" and fmt in str(e.value)


def test_a_format_applies_to_strings_only():
    grammar = compile_json_schema(json.dumps({"format": "ipv4"}))
    assert grammar.matches(b"12") and grammar.matches(b"null")
    assert grammar.matches(b'"1.2.3.4"') and not grammar.matches(b'"1.2.3"')
