"""Shortcuts the schema compiler takes from a schema's text: plain_references (no base-URI
or id walk when the text cannot hold ids, anchors or non-pointer references) and _dumps's
plain-string path, both against the slow path they stand for."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm.json_schema import SchemaCompiler, _dumps, plain_references
from radtrio.fsm.schema_refs import needs_base_uris

KEYS = ["type", "properties", "$ref", "$id", "id", "$anchor", "items", "x", "ID", "valid"]
REFS = ["#", "#/properties/x", "#/$defs/a", "#a", "other.json", "other.json#/x", "urn:x#"]
leaf = st.one_of(st.sampled_from(REFS), st.integers(0, 3), st.sampled_from(["string", "a#b"]))
docs = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(docs, st.booleans(), st.booleans())
def test_plain_references_never_skips_a_needed_walk(doc, spaced: bool, escaped: bool) -> None:
    text = json.dumps(doc, indent=1 if spaced else None, ensure_ascii=escaped)
    if not isinstance(doc, dict) or not plain_references(text):
        return
    assert not needs_base_uris(doc)
    comp = SchemaCompiler(doc, False, True)  # the walk the shortcut leaves out
    assert comp.ids == {} and comp.dup_anchors == set() and not comp.nested_ids


def test_plain_references_examples() -> None:
    assert plain_references('{"type": "object", "$ref": "#/$defs/a"}')
    assert plain_references('{"$ref" : "#"}')
    assert not plain_references('{"$ref": "other.json#/a"}')
    assert not plain_references('{"$ref": "#anchor"}')
    assert not plain_references('{"$id": "http://x/y"}')
    assert not plain_references('{"$anchor": "a"}')
    assert not plain_references('{"\\u0024id": "a"}')  # an escaped key is not read


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
def test_dumps_matches_json_dumps(s: str) -> None:
    expect = json.dumps(s, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert _dumps(s) == expect
