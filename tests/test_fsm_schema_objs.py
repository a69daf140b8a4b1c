"""Object keys in the JSON Schema compiler: propertyNames, many patternProperties (keys split
into the non-empty regions of the patterns' product), and allOf merges of object schemas that
keep each side's patterns and additionalProperties; against the jsonschema package."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm_support import check_emitted, jsonschema_valid

from radtrio.fsm.conformance import compile_or_refuse, emit
from radtrio.fsm.json_keys import MAX_KEY_REGIONS
from radtrio.fsm.json_schema import SchemaError, compile_json_schema


# -- propertyNames -----------------------------------------------------------------------------
def test_property_names_pattern_with_additional_properties():
    schema = {
        "type": "object",
        "propertyNames": {"pattern": "^[1-9][0-9]*$"},
        "additionalProperties": {"type": "string"},
    }
    check_emitted(
        schema, [{}, {"16": "a.png"}, {"1": "x", "250": "y"}], [{"0": "x"}, {"a": "x"}, {"1": 2}]
    )


def test_property_names_one_of_enum_and_pattern_is_exactly_one():
    # every enum value also matches the pattern, so oneOf admits pattern keys outside the enum
    names = {"oneOf": [{"enum": ["fqcn", "yaml"]}, {"type": "string", "pattern": "^[a-z-]+$"}]}
    schema = {"type": "object", "propertyNames": names, "additionalProperties": {"type": "integer"}}
    check_emitted(
        schema, [{}, {"no-tabs": 1}, {"a": 1, "b-c": 2}], [{"fqcn": 1}, {"yaml": 1}, {"A": 1}]
    )


def test_property_names_drop_named_properties_and_required_ones_make_it_empty():
    props = {"ab": {"type": "integer"}, "toolong": {"type": "integer"}}
    schema = {"type": "object", "properties": props, "propertyNames": {"maxLength": 3}}
    check_emitted(
        schema, [{}, {"ab": 1}, {"ab": 1, "x": None}], [{"toolong": 1}, {"abcd": 1}, {"ab": "s"}]
    )
    required = {**schema, "required": ["toolong"]}
    g = compile_json_schema(json.dumps(required))
    assert not g.matches(b"{}") and not g.matches(b'{"toolong":1}')
    check_emitted({"type": "object", "propertyNames": False}, [{}], [{"a": 1}])


def test_property_names_format_const_and_non_string_types():
    check_emitted(
        {"type": "object", "propertyNames": {"format": "date"}},
        [{"2024-01-31": 1}],
        [{"2024-1-31": 1}, {"x": 1}],
    )
    check_emitted({"propertyNames": {"const": "k"}}, [{"k": [1]}, {}, 5], [{"j": 1}])
    check_emitted({"type": "object", "propertyNames": {"type": "integer"}}, [{}], [{"1": 1}])


def test_property_names_inside_all_of_intersect():
    schema = {
        "type": "object",
        "allOf": [{"propertyNames": {"pattern": "^a"}}, {"propertyNames": {"maxLength": 2}}],
    }
    check_emitted(schema, [{"a": 1, "ab": 2}], [{"abc": 1}, {"b": 1}])


def test_property_names_with_a_recursive_schema_is_refused_by_name():
    schema = {"$defs": {"r": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/r"}]}}}
    schema["propertyNames"] = {"$ref": "#/$defs/r"}
    g, refused = compile_or_refuse(schema)
    assert g is not None or refused in ("propertyNames", "allOf", "$ref", "(schema)"), refused


_NAMES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "pattern": st.sampled_from(["^a", "b$", "^[a-c]+$", "^$"]),
            "minLength": st.integers(0, 2),
            "maxLength": st.integers(0, 3),
            "enum": st.lists(st.sampled_from(["a", "ab", "b", "ca", "", 1]), max_size=3),
        },
    ),
    st.builds(
        lambda key, xs: {key: xs},
        st.sampled_from(["oneOf", "anyOf"]),
        st.lists(
            st.sampled_from(
                [
                    {"pattern": "^a"},
                    {"pattern": "b"},
                    {"enum": ["ab", "x"]},
                    {"maxLength": 1},
                    {"type": "number"},
                ]
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(
    names=_NAMES,
    required=st.lists(st.sampled_from(["a", "ab", "xyz"]), max_size=2, unique=True),
    additional=st.sampled_from([True, False, {"type": "integer"}]),
    instance=st.dictionaries(
        st.sampled_from(["a", "ab", "b", "ca", "", "xyz", "abc"]), st.sampled_from([1, "s"])
    ),
)
def test_property_names_match_jsonschema(names, required, additional, instance):
    schema = {
        "type": "object",
        "properties": {"a": {}, "xyz": {"type": "integer"}},
        "required": required,
        "propertyNames": names,
        "additionalProperties": additional,
    }
    g = compile_json_schema(json.dumps(schema))
    text = emit(instance, schema)
    assert g.matches(text.encode()) == jsonschema_valid(schema, instance), (schema, text)


# -- many patternProperties --------------------------------------------------------------------
def test_many_disjoint_patterns_give_one_region_each():
    fields = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    schema = {
        "type": "object",
        "patternProperties": {
            f"^{f}$": {"type": "integer", "minimum": i} for i, f in enumerate(fields)
        },
        "additionalProperties": {"type": "string"},
    }
    check_emitted(
        schema,
        [{}, {"alpha": 0, "theta": 7, "x": "s"}, {"eta": 9}],
        [{"theta": 6}, {"beta": "s"}, {"x": 1}],
    )


def test_overlapping_patterns_beyond_the_region_cap_are_refused_by_name():
    letters = "abcdefg"  # keys may hold any subset of these letters: 2**7 regions
    assert 2 ** len(letters) > MAX_KEY_REGIONS
    schema = {"type": "object", "patternProperties": {c: {"type": "integer"} for c in letters}}
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps({"properties": {"o": schema}}))
    assert e.value.keyword == "patternProperties"
    assert e.value.pointer == "#/properties/o"


@settings(max_examples=60, deadline=None)
@given(
    patterns=st.dictionaries(
        st.sampled_from(["^a", "^ab", "b$", "^x$", "^y$", "c", "^[a-c]{2}$", "^z", "q"]),
        st.sampled_from([{"type": "integer"}, {"minimum": 2}, {"type": "string"}, False]),
        max_size=7,
    ),
    additional=st.sampled_from([True, False, {"type": "integer"}]),
    instance=st.dictionaries(
        st.sampled_from(["a", "ab", "abc", "cb", "x", "y", "zq", "k"]), st.sampled_from([1, 3, "s"])
    ),
)
def test_many_pattern_properties_match_jsonschema(patterns, additional, instance):
    schema = {
        "type": "object",
        "properties": {"ab": {"type": "integer"}},
        "patternProperties": patterns,
        "additionalProperties": additional,
    }
    g, refused = compile_or_refuse(schema)
    if g is None:
        assert refused == "patternProperties", refused
        return
    text = emit(instance, schema)
    assert g.matches(text.encode()) == jsonschema_valid(schema, instance), (schema, text)


# -- allOf of object schemas that keep each side's patterns -----------------------------------
def test_all_of_sides_with_patterns_and_additional_properties():
    schema = {  # MaskBench Handwritten row 298
        "type": "object",
        "allOf": [
            {"patternProperties": {"^.{1,3}$": False}, "additionalProperties": True},
            {"patternProperties": {"a": True}, "additionalProperties": False},
            {"patternProperties": {"b": True}, "additionalProperties": False},
        ],
    }
    ok = {"abab": 1, "xaby": 2, "baaa": 3, "aaaaab": 4}
    check_emitted(schema, [ok, {"abab": 1}], [{**ok, "abc": 1}, {**ok, "aaaa": 1}])
    # row 298 also asks minProperties 4 of keys that are all extra members: refused, since a
    # grammar cannot keep extra keys distinct ({"abab":1,"abab":2} is one property)
    assert compile_or_refuse({**schema, "minProperties": 4}) == (None, "minProperties")
    two = {
        "allOf": [
            {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
            {
                "patternProperties": {"y$": {"minimum": 5}},
                "additionalProperties": {"type": "string"},
            },
        ]
    }
    # "xy": integer >= 5; "xa": integer and (no y$) a string: impossible; "ay": not ^x: none
    check_emitted(two, [{}, {"xy": 7}], [{"xy": 3}, {"xa": 1}, {"xa": "s"}, {"ay": 9}, {"q": "s"}])


def test_all_of_pattern_matching_a_name_the_other_side_closes():
    named = {"properties": {"xa": {"type": "integer"}}, "additionalProperties": False}
    schema = {"allOf": [{"patternProperties": {"^x": {"minimum": 2}}}, named]}
    check_emitted(schema, [{}, {"xa": 3}], [{"xa": 1}, {"xb": 3}, {"xa": "s"}])


_SIDE = st.fixed_dictionaries(
    {},
    optional={
        "properties": st.dictionaries(
            st.sampled_from(["a", "xa"]),
            st.sampled_from([{"type": "integer"}, {"minimum": 2}, {"type": "string"}, False]),
            max_size=2,
        ),
        "patternProperties": st.dictionaries(
            st.sampled_from(["^x", "a$", "^q"]),
            st.sampled_from([{"type": "integer"}, {"minimum": 2}, {"type": "string"}]),
            min_size=1,
            max_size=2,
        ),
        "additionalProperties": st.sampled_from([True, False, {"type": "integer"}]),
        "required": st.lists(st.sampled_from(["a", "qa", "z"]), max_size=1),
    },
)


@settings(max_examples=100, deadline=None)
@given(
    sides=st.lists(_SIDE, min_size=2, max_size=3),
    nest=st.booleans(),
    instance=st.dictionaries(
        st.sampled_from(["a", "xa", "xb", "qa", "q", "z"]), st.sampled_from([1, 3, "s"]), max_size=4
    ),
)
def test_all_of_object_sides_match_jsonschema(sides, nest, instance):
    """allOf of two or three object schemas (flat, or the later ones in an allOf of their
    own and reached through $ref, so a merge that kept its sides is merged again), merged
    exactly: never refused, and the same verdict as jsonschema in both whitespace modes."""
    schema = {"type": "object", "allOf": sides}
    if nest:
        schema = {
            "type": "object",
            "allOf": [sides[0], {"$ref": "#/$defs/rest"}],
            "$defs": {"rest": {"allOf": sides[1:]}},
        }
    for flexible in (False, True):
        g = compile_json_schema(json.dumps(schema), flexible)
        text = emit(instance, schema, flexible)
        assert g.matches(text.encode()) == jsonschema_valid(schema, instance), (schema, text)


def test_a_definition_reached_by_name_and_by_pattern_is_shared_and_exact():
    """MaskBench row 368's shape: each field both as a camelCase property and a snake_case
    pattern, over the same definitions, nested; large pattern values become shared rules."""
    leaf = {
        "type": "object",
        "properties": {f"f{i}": {"type": ["string", "null"], "maxLength": 8} for i in range(8)},
        "additionalProperties": False,
    }
    mid = {
        "type": "object",
        "properties": {"leafRef": {"$ref": "#/$defs/leaf"}, "n": {"type": "integer"}},
        "patternProperties": {"^leaf_ref$": {"$ref": "#/$defs/leaf"}},
        "additionalProperties": {"type": "boolean"},
    }
    schema = {
        "$defs": {"leaf": leaf, "mid": mid},
        "type": "object",
        "properties": {"midRef": {"$ref": "#/$defs/mid"}},
        "patternProperties": {"^mid_ref$": {"$ref": "#/$defs/mid"}, "^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    good_mid = {"leafRef": {"f1": "a"}, "n": 1, "leaf_ref": {"f7": None}, "flag": True}
    check_emitted(
        schema,
        [{}, {"midRef": good_mid, "mid_ref": {"leaf_ref": {}}, "x-a": "s"}],
        [
            {"mid_ref": {"leaf_ref": {"f9": "a"}}},
            {"mid_ref": {"leaf_ref": {"f1": "toolongvalue"}}},
            {"midRef": {"leafRef": {"f1": 1}}},
            {"mid_ref": {"other": 1}},
            {"y": 1},
        ],
    )
