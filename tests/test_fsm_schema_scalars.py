"""allOf of scalar anyOf/oneOf lists that cannot be multiplied out (two oneOf lists, or more
than 64 pairs): each side becomes the language of its scalar values and the languages are
intersected; checked against jsonschema. Also the exact number reading of the walk check."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm.conformance import walk_error, walk_validator
from radtrio.fsm.json_schema import SchemaError, compile_json_schema

STEPS = st.sampled_from([2, 3, 4, 5, 6, 7, 9, 11])


def _multiple(k: int, negate: bool) -> dict:
    return {"not": {"multipleOf": k}} if negate else {"multipleOf": k}


def _agree(schema: dict, values, spellings=()) -> None:
    """Both directions on ``values``; never accepting what jsonschema rejects on
    ``spellings`` (texts such as ``6.0``, which a side may leave out)."""
    g = compile_json_schema(json.dumps(schema), False)
    v = jsonschema.Draft202012Validator(schema)
    for x in values:
        text = json.dumps(x).encode()
        assert g.matches(text) == v.is_valid(x), (schema, x)
    for text in spellings:
        assert v.is_valid(json.loads(text)) or not g.matches(text.encode()), (schema, text)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(STEPS, st.booleans()), min_size=2, max_size=3),
    st.lists(st.tuples(STEPS, st.booleans()), min_size=2, max_size=3),
    st.sampled_from(["integer", "number", None]),
)
def test_two_one_of_lists_of_numbers_match_jsonschema(left, right, typ):
    schema: dict = {
        "allOf": [
            {"oneOf": [_multiple(k, n) for k, n in left]},
            {"oneOf": [_multiple(k, n) for k, n in right]},
        ]
    }
    if typ is not None:
        schema["type"] = typ
    else:  # one side must hold scalars only
        schema["allOf"][0]["type"] = "integer"
    _agree(schema, [*range(-30, 200), 2.5, "x", None], ["6.0", "-7.0", "2.50", "1e1"])


def test_oneof_lists_through_refs_compile_exactly():
    schema = {
        "type": "number",
        "allOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}, {"not": {"multipleOf": 8}}],
        "$defs": {
            "a": {"oneOf": [{"multipleOf": 3}, {"multipleOf": 4}]},
            "b": {"oneOf": [{"not": {"multipleOf": 6}}, {"multipleOf": 10}]},
        },
    }
    _agree(schema, range(-100, 400))


def test_large_anyof_lists_of_patterns_match_jsonschema():
    left = [{"pattern": f"^{c}"} for c in "abcdefghi"]
    right = [{"pattern": f"{c}$"} for c in "abcdefghi"]
    schema = {"type": "string", "allOf": [{"anyOf": left}, {"anyOf": right}]}
    words = [a + m + b for a in "abz" for m in ("", "q", "xy") for b in "aiz"]
    _agree(schema, words + [1, None])


def test_objects_on_both_sides_are_still_refused():
    left = [{"required": ["a"]}, {"required": ["b"]}]
    right = [{"required": ["c"]}, {"required": ["d"]}]
    schema = {"allOf": [{"type": "object", "oneOf": left}, {"oneOf": right}]}
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema), False)
    assert e.value.keyword == "oneOf" and "cannot be combined" in str(e.value)


def test_walk_error_reads_long_numbers_exactly():
    schema = {"type": "integer", "multipleOf": 7}
    v = walk_validator(schema)
    seven = 7 * 10**300 + 7  # a float would make it inf
    assert walk_error(v, f"{seven}.0".encode()) is None
    assert walk_error(v, f"{seven + 1}.0".encode()) is not None
    assert walk_error(v, str(seven).encode()) is None
    # 0.3 is a multiple of 0.1 in decimal, not in binary floating point
    assert walk_error(walk_validator({"multipleOf": 0.1}), b"0.3") is None
    # drafts 3 and 4 do not count 1.0 as an integer, for a Decimal either
    old = walk_validator({"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"})
    assert walk_error(old, f"{seven}.0".encode()) is not None
