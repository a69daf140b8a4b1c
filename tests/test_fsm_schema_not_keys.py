"""``not`` of objects whose keys are not all named: NOT patternProperties/additionalProperties
and NOT propertyNames as "some member" requirements (radtrio.fsm.schema_not_keys), against the
jsonschema package."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm_support import check_emitted, jsonschema_valid

from radtrio.fsm.conformance import compile_or_refuse, emit
from radtrio.fsm.json_schema import SchemaError, compile_json_schema


def test_not_pattern_properties_is_some_member_that_fails():
    schema = {"not": {"patternProperties": {"^a": {"type": "integer"}}}}
    check_emitted(
        schema,
        [{"ab": "x"}, {"b": 1, "a": "s"}, {"a": 1, "ax": None}, {"a": {"b": [1]}}],
        # a non-object holds patternProperties (vacuously), so it fails the negation
        [{}, {"ab": 1}, {"b": "x"}, {"a": 1, "b": 2}, 5, "s", None, []],
    )


def test_not_pattern_and_additional_properties():
    schema = {
        "type": "object",
        "not": {
            "patternProperties": {"^a": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
    }
    check_emitted(
        schema, [{"b": 1}, {"a": "s"}, {"a": 1, "b": None}], [{}, {"b": "s"}, {"a": 2, "b": "s"}, 3]
    )


def test_several_patterns_split_keys_by_region():
    # a key matching both patterns fails when its value fails either schema
    schema = {
        "type": "object",
        "not": {"patternProperties": {"^a": {"minimum": 5}, "b$": {"maximum": 10}}},
    }
    check_emitted(
        schema,
        [{"ab": 3}, {"ab": 11}, {"a": 1}, {"b": 20}, {"c": 0, "ab": 2}],
        [{}, {"ab": 7}, {"a": 6}, {"b": 5}, {"c": 0}, {"ab": "s", "x": 1}],
    )


def test_not_pattern_properties_beside_own_patterns_and_names():
    schema = {
        "type": "object",
        "properties": {"ax": {"type": "string"}},
        "patternProperties": {"^a": {"type": ["integer", "string"]}},
        "additionalProperties": False,
        "not": {"patternProperties": {"^a": {"type": "integer"}}},
    }
    check_emitted(
        schema, [{"ax": "s"}, {"ab": "s"}, {"ax": "s", "ab": 1}], [{}, {"ab": 1}, {"c": "s"}]
    )


def test_not_property_names():
    schema = {"not": {"propertyNames": {"pattern": "^a"}}}
    check_emitted(schema, [{"b": 1}, {"a": 1, "b": 2}], [{}, {"a": 1}, {"ab": 1, "ac": 2}, 1, "s"])
    # a required name the names schema rejects: every object of the rest qualifies
    named = {
        "type": "object",
        "properties": {"zz": {}},
        "required": ["zz"],
        "not": {"propertyNames": {"maxLength": 1}},
    }
    check_emitted(named, [{"zz": 1}, {"zz": 1, "a": 2}], [{"a": 1}])


def test_several_requirements_at_once():
    # the shape of MaskBench rows 310/316: keys of length 2, at most 2, covering a b c d
    req = [{"not": {"propertyNames": {"not": {"pattern": c}}}} for c in "abcd"]
    schema = {
        "type": "object",
        "allOf": [*req, {"propertyNames": {"pattern": "^..$"}}, {"maxProperties": 2}],
    }
    check_emitted(
        schema,
        [{"ab": 1, "cd": 2}, {"dc": "x", "ba": None}, {"ac": 1, "db": 2}],
        [{}, {"ab": 1}, {"ab": 1, "cc": 2}, {"abcd": 1}, {"ab": 1, "cd": 2, "ee": 3}],
    )
    # one of them met by a required (named) key
    named = dict(schema, anyOf=[{"required": ["da"]}, {"required": ["db"]}])
    named["allOf"] = [*named["allOf"], {"patternProperties": {"(b|c){2,2}": False}}]
    check_emitted(
        named, [{"db": 1, "ac": 2}, {"db": 1, "ca": 2}], [{"da": 1, "bc": 2}, {"db": 1, "aa": 2}]
    )


def test_one_of_pattern_properties():
    # MaskBench row 319: branches negated beside each other (two requirements at once)
    schema = {
        "type": "object",
        "oneOf": [
            {"patternProperties": {"a": {"multipleOf": 10, "maximum": 20}}},
            {"patternProperties": {"a": {"multipleOf": 5, "maximum": 100}}},
            {"patternProperties": {"a": {"multipleOf": 10, "maximum": 80}}},
        ],
    }
    check_emitted(
        schema, [{"a": 25}, {"a": 90}, {"a": 30, "ab": 25}], [{}, {"a": 10}, {"a": 40}, {"a": 7}]
    )


def test_member_values_that_call_rules_stay_exact():
    # any-value members (a recursive rule) beside a requirement on the key alone
    schema = {"type": "object", "not": {"propertyNames": {"maxLength": 2}}}
    check_emitted(
        schema, [{"abc": {"x": [1, {"y": 2}]}}, {"a": [], "abcd": {}}], [{"ab": {"x": 1}}, {}]
    )


def test_not_of_a_string_keyword_holds_only_for_strings():
    # pattern holds for every non-string, so only strings can fail it
    check_emitted({"not": {"pattern": "a"}}, ["", "b", "xyz"], ["a", "ba", 1, None, {}, [], True])
    check_emitted({"not": {"multipleOf": 3}}, [1, 2.5, -4], [0, 3, -9, "s", {}, []])


def test_refused_by_keyword_and_pointer():
    # five kinds of unnamed members at once
    schema = {
        "type": "object",
        "allOf": [{"not": {"propertyNames": {"not": {"pattern": c}}}} for c in "abcde"],
    }
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == "not"
    assert e.value.pointer.startswith("#/not")


_VALUES = [
    {},
    {"type": "integer"},
    {"type": "string"},
    {"minimum": 1},
    False,
    {"not": {"type": "integer"}},
]
_PATTERNS = ["^a", "b$", "^ab", "c"]
_NAMES = [
    {"pattern": "^a"},
    {"maxLength": 1},
    {"not": {"pattern": "b"}},
    {"enum": ["a", "b", "ab"]},
]
_KEYS = ["a", "ab", "b", "ba", "c", "x", "abc", "bc"]


@st.composite
def _negated(draw):
    if draw(st.booleans()):
        return {"not": {"propertyNames": draw(st.sampled_from(_NAMES))}}
    pats = draw(st.dictionaries(st.sampled_from(_PATTERNS), st.sampled_from(_VALUES), max_size=2))
    neg: dict = {"patternProperties": pats}
    if draw(st.booleans()):
        neg["additionalProperties"] = draw(st.sampled_from(_VALUES))
    if draw(st.booleans()):
        neg["properties"] = {"x": draw(st.sampled_from(_VALUES))}
    return {"not": neg}


@st.composite
def _schema(draw):
    schema: dict = {"type": "object"}
    if draw(st.booleans()):
        schema["properties"] = {"x": draw(st.sampled_from(_VALUES))}
    if draw(st.booleans()):
        schema["required"] = ["x"]
    if draw(st.booleans()):
        schema["patternProperties"] = {
            draw(st.sampled_from(_PATTERNS)): draw(st.sampled_from(_VALUES))
        }
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.sampled_from(_VALUES))
    if draw(st.booleans()):
        schema["maxProperties"] = draw(st.integers(1, 3))
    schema["allOf"] = draw(st.lists(_negated(), min_size=1, max_size=3))
    return schema


_instance = st.dictionaries(
    st.sampled_from(_KEYS), st.sampled_from([0, 1, 2, "s", None]), max_size=4
)


@settings(max_examples=120, deadline=None)
@given(schema=_schema(), instances=st.lists(_instance, min_size=1, max_size=6))
def test_not_of_unnamed_keys_matches_jsonschema(schema, instances):
    """Exact both ways (distinct keys): accepted exactly when jsonschema says valid; refusals
    name the keyword."""
    g, refused = compile_or_refuse(schema)
    if g is None:
        # ("$ref": anyOf branches of the negation that overlap where a value calls a rule)
        assert refused in ("not", "patternProperties", "maxProperties", "$ref"), refused
        return
    for inst in instances:
        # a name of the negation's branches is a property of that branch: emitted first
        inst = dict(sorted(inst.items(), key=lambda kv: kv[0] != "x"))
        text = emit(inst, schema)
        assert g.matches(text.encode()) == jsonschema_valid(schema, inst), (schema, text)


def test_enum_beside_a_some_member_requirement_is_filtered_value_by_value():
    # the concrete-value validator that filters enum/const knows the requirement too (it
    # refused the internal keyword by its name before)
    schema = {
        "type": "object",
        "not": {"additionalProperties": {"type": "integer"}},
        "enum": [{"a": "x"}, {"a": 1}, {"b": 2, "c": "s"}, {}],
    }
    g = compile_json_schema(json.dumps(schema))
    v = jsonschema.Draft202012Validator(schema)
    for x in [*schema["enum"], {"q": "s"}]:
        assert g.matches(emit(x, schema).encode()) == v.is_valid(x), x
    cond = {
        "properties": {"a": {}, "b": {}},
        "if": {"additionalProperties": False},
        "then": {"type": "integer"},
        "else": {"const": 1},
    }
    g = compile_json_schema(json.dumps(cond))
    v = jsonschema.Draft202012Validator(cond)
    for x in [{}, 1, 2, {"a": 1}, {"c": 1}, "s"]:
        assert g.matches(emit(x, cond).encode()) == v.is_valid(x), x
