"""$ref handling: allOf/siblings merged with a recursive $ref, base URIs from nested $id, and
anyOf/oneOf branches keyed in the order of all branches (radtrio.fsm.conformance.emit)."""

from __future__ import annotations

import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm.conformance import emit
from radtrio.fsm.grammar import GrammarConflict
from radtrio.fsm.json_schema import SchemaCompiler, SchemaError, compile_json_schema


@functools.lru_cache(maxsize=64)
def _compiled(text: str, flexible: bool):
    return compile_json_schema(text, flexible)


def _check(schema: dict, instance, flexible: bool = False) -> None:
    import jsonschema

    g = _compiled(json.dumps(schema), flexible)
    expected = jsonschema.validators.validator_for(schema)(schema).is_valid(instance)
    text = emit(instance, schema, flexible)
    assert g.matches(text.encode()) == expected, (schema, text, expected)


TREE = {
    "$ref": "#/definitions/node",
    "definitions": {
        "node": {
            "type": "object",
            "properties": {
                "v": {"type": "integer"},
                "kids": {
                    "type": "array",
                    "items": {"allOf": [{"$ref": "#/definitions/node"}, {"required": ["v"]}]},
                },
                "alt": {"$ref": "#/definitions/node", "minProperties": 1},
                "any": {"anyOf": [{"$ref": "#/definitions/node"}], "required": ["kids"]},
            },
            "additionalProperties": False,
        }
    },
}

leaves = st.one_of(st.integers(-3, 3), st.text("ab", max_size=2), st.none(), st.booleans())
trees = st.recursive(
    st.fixed_dictionaries({}, optional={"v": leaves}),
    lambda kids: st.fixed_dictionaries(
        {},
        optional={
            "v": leaves,
            "kids": st.lists(kids, max_size=2),
            "alt": kids,
            "any": kids,
            "w": leaves,
        },
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(trees, st.booleans())
def test_allof_with_recursive_ref_matches_jsonschema(instance, flexible):
    """allOf(recursive $ref, more keywords), $ref with siblings and an anyOf with siblings
    are compiled exactly: each merge is a rule whose inner references call the target."""
    _check(TREE, instance, flexible)


def test_allof_with_recursive_ref_examples():
    g = compile_json_schema(json.dumps(TREE))
    assert g.matches(b'{"kids":[{"v":1,"kids":[{"v":2}]}]}')
    assert not g.matches(b'{"kids":[{"v":1,"kids":[{}]}]}')  # inner items need "v" too
    assert g.matches(b'{"kids":[{"v":1,"alt":{"kids":[{"v":3}]}}]}')  # alt: a plain node...
    assert not g.matches(b'{"alt":{}}')  # ...with minProperties 1 at its own level only
    assert g.matches(b'{"alt":{"alt":{"v":1}}}')
    assert not g.matches(b'{"any":{"v":1}}')
    assert g.matches(b'{"any":{"kids":[]}}')


KEYS = ["a", "b", "c", "d"]


@st.composite
def branchy(draw):
    branches = []
    for _ in range(draw(st.integers(1, 3))):
        names = draw(st.permutations(KEYS))[: draw(st.integers(1, 4))]
        props = {
            n: draw(st.sampled_from([{"type": "integer"}, {"type": "string"}, {}])) for n in names
        }
        # additionalProperties false: free members are JSON-any calls, which two branches
        # cannot share (an ambiguous grammar, refused by name)
        branch = {"type": "object", "properties": props, "additionalProperties": False}
        if draw(st.booleans()):
            branch["required"] = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
        branches.append(branch)
    instance = draw(
        st.dictionaries(st.sampled_from(KEYS), st.one_of(st.integers(0, 2), st.just("x")))
    )
    return {draw(st.sampled_from(["anyOf", "oneOf"])): branches}, instance


@settings(max_examples=80, deadline=None)
@given(branchy())
def test_branch_key_order_follows_all_branches(case):
    """anyOf/oneOf branches listing their keys in different orders: the instance is emitted
    in the order of all branches, and the compiled branch accepts that order."""
    schema, instance = case
    try:
        _check(schema, instance)
    except SchemaError as e:
        assert e.keyword == "oneOf"


def test_branch_key_order_example():
    schema = {
        "anyOf": [
            {"properties": {"x": {}, "z": {}}, "additionalProperties": False},
            {"properties": {"x": {}, "y": {}, "z": {}}, "additionalProperties": False},
        ]
    }
    g = compile_json_schema(json.dumps(schema))
    assert emit({"x": 1, "y": 2, "z": 3}, schema) == '{"x":1,"z":3,"y":2}'
    assert g.matches(b'{"x":1,"z":3,"y":2}')


NESTED_IDS = {
    "$id": "http://example.com/root.json",
    "type": "object",
    "properties": {
        "a": {
            "$id": "sub/item.json",
            "type": "object",
            "properties": {
                "n": {"$ref": "#/$defs/num"},
                "s": {"$ref": "#text"},
                "up": {"$ref": "../root.json#/$defs/flag"},
                "self": {"$ref": "item.json#/$defs/num"},
            },
            "$defs": {
                "num": {"type": "integer"},
                "t": {"$anchor": "text", "type": "string"},
            },
        },
        "b": {"$ref": "http://example.com/sub/item.json#/$defs/num"},
    },
    "$defs": {"flag": {"type": "boolean"}, "num": {"type": "string"}},
}

nested_instances = st.fixed_dictionaries(
    {},
    optional={
        "a": st.fixed_dictionaries(
            {},
            optional={
                k: st.one_of(st.integers(0, 2), st.booleans(), st.just("t"))
                for k in ("n", "s", "up", "self")
            },
        ),
        "b": st.one_of(st.integers(0, 2), st.just("t")),
    },
)


@settings(max_examples=60, deadline=None)
@given(nested_instances)
def test_nested_ids_resolve_against_their_base(instance):
    """$ref below a nested $id resolves against that base (RFC 3986), $anchor included."""
    _check(NESTED_IDS, instance)


def test_draft4_id_and_plain_name_fragment():
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "id": "http://x.org/r",
        "properties": {
            "p": {
                "id": "http://y.org/s",
                "definitions": {"q": {"id": "#q", "type": "null"}},
                "properties": {"q": {"$ref": "#q"}},
            },
        },
    }
    g = compile_json_schema(json.dumps(schema))
    assert g.matches(b'{"p":{"q":null}}') and not g.matches(b'{"p":{"q":1}}')


def test_id_without_draft4_schema_is_not_an_identifier():
    """In draft 2020-12 (no $schema) "id" is an unknown keyword: refs resolve from the root."""
    schema = {
        "properties": {"a": {"id": "elsewhere/", "properties": {"b": {"$ref": "#/$defs/i"}}}},
        "$defs": {"i": {"type": "integer"}},
    }
    g = compile_json_schema(json.dumps(schema))
    assert g.matches(b'{"a":{"b":1}}') and not g.matches(b'{"a":{"b":"x"}}')


def test_a_reference_out_of_the_document_is_refused_by_name():
    schema = {
        "$id": "http://example.com/r",
        "properties": {"a": {"$id": "s/", "$ref": "other.json"}},
    }
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == "$ref" and e.value.pointer == "#/properties/a"


def test_a_plain_name_id_does_not_move_json_pointers():
    """A draft-4 definition with ``"id": "#name"`` is still part of the root resource: a
    ``#/definitions/...`` reference inside it points from the root (MaskBench row 196)."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "definitions": {
            "list": {"id": "#the-list", "type": "array", "items": {"$ref": "#/definitions/n"}},
            "n": {"type": "integer"},
        },
        "type": "object",
        "properties": {"xs": {"$ref": "#/definitions/list"}, "ys": {"$ref": "#the-list"}},
    }
    g = compile_json_schema(json.dumps(schema))
    assert g.matches(b'{"xs":[1,2],"ys":[3]}')
    assert not g.matches(b'{"xs":["a"]}') and not g.matches(b'{"ys":[1.5]}')


def test_branches_keep_their_own_key_order_where_the_common_one_is_ambiguous():
    """Ordered like all branches, branch 2 would call the recursive root after '{"x":' where
    branch 1 reads an object inline: an ambiguous grammar. The compiler then lets each branch
    keep its own order (MaskBench row 249) instead of refusing the schema."""
    inner = {"type": "object", "properties": {"q": {"type": "integer"}}}
    schema = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"x": {**inner, "additionalProperties": False}, "y": {}},
                "required": ["x"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"y": {"type": "string"}, "x": {"$ref": "#"}},
                "required": ["y"],
                "additionalProperties": False,
            },
        ]
    }
    with pytest.raises(GrammarConflict):
        SchemaCompiler(schema, False, False).compile()
    g = compile_json_schema(json.dumps(schema))
    assert g.matches(b'{"x":{"q":1},"y":2}') and g.matches(b'{"y":"s","x":{"x":{"q":1}}}')
    assert not g.matches(b'{"y":2}') and not g.matches(b'{"x":{"q":"a"}}')
