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


DRAFT7 = "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("draft", [DRAFT7, "https://json-schema.org/draft/2020-12/schema"])
def test_ref_siblings_are_ignored_up_to_draft_7_and_merged_after(draft):
    """Drafts 3-7 ignore the keywords beside ``$ref``; 2019-09 on apply them as well
    (MaskBench JsonSchemaStore drupal-libraries: a draft-07 ``$ref`` beside properties and
    ``additionalProperties: false`` rejected valid instances). jsonschema is the judge."""
    schema = {
        "$schema": draft,
        "$ref": "#/definitions/file",
        "properties": {"x": {"type": "integer"}},
        "additionalProperties": False,
        "definitions": {
            "file": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
        },
    }
    import jsonschema

    from radtrio.fsm.json_validate import validate

    judge = jsonschema.validators.validator_for(schema)(schema)
    for instance in ({"a": "q"}, {"a": "q", "x": "s"}, {"a": "q", "x": 1}, {"x": 1}, {}):
        _check(schema, instance)
        assert validate(instance, schema) == judge.is_valid(instance), instance
    g = _compiled(json.dumps(schema), False)
    assert g.matches(b'{"a":"q","x":"s"}') == (draft == DRAFT7)


def test_a_pointer_leads_through_keywords_that_a_ref_hides():
    """A draft-7 ``$ref`` to ``#/properties/a`` beside ``properties``: the properties apply to
    nothing, yet the pointer still finds them. Nested: the hidden keywords hold a schema with
    a ``$ref`` and siblings of its own."""
    schema = {
        "$schema": DRAFT7,
        "$ref": "#/properties/a",
        "properties": {
            "a": {
                "$ref": "#/properties/a/definitions/n",
                "minimum": 5,
                "definitions": {"n": {"type": "integer", "maximum": 3}},
            }
        },
    }
    for instance in (1, 3, 4, 6, "a", {"a": 1}):
        _check(schema, instance)
    g = _compiled(json.dumps(schema), False)
    assert g.matches(b"2") and not g.matches(b"4") and not g.matches(b"6")


def test_hiding_ref_siblings_shares_what_it_does_not_change():
    from radtrio.fsm.schema_refs import RefOnly, hide_ref_siblings, pointer_step

    plain = {"type": "object", "properties": {"p": {"$ref": "#/$defs/q"}}}
    doc = {"$schema": DRAFT7, "items": [plain, {"$ref": "#/x", "type": "null"}]}
    out = hide_ref_siblings(doc)
    assert out is not doc and out["items"][0] is plain
    hidden = out["items"][1]
    assert isinstance(hidden, RefOnly) and dict(hidden) == {"$ref": "#/x"}
    assert pointer_step(hidden, "type") == (True, "null")
    assert pointer_step(hidden, "enum") == (False, None)
    assert hide_ref_siblings(out) is out  # a second pass changes nothing
    assert hide_ref_siblings(plain) is plain


def test_emitted_key_order_follows_the_ref_not_the_ignored_siblings():
    """conformance.emit orders keys as the compiler does: for draft 7 by the ``$ref`` target
    alone, the ignored ``properties`` beside it list no keys."""
    schema = {
        "$schema": DRAFT7,
        "$ref": "#/definitions/d",
        "properties": {"b": {}, "a": {}},
        "definitions": {"d": {"properties": {"a": {}, "b": {}}}},
    }
    assert emit({"b": 1, "a": 2}, schema) == '{"a":2,"b":1}'
    assert _compiled(json.dumps(schema), False).matches(b'{"a":2,"b":1}')


_keys = st.sampled_from(["$ref", "type", "a", "properties", "enum", 'q"$ref'])
_json_docs = st.recursive(
    st.none() | st.integers() | st.sampled_from(["#/a", "x", '"', "\\", "é", "$ref"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_docs, st.sampled_from([None, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_text_check_for_lone_refs_never_misses_a_ref_with_siblings(doc, indent, seps):
    """``lone_references`` lets the compiler skip the walk of a draft 3-7 document; where it
    says so, the walk would have changed nothing."""
    from radtrio.fsm.json_schema import lone_references
    from radtrio.fsm.schema_refs import hide_ref_siblings

    text = json.dumps(doc, indent=indent, separators=seps, ensure_ascii=indent is None)
    if lone_references(text):
        assert hide_ref_siblings(doc) is doc, text
