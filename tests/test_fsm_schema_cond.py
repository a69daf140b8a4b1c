"""Structural NOT, if/then/else, dependentSchemas and oneOf of object branches, against the
jsonschema package (radtrio.fsm.schema_not)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm.conformance import compile_or_refuse, emit
from radtrio.fsm.json_schema import SchemaError, compile_json_schema

# refusals a generated schema may meet (never a wrong answer)
REFUSED_BY = {
    "not",
    "oneOf",
    "maxProperties",
    "minProperties",
    "dependentRequired",
    "enum",
    "$ref",
    "(schema)",
}


def check(schema, good, bad, flexible: bool = False) -> None:
    g = compile_json_schema(json.dumps(schema), flexible)
    validator = jsonschema.Draft202012Validator(schema)
    for v in good:
        assert validator.is_valid(v), ("test data", v)
        assert g.matches(emit(v, schema, flexible).encode()), ("rejects valid", schema, v)
    for v in bad:
        assert not validator.is_valid(v), ("test data", v)
        assert not g.matches(emit(v, schema, flexible).encode()), ("accepts invalid", schema, v)


def agrees(schema, instances) -> None:
    """Compiled (both whitespace modes) or refused by name; when compiled, no instance that
    jsonschema rejects is accepted, and every valid one is accepted where its text does not
    depend on key order (an object of at most one member: a key named only inside not/if
    may be emitted in another order than the compiled branch lists it)."""
    validator = jsonschema.Draft202012Validator(schema)
    for flexible in (False, True):
        g, refused = compile_or_refuse(schema, flexible)
        if g is None:
            assert refused in REFUSED_BY, (refused, schema)
            return
        for v in instances:
            text = emit(v, schema, flexible)
            valid = validator.is_valid(v)
            if not valid:
                assert not g.matches(text.encode()), ("accepts invalid", schema, text)
            elif not isinstance(v, dict) or len(v) <= 1:
                assert g.matches(text.encode()), ("rejects valid", schema, text)


# -- generated schemas ------------------------------------------------------------------------
_LEAVES = [
    {"type": "integer"},
    {"type": "string"},
    {"type": ["string", "null"]},
    {"const": 1},
    {"enum": ["x", 2]},
    {"minimum": 2},
    {"exclusiveMaximum": 2},
    {"maxLength": 1},
    {"minLength": 2},
    {"type": "boolean"},
]
_KEYS = ["a", "b", "c"]


@st.composite
def object_schemas(draw, depth: int = 0):
    """Object-ish schemas of the keywords the negation rules cover."""
    s: dict = {}
    if draw(st.booleans()):
        s["type"] = draw(st.sampled_from(["object", ["object", "null"], ["object", "string"]]))
    props = draw(st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_LEAVES), max_size=2))
    if props:
        s["properties"] = props
    req = draw(st.lists(st.sampled_from(_KEYS), max_size=2, unique=True))
    if req:
        s["required"] = req
    extra = draw(st.sampled_from([None, False, {"type": "integer"}]))
    if extra is not None:
        s["additionalProperties"] = extra
    if draw(st.integers(0, 4)) == 0:
        s["maxProperties"] = draw(st.integers(0, 2))
    if draw(st.integers(0, 4)) == 0:
        s["minProperties"] = draw(st.integers(1, 2))
    if draw(st.integers(0, 5)) == 0:
        s["dependentRequired"] = {draw(st.sampled_from(_KEYS)): [draw(st.sampled_from(_KEYS))]}
    return s


_VALUES = st.sampled_from([1, 2, 3, 1.5, "x", "yy", None, True, [1]])
_OBJECTS = st.dictionaries(st.sampled_from(_KEYS + ["d"]), _VALUES, max_size=4)
_INSTANCES = st.lists(st.one_of(_OBJECTS, _VALUES), min_size=4, max_size=10)


@settings(max_examples=30, deadline=None)
@given(rest=object_schemas(), neg=object_schemas(), instances=_INSTANCES)
def test_not_of_object_schemas_matches_jsonschema(rest, neg, instances):
    agrees(dict(rest, **{"not": neg}), instances)


@settings(max_examples=25, deadline=None)
@given(
    cond=object_schemas(),
    then=st.one_of(object_schemas(), st.sampled_from(_LEAVES)),
    other=st.one_of(st.none(), object_schemas(), st.sampled_from(_LEAVES)),
    instances=_INSTANCES,
)
def test_if_then_else_matches_jsonschema(cond, then, other, instances):
    schema = {"properties": {"a": {}, "b": {}}, "if": cond, "then": then}
    if other is not None:
        schema["else"] = other
    agrees(schema, instances)
    agrees({"allOf": [{"type": "object"}, schema]}, instances)


@settings(max_examples=25, deadline=None)
@given(
    branches=st.lists(object_schemas(), min_size=2, max_size=3),
    instances=_INSTANCES,
)
def test_one_of_object_branches_matches_jsonschema(branches, instances):
    agrees({"type": "object", "oneOf": branches}, instances)


_SCALAR_NEG = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["integer", "number", "string", ["array", "string"]]),
        "minimum": st.integers(-1, 2),
        "exclusiveMinimum": st.integers(-1, 2),
        "maximum": st.integers(-1, 2),
        "minLength": st.integers(0, 2),
        "maxLength": st.integers(0, 2),
        "minItems": st.integers(0, 2),
        "maxItems": st.integers(0, 2),
    },
)


@settings(max_examples=30, deadline=None)
@given(
    neg=_SCALAR_NEG,
    rest=st.sampled_from([{}, {"type": ["integer", "string"]}, {"type": "array"}]),
    instances=st.lists(
        st.sampled_from([-2, -1, 0, 1, 2, 3, 1.5, "", "a", "ab", "abc", [], [1], [1, 2], None]),
        min_size=5,
        max_size=12,
    ),
)
def test_not_of_bounds_matches_jsonschema(neg, rest, instances):
    if rest.get("type") == "array":
        rest = dict(rest, items={"type": "integer"})
    agrees(dict(rest, **{"not": neg}), instances)


# -- examples ---------------------------------------------------------------------------------
def test_one_of_branches_that_differ_in_required():
    dims = {
        "type": "object",
        "properties": {k: {"type": "number"} for k in ("base", "height", "length", "radius")},
        "oneOf": [{"required": ["radius"]}, {"required": ["length"]}, {"required": ["base"]}],
    }
    for flexible in (False, True):
        good = [{"radius": 1}, {"length": 2, "height": 1}]
        check(dims, good, [{}, {"radius": 1, "base": 2}], flexible)


def test_if_then_else_on_a_property_value():
    schema = {
        "type": "object",
        "properties": {"isMember": {"type": "boolean"}, "n": {"type": "string"}},
        "required": ["isMember"],
        "if": {"properties": {"isMember": {"const": True}}},
        "then": {"properties": {"n": {"minLength": 2, "maxLength": 2}}},
        "else": {"properties": {"n": {"minLength": 3}}},
    }
    good = [{"isMember": True, "n": "ab"}, {"isMember": False, "n": "abc"}, {"isMember": True}]
    bad = [{"isMember": True, "n": "abc"}, {"isMember": False, "n": "ab"}, {"n": "ab"}]
    for flexible in (False, True):
        check(schema, good, bad, flexible)


def test_if_inside_all_of_with_a_discriminator():
    kinds = [
        {
            "if": {"properties": {"kind": {"const": k}}},
            "then": {"required": [f"{k}_x"]},
        }
        for k in ("a", "b", "c")
    ]
    schema = {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b", "c", "d"]}},
        "required": ["kind"],
        "allOf": kinds,
    }
    check(
        schema,
        [{"kind": "a", "a_x": 1}, {"kind": "d"}, {"kind": "b", "b_x": 0}],
        [{"kind": "a"}, {"kind": "c", "a_x": 1}, {"kind": "e"}],
    )


def test_dependent_schemas_hold_only_for_objects_with_the_key():
    # (member values are scalars: an anyOf of open objects whose extra members hold any JSON
    # value makes an ambiguous grammar, refused under keyword $ref)
    # (keys are listed so that the emitted order is the schema's, see conformance.emit)
    scalar = {"type": ["integer", "string"]}
    schema = {
        "type": ["object", "string"],
        "properties": {"a": scalar, "b": scalar},
        "additionalProperties": scalar,
        "dependentSchemas": {"a": {"properties": {"b": {"type": "integer"}}}},
    }
    check(schema, [{"b": "s"}, {"a": 1, "b": 2}, "x"], [{"a": 1, "b": "s"}, 3])


def test_not_of_a_closed_object_on_an_open_one():
    closed = {"properties": {"a": {}}, "additionalProperties": False}
    # an object violates "closed" by having any other key
    open_ints = {"type": "object", "additionalProperties": {"type": "integer"}}
    check(dict(open_ints, **{"not": closed}), [{"b": 1}, {"a": 1, "z": 2}], [{}, {"a": 1}])
    # two closed branches with a discriminator, negated
    one = {"properties": {"t": {"const": 1}, "x": {}}, "required": ["t"]}
    two = {"properties": {"t": {"const": 2}, "y": {}}, "required": ["t"]}
    for s in (one, two):
        s["additionalProperties"] = False
    schema = dict(open_ints, **{"not": {"oneOf": [one, two]}})
    check(
        schema,
        [{}, {"t": 3}, {"t": 1, "y": 0}, {"t": 2, "x": 0}, {"t": 1, "q": 0}, {"q": 1}],
        [{"t": 1}, {"t": 2, "y": 5}, {"t": 1, "x": 0}],
    )


def test_not_items_needs_one_item_outside():
    schema = {"type": "array", "items": {"type": ["integer", "string"]}}
    check(dict(schema, **{"not": {"items": {"type": "integer"}}}), [["a"], [1, "b", 2]], [[], [1]])


def test_soundness_fixes():
    # a null allowed by nullable is not a non-object
    check({"type": "object", "nullable": True, "not": {"required": ["a"]}}, [{}], [{"a": 1}])
    g = compile_json_schema(
        json.dumps({"type": "string", "nullable": True, "not": {"type": "null"}})
    )
    assert g.matches(b'"x"') and not g.matches(b"null")
    # 1 and 1.0 are one value
    check({"oneOf": [{"const": 1}, {"const": 1.0}]}, [], [1, 1.0])
    check({"type": "integer", "not": {"const": 1.0}}, [2], [1])
    # excluding an object of several keys or with numbers is refused: its key orders and
    # number forms ({"a": 2.00, "b": 1} equals {"b": 1, "a": 2}) are not all written out
    props = {"a": {"type": "number"}, "b": {"type": "integer"}}
    schema = {
        "properties": props,
        "additionalProperties": False,
        "not": {"const": {"b": 1, "a": 2}},
    }
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == "not"
    # a scalar excluded beside objects leaves the objects alone
    check({"type": ["string", "object"], "not": {"const": "x"}}, ["y", {"x": 1}], ["x"])


@pytest.mark.parametrize(
    "schema, keyword, pointer",
    [
        # a recursive schema cannot be negated structurally
        (
            {
                "$defs": {"t": {"type": "object", "properties": {"c": {"$ref": "#/$defs/t"}}}},
                "not": {"$ref": "#/$defs/t"},
            },
            "not",
            "#/not",
        ),
        ({"if": {"uniqueItems": True}, "then": {"required": ["a"]}}, "not", "#/if"),
        (  # more kinds of unnamed members at once than schema_not_keys keeps apart
            {
                "type": "object",
                "allOf": [{"not": {"propertyNames": {"not": {"pattern": c}}}} for c in "abcde"],
            },
            "not",
            "#/not",
        ),
    ],
)
def test_refusals_name_keyword_and_pointer(schema, keyword, pointer):
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == keyword and e.value.pointer.startswith(pointer), str(e.value)


def test_negated_additional_properties_obey_property_counts():
    # (merge of h-cond into main) "at least one other member with a non-integer value"
    # beside min/maxProperties: each extra member counts toward the maximum, the extras
    # (the negation's one included) once in total toward the minimum
    neg = {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}
    base = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": {"type": ["integer", "string"]},
        "not": neg,
    }
    check(
        {**base, "maxProperties": 2},
        [{"b": "s"}, {"a": 1, "b": "s"}, {"b": 1, "c": "s"}],
        [{}, {"a": 1}, {"b": 1}, {"a": 1, "b": 1, "c": "s"}, {"b": "s", "c": "t", "d": 1}],
    )
    check({**base, "minProperties": 2}, [{"a": 1, "b": "s"}], [{"b": "s"}, {"a": 1, "b": 2}])
    g = compile_json_schema(json.dumps({**base, "minProperties": 2}))
    assert not g.matches(b'{"b":"s","b":"t"}')  # one property, not two
    # a key a pattern of the negated schema matches is not one of its additional members
    # (schema_not_keys: a member whose key no pattern matches, any value)
    pattern = {"patternProperties": {"^x": {}}, "additionalProperties": False}
    check(
        {"type": "object", "not": pattern},
        [{"a": 1}, {"x": 1, "b": [2]}],
        [{}, {"x": 1}, {"xy": 2, "x": {}}],
    )
