"""``contains`` (with minContains/maxContains) under ``not``, and so inside oneOf, which is
compiled as each branch minus the others: checked against the jsonschema package."""

from __future__ import annotations

import functools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm_support import check, jsonschema_valid

from radtrio.fsm.conformance import compile_or_refuse, emit

_X = [
    {"type": "number"},
    {"minimum": 3},
    {"const": 1},
    {"type": "array", "items": {"type": "integer"}},
]
_NEG = [
    lambda x: {"contains": x},
    lambda x: {"contains": x, "type": "array"},
    lambda x: {"contains": x, "minContains": 2},
    lambda x: {"contains": x, "maxContains": 1},
    lambda x: {"contains": x, "minContains": 0, "maxContains": 1},
    lambda x: {"items": {"contains": x, "type": "array"}},
    lambda x: {"items": x},
]
_REST = [
    {},
    {"type": "array"},
    {"type": "array", "items": {"type": ["integer", "array"]}},
    {"type": "array", "contains": {"type": "string"}},
]
_VALUES = st.recursive(
    st.sampled_from([0, 1, 3, 7, 2.5, "s", None, True]),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@functools.cache
def _compiled(text: str):
    return compile_or_refuse(json.loads(text))


def _agrees(schema, instance, refusals: tuple[str, ...]) -> None:
    """The compiled schema accepts the emitted instance exactly when jsonschema calls it
    valid, or the schema is refused naming one of ``refusals``."""
    g, refused = _compiled(json.dumps(schema))
    if g is None:
        assert refused in refusals, (schema, refused)
        return
    expected = jsonschema_valid(schema, instance)
    assert g.matches(emit(instance, schema).encode()) == expected, (schema, instance)


@settings(max_examples=150, deadline=None)
@given(
    rest=st.sampled_from(_REST),
    neg=st.sampled_from(_NEG),
    x=st.sampled_from(_X),
    instance=st.one_of(st.lists(_VALUES, max_size=4), _VALUES),
)
def test_not_contains_matches_jsonschema(rest, neg, x, instance):
    """rest AND NOT neg: exact both ways, or refused naming the keyword."""
    # "$ref": a grammar the builder could not prove deterministic (refused late)
    _agrees({**rest, "not": neg(x)}, instance, ("not", "contains", "minContains", "$ref"))


_BRANCHES = [
    {"items": {"type": "integer"}},
    {"contains": {"type": "integer"}},
    {"contains": {"const": 1}, "maxContains": 1},
    {"items": {"type": "array", "contains": {"type": "integer"}}},
    {"contains": {"type": "array", "items": {"type": "integer"}}},
    {"anyOf": [{"items": {"const": 1}}, {"contains": {"const": 2}}]},
]


@settings(max_examples=100, deadline=None)
@given(
    branches=st.lists(st.sampled_from(_BRANCHES), min_size=2, max_size=2, unique_by=json.dumps),
    instance=st.lists(_VALUES, max_size=4),
)
def test_one_of_with_contains_matches_jsonschema(branches, instance):
    _agrees({"type": "array", "oneOf": branches}, instance, ("oneOf", "not", "contains", "$ref"))


def test_not_contains_is_every_item_not():
    schema = {"not": {"contains": {"type": "integer"}}}
    # contains holds for every non-array (it only constrains arrays), so NOT contains fails them
    check(schema, [[], ["a", 1.5]], [[1], ["a", 2], 3, "s", {"a": 1}])
    check(schema, [[], ["a", None]], [[0, "a"]], flexible=True)


def test_not_contains_counts():
    # fewer than 2 matches or more than 3
    schema = {
        "type": "array",
        "items": {"type": "integer"},
        "not": {"contains": {"const": 1}, "minContains": 2, "maxContains": 3},
    }
    check(schema, [[], [1], [1, 1, 1, 1], [2, 1, 2]], [[1, 1], [1, 2, 1, 1], 5])


def test_not_items_beside_items_true():
    # some item is not an integer (the choice of that item is a contains graph)
    check(
        {"type": "array", "not": {"items": {"type": "integer"}}},
        [[1, "a"], [{}], [[1]]],
        [[], [1, 2]],
    )


def test_not_items_of_contains_arrays():
    schema = {
        "type": "array",
        "items": {"type": ["integer", "array"], "items": {"type": "integer"}},
        "not": {"items": {"type": "array", "contains": {"const": 1}}},
    }
    check(schema, [[5], [[2], [1]], [[]]], [[], [[1]], [[1, 2], [3, 1]]])


def test_not_contains_beside_unevaluated_items_is_refused():
    schema = {
        "type": "array",
        "prefixItems": [{"type": "integer"}],
        "unevaluatedItems": {"type": "string"},
        "not": {"contains": {"const": 1}},
    }
    g, refused = compile_or_refuse(schema)
    assert g is None and refused in ("not", "unevaluatedItems")
