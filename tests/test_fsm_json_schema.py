"""JSON Schema compiler: keyword behaviour on hand-written cases, numeric bounds against
Python's arithmetic (hypothesis), refusals naming keyword and pointer."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm_support import check, compact

from radtrio.fsm import json_numbers as jn
from radtrio.fsm.json_schema import SchemaError, compile_json_any, compile_json_schema
from radtrio.types import RequestError


def test_object_properties_required_additional():
    check(
        {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "minimum": 3, "maximum": 120},
                "b": {"type": "string", "maxLength": 5},
            },
            "required": ["a"],
            "additionalProperties": False,
        },
        [{"a": 3}, {"a": 120, "b": "hi"}, {"a": 45, "b": ""}],
        [{"a": 2}, {"a": 121}, {"b": "x"}, {"a": 5, "b": "toolong"}, {"a": 5, "c": 1}, b"{}"],
    )


def test_optional_members_and_default_additional_properties():
    check(
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}},
        [
            {},
            {"a": 1},
            {"b": True},
            {"a": 1, "b": False},
            {"a": 1, "zz": [1, {"q": None}]},
            {"zz": "x"},
        ],
        [{"a": "x"}, b'{,"a":1}', b'{"a":1,}', b'{"a":1,"a":"x"}'],
    )


def test_schema_valued_additional_properties():
    check(
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"a": 1, "x": "y"}, {"x": "y", "z": "w"}],
        [{"a": 1, "x": 2}, {"a": "s"}],
    )


def test_arrays_items_prefix_bounds():
    check(
        {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3},
        [[1, 2], [1, 2, 3]],
        [[1], [1, 2, 3, 4], ["a", 1]],
    )
    check(
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "null"}], "items": False},
        [[], ["a"], ["a", None]],
        [[None], ["a", None, 1]],
    )
    check(
        {
            "type": "array",
            "prefixItems": [{"const": 1}],
            "items": {"type": "string"},
            "minItems": 2,
        },
        [[1, "a"], [1, "a", "b"]],
        [[1], [2, "a"], [1, 2]],
    )


def test_large_bounds_use_counters_not_copies():
    g = check(
        {"type": "array", "items": {"type": "integer"}, "minItems": 50, "maxItems": 400},
        [list(range(50)), list(range(400))],
        [list(range(49)), list(range(401))],
    )
    assert g.n_rules >= 2 and g.n_states < 200
    g = check(
        {"type": "string", "minLength": 100, "maxLength": 5000},
        ["é" * 100, "a" * 5000],
        ["a" * 99, "a" * 5001],
    )
    assert g.n_states < 100
    # empty arrays/strings right after the opening bracket/quote, then more structure
    check(
        {
            "type": "object",
            "properties": {
                "t": {"type": "array", "maxItems": 40},
                "s": {"type": "string", "maxLength": 40},
            },
            "required": ["t", "s"],
            "additionalProperties": False,
        },
        [{"t": [], "s": ""}, {"t": [1, "x"], "s": "abc"}],
        [{"t": [], "s": "a" * 41}],
    )


def test_recursive_ref_uses_a_stack():
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["v"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    }
    deep = {"v": 0}
    for i in range(30):
        deep = {"v": i, "kids": [deep, {"v": -1}]}
    check(
        schema,
        [{"v": 1}, {"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3}]}, deep],
        [{"v": 1, "kids": [{}]}, {"v": 1, "kids": [{"v": 1, "x": 2}]}],
    )


def test_draft4_integer_constants_are_written_without_a_fraction():
    """Draft 4 calls 2.0 a number, not an integer (MaskBench row 173, found by a random walk);
    from draft 6 on, 2.0 is an integer and both spellings stay."""
    for draft, fraction_ok in (("http://json-schema.org/draft-04/schema#", False), (None, True)):
        schema = {"type": "integer", "enum": [2, 3]}
        if draft:
            schema["$schema"] = draft
        g = compile_json_schema(json.dumps(schema), False)
        assert g.matches(b"2") and g.matches(b"3") and not g.matches(b"4")
        assert g.matches(b"2.0") == fraction_ok


def test_enum_const_and_siblings():
    check(
        {"enum": ["a", 1, None, {"x": [1, 2]}]},
        ["a", 1, None, {"x": [1, 2]}, b"1.0"],
        ["b", 2, {"x": [1]}],
    )
    check({"type": "string", "enum": ["a", 1, "b"]}, ["a", "b"], [1])
    check({"const": "only"}, ["only"], ["other"])


def test_anyof_oneof_allof_not():
    check(
        {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "minimum": 0}]},
        ["ab", 0, 7],
        ["abc", -1, None],
    )
    check({"oneOf": [{"type": "string"}, {"type": "integer"}]}, ["x", 1], [None, 1.5])
    check(
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"a": {"minimum": 5}, "b": {"type": "string"}}},
            ]
        },
        [{"a": 5}, {"a": 9, "b": "x"}],
        [{"a": 4}, {"b": "x"}, {"a": 5, "b": 1}],
    )
    check({"type": ["string", "null"], "not": {"const": "forbidden"}}, ["ok", None], ["forbidden"])
    check(
        {"type": "object", "properties": {"a": {}}, "not": {"required": ["a"]}},
        [{}, {"b": 1}],
        [{"a": 1}],
    )
    check({"type": "number", "not": {"type": "integer"}}, [1.5, -0.25], [1, 0])


def test_oneof_overlap_refused():
    # overlapping branches are compiled as each one minus the others; a recursive branch
    # cannot be negated, so this oneOf is refused
    tree = {"type": "object", "properties": {"c": {"$ref": "#/$defs/t"}}}
    schema = {"$defs": {"t": tree}, "oneOf": [{"$ref": "#/$defs/t"}, {"required": ["a"]}]}
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == "oneOf" and e.value.pointer == "#"
    short, long = {"type": "string", "maxLength": 3}, {"type": "string", "minLength": 2}
    check({"oneOf": [short, long]}, ["a", "", "abcd"], ["ab", "abc", 1])
    short, long = {"type": "array", "maxItems": 3}, {"type": "array", "minItems": 2}
    check({"oneOf": [short, long]}, [[], [1], [1, 2, 3, 4]], [[1, 2], [1, 2, 3]])


@pytest.mark.parametrize(
    "schema, keyword, pointer",
    [
        ({"type": "array", "uniqueItems": True}, "uniqueItems", "#"),
        (
            {"properties": {"a": {"not": {"uniqueItems": True}}}},
            "not",
            "#/properties/a/not",
        ),
        ({"type": "string", "format": "regex"}, "format", "#"),
        (
            {"properties": {"x": {"dependentRequired": {"a": ["b"]}}}},
            "dependentRequired",
            "#/properties/x",
        ),
        ({"$ref": "http://example.com/s.json"}, "$ref", "#"),
        ({"if": {"uniqueItems": True}, "then": {"minLength": 1}}, "not", "#/if"),
    ],
)
def test_unsupported_keywords_name_keyword_and_pointer(schema, keyword, pointer):
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps(schema))
    assert e.value.keyword == keyword and e.value.pointer == pointer
    assert keyword in str(e.value) and pointer in str(e.value)
    assert isinstance(e.value, RequestError)


def test_lenient_mode_ignores_unsupported():
    g = compile_json_schema(json.dumps({"type": "array", "uniqueItems": True}), lenient=True)
    assert g.matches(b"[1,1]")


def test_formats_and_patterns():
    check(
        {"type": "string", "format": "date-time"},
        ["2020-02-29T10:00:00Z"],
        ["2021-02-29T10:00:00Z", "x"],
    )
    check(
        {"type": "string", "format": "uuid"}, ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567"]
    )
    check({"type": "string", "format": "ipv4"}, ["192.168.0.1"], ["256.1.1.1", "01.1.1.1"])
    check({"type": "string", "format": "email"}, ["a.b@example.com"], ["a@", "@b.com"])
    check(
        {"type": "string", "format": "uri"},
        ["http://example.com:8080/p?q=1#f", "urn:isbn:0451450523", "ldap://[2001:db8::7]/c=GB"],
        ["http://example.com:abc/path", "//example.com", "http://a b.com"],
    )
    check({"type": "string", "format": "uri-reference"}, ["../a/b?c", "#frag", ""], ["\\\\x"])
    ipv6 = ["::1", "2001:db8::7", "::ffff:1.2.3.4"]
    check({"type": "string", "format": "ipv6"}, ipv6, ["1::2::3"])
    durations = ["P1Y2M3DT4H5M6S", "P2W", "PT1M"]
    check({"type": "string", "format": "duration"}, durations, ["P", "P1Y2W"])
    check({"type": "string", "format": "json-pointer"}, ["", "/a~1b/0"], ["a", "/~2"])
    check({"type": "string", "format": "uri-template"}, ["/u/{id}{?q,lang}"], ["/u/{id"])


def test_unknown_format_is_an_annotation():
    # draft 2020-12: a format JSON Schema does not define does not constrain the string
    check({"type": "string", "format": "credit-card"}, ["anything", ""], [3])
    with pytest.raises(SchemaError, match="format.*must be a string"):
        compile_json_schema(json.dumps({"type": "string", "format": 5}))
    # pattern is a search, unanchored unless ^/$; escapes as json.dumps writes them
    check({"type": "string", "pattern": "ab"}, ["xxabyy", "ab"], ["a b"])
    check(
        {"type": "string", "pattern": '^[a-z"\\\\]+$', "maxLength": 4},
        ["ab", 'a"b', "a\\"],
        ["abcde", "A"],
    )


def test_flexible_whitespace():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "integer"}}},
        "required": ["a"],
    }
    check(
        schema,
        [b'{ "a" : [ 1 , 2 ] }', b'{\n  "a": [\n    1\n  ]\n}', {"a": []}],
        [b"{ }"],
        flexible=True,
    )
    check(schema, [{"a": [1, 2]}], [b'{ "a":[1]}'])


def test_json_any_and_bad_json():
    g = compile_json_any()
    assert g.matches(b'{"a":[1,2,{"b":null}],"c":"x"}') and not g.matches(b'{"a":}')
    with pytest.raises(RequestError, match="not valid JSON"):
        compile_json_schema("{nope")


def _number_in(x: Decimal, lo, lo_x, hi, hi_x) -> bool:
    if lo is not None and (x < lo or (lo_x and x == lo)):
        return False
    return not (hi is not None and (x > hi or (hi_x and x == hi)))


bound = st.one_of(
    st.none(),
    st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(
    lo=bound,
    hi=bound,
    lo_x=st.booleans(),
    hi_x=st.booleans(),
    xs=st.lists(
        st.decimals(
            min_value=-1200, max_value=1200, places=3, allow_nan=False, allow_infinity=False
        ),
        min_size=1,
        max_size=12,
    ),
    integer=st.booleans(),
)
def test_numeric_bounds_exact(lo, hi, lo_x, hi_x, xs, integer):
    schema = {"type": "integer" if integer else "number"}
    if lo is not None:
        schema["exclusiveMinimum" if lo_x else "minimum"] = float(lo)
    if hi is not None:
        schema["exclusiveMaximum" if hi_x else "maximum"] = float(hi)
    g = compile_json_schema(json.dumps(schema))
    for x in xs:
        if integer:
            x = x.to_integral_value()
        text = str(int(x)) if integer else format(x.normalize(), "f")
        if text in ("-0",):
            continue
        expected = _number_in(Decimal(text), lo, lo_x, hi, hi_x)
        assert g.matches(text.encode()) == expected, (schema, text)


def test_int_range_regex_matches_arithmetic():
    for lo, hi in [(0, 0), (3, 120), (-15, 7), (-999, -10), (99, 1001), (5, None), (None, -3)]:
        pat = re.compile(jn.int_range(lo, hi))
        for x in range(-1100, 1100):
            inside = (lo is None or x >= lo) and (hi is None or x <= hi)
            assert bool(pat.fullmatch(str(x))) == inside, (lo, hi, x)


def test_vendor_extension_keywords_ignored():
    # x- keywords carry no constraint: differing values inside allOf must merge, not refuse
    schema = {
        "allOf": [
            {"type": "object", "x-order": 1, "x-tags": ["a"]},
            {"x-order": 2, "properties": {"a": {"type": "integer", "x-unit": "s"}}},
        ],
        "x-generator": {"name": "tool"},
    }
    check(schema, [{"a": 1}, {}], [{"a": "1"}, 3])
    check(
        {"anyOf": [{"type": "string", "x-a": 1}, {"type": "null", "x-a": 2}], "x-k": 3},
        ["s", None],
        [1],
    )


def test_pattern_properties_split_keys_by_pattern():
    schema = {
        "type": "object",
        "properties": {"ab": {"type": "integer"}},
        "patternProperties": {"^a": {"type": "integer", "minimum": 0}, "b$": {"type": "string"}},
        "additionalProperties": {"type": "boolean"},
    }
    check(
        schema,
        [{"ax": 2}, {"xb": "s"}, {"zz": True}, {"ax": 1, "xb": "q", "c": False}, {}],
        # "ab" must be an integer >= 0 and a string; "aab" matches both patterns
        [{"ab": 1}, {"ax": -1}, {"ax": "s"}, {"zz": 1}, {"aab": 1}, {"xb": 1}],
    )
    check(
        {
            "type": "object",
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": False,
        },
        [{"x-a": "1"}, {}],
        [{"y": "1"}, {"x-a": 1}],
    )


def test_double_negation():
    check({"not": {"not": {"type": "integer"}}}, [1, 0], ["1", None, 1.5])


def test_min_properties_counts_every_member():
    props = {"a": {"type": "integer"}, "b": {"type": "integer"}}
    closed = {"type": "object", "properties": props, "additionalProperties": False}
    check({**closed, "minProperties": 1}, [{"a": 1}, {"b": 2}, {"a": 1, "b": 2}], [{}])
    check({**closed, "minProperties": 2}, [{"a": 1, "b": 2}], [{}, {"a": 1}, {"b": 2}])
    check({**closed, "minProperties": 3}, [], [{"a": 1, "b": 2}])  # cannot be met: no value
    check({"type": "object", "minProperties": 1}, [{"x": 1}, {"x": 1, "y": 2}], [{}])
    required_a = {"properties": props, "required": ["a"], "minProperties": 2}
    check(required_a, [{"a": 1, "b": 2}, {"a": 1, "q": None}], [{"a": 1}])


def test_min_properties_never_counts_a_repeated_extra_key_twice():
    """{"x":1,"x":2} has one property; a grammar cannot keep extra keys apart, so extra
    members count once toward minProperties, and a minimum that needs two is refused."""
    g = compile_json_schema(
        json.dumps({"properties": {"a": {}}, "minProperties": 2, "maxProperties": 3}), False
    )
    assert g.matches(b'{"a":1,"x":2}') and g.matches(b'{"a":1,"x":2,"y":3}')
    assert not g.matches(b'{"x":1,"x":2}') and not g.matches(b'{"x":1,"y":2}')
    assert not g.matches(b'{"a":1,"x":2,"y":3,"z":4}')
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps({"type": "object", "minProperties": 2}), False)
    assert e.value.keyword == "minProperties" and "distinct" in str(e.value)


def test_dependent_required_both_spellings():
    props = {k: {"type": "integer"} for k in "abc"}
    for keyword in ("dependentRequired", "dependencies"):
        schema = {"type": "object", "properties": props, keyword: {"a": ["c"], "b": ["c"]}}
        good = [{}, {"c": 1}, {"a": 1, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"b": 1, "c": 1}]
        check(schema, good, [{"a": 1}, {"b": 2}, {"a": 1, "b": 2}])
    # a required trigger makes its dependents required
    required_a = {"properties": props, "required": ["a"], "dependentRequired": {"a": ["b"]}}
    check(required_a, [{"a": 1, "b": 2}], [{"a": 1}, {"b": 2}])


def test_dependencies_with_too_many_schema_triggers_are_refused():
    # schema-valued dependencies are supported as presence variants, 2**6 of them is too many
    deps = {k: {"required": ["z"]} for k in "abcdef"}
    with pytest.raises(SchemaError) as e:
        compile_json_schema(json.dumps({"properties": {"a": {}}, "dependencies": deps}))
    assert e.value.keyword == "dependencies"


def test_dependencies_with_schemas_apply_to_objects_that_have_the_key():
    schema = {"properties": {"a": {}, "b": {}}, "dependencies": {"a": {"required": ["b"]}}}
    check(schema, [{}, {"b": 1}, {"a": 1, "b": 2}, 3, "x"], [{"a": 1}])


def test_two_integer_multiple_of_merge_to_their_lcm():
    check({"allOf": [{"multipleOf": 4}, {"multipleOf": 6}]}, [0, 12, -24], [4, 6, 18])


@settings(max_examples=60, deadline=None)
@given(
    min_members=st.integers(0, 4),
    dependent=st.dictionaries(
        st.sampled_from("abcd"), st.lists(st.sampled_from("abcd"), max_size=2), max_size=2
    ),
    required=st.lists(st.sampled_from("abcd"), max_size=2, unique=True),
    closed=st.booleans(),
    present=st.lists(st.sampled_from("abcdxy"), unique=True),
)
def test_object_counts_and_dependencies_match_jsonschema(
    min_members, dependent, required, closed, present
):
    """Objects over keys a-d (and extras x, y) in schema order, against the jsonschema
    package's verdict for minProperties + dependentRequired + required."""
    import jsonschema

    schema = {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in "abcd"},
        "required": required,
        "minProperties": min_members,
        "dependentRequired": dependent,
        "additionalProperties": not closed,
    }
    g = compile_json_schema(json.dumps(schema))
    instance = {k: 1 for k in "abcdxy" if k in present}
    valid = jsonschema.Draft202012Validator(schema).is_valid(instance)
    # extra keys (x, y) count once toward minProperties: a grammar cannot keep them distinct
    countable = sum(k in present for k in "abcd") + any(k in present for k in "xy")
    assert g.matches(compact(instance)) == (valid and countable >= min_members), (schema, instance)


_SIDE = st.fixed_dictionaries(
    {},
    optional={
        "properties": st.dictionaries(
            st.sampled_from(["a", "xa"]),
            st.sampled_from([{"type": "integer"}, {"minimum": 2}, {"type": "string"}]),
            max_size=2,
        ),
        "patternProperties": st.dictionaries(
            st.sampled_from(["^x", "a$"]),
            st.sampled_from([{"type": "integer"}, {"minimum": 2}]),
            min_size=1,
            max_size=2,
        ),
        "additionalProperties": st.sampled_from([True, False, {"type": "integer"}]),
    },
)


@settings(max_examples=80, deadline=None)
@given(
    a=_SIDE,
    b=_SIDE,
    instance=st.dictionaries(
        st.sampled_from(["a", "xa", "xb", "q"]), st.sampled_from([1, 3, "s"]), max_size=4
    ),
)
def test_allof_with_pattern_properties_matches_jsonschema(a, b, instance):
    """allOf of two object schemas with properties / patternProperties /
    additionalProperties, merged exactly or refused by name, against jsonschema."""
    import jsonschema

    from radtrio.fsm.conformance import compile_or_refuse, emit

    schema = {"type": "object", "allOf": [a, b]}
    g, refused = compile_or_refuse(schema)
    if g is None:
        assert refused == "patternProperties", refused
        return
    expected = jsonschema.Draft202012Validator(schema).is_valid(instance)
    text = emit(instance, schema)
    assert g.matches(text.encode()) == expected, (schema, text)


def test_allof_pattern_properties_merged():
    schema = {
        "allOf": [
            {"type": "object", "patternProperties": {"^x-": {"type": "string"}}},
            {"properties": {"a": {"type": "integer"}}, "additionalProperties": False},
        ]
    }
    check(schema, [{}, {"a": 1}], [{"x-1": "s"}, {"a": 1, "b": 2}])
    # a pattern of one side matching a key the other side names (with additionalProperties
    # false): that key answers to its property schema and the pattern, not to additionalProperties
    named = {"properties": {"xa": {"type": "integer"}}, "additionalProperties": False}
    schema = {"allOf": [{"patternProperties": {"^x": {"minimum": 2}}}, named]}
    check(schema, [{}, {"xa": 3}], [{"xa": 1}, {"xb": 3}, {"xa": "s"}])


_ONE_OF_BRANCHES = [
    {"type": "integer"},
    {"type": "number"},
    {"type": "string"},
    {"type": ["string", "null"]},
    {"required": ["a"]},
    {"required": ["b"]},
    {"enum": [1, "s", None]},
    {"const": 3},
    {"not": {"type": "string"}},
    {"type": "object"},
    {"type": ["integer", "string"]},
    {"enum": [3, "t", {"a": 1}]},
    {"not": {"required": ["a"]}},
]
_INSTANCES = [1, 3, 1.5, "s", "t", None, {}, {"a": 1}, {"b": 1}, {"a": 1, "b": 1}, [1]]


@settings(max_examples=80, deadline=None)
@given(
    branches=st.lists(st.sampled_from(_ONE_OF_BRANCHES), min_size=2, max_size=3),
    instance=st.sampled_from(_INSTANCES),
)
def test_one_of_matches_jsonschema(branches, instance):
    """oneOf of overlapping branches, compiled as each branch minus the others, or refused
    by name, against the jsonschema package."""
    import jsonschema

    from radtrio.fsm.conformance import compile_or_refuse, emit

    schema = {"properties": {"a": {}, "b": {}}, "oneOf": branches}
    g, refused = compile_or_refuse(schema)
    if g is None:
        assert refused in ("oneOf", "not"), refused
        return
    expected = jsonschema.Draft202012Validator(schema).is_valid(instance)
    text = emit(instance, schema)
    assert g.matches(text.encode()) == expected, (schema, text)


def test_not_required_holds_only_for_objects():
    check({"not": {"required": ["a"]}}, [{}, {"b": 1}], [1, "s", None, [], {"a": 1}])


def test_one_of_overlapping_branches_mean_exactly_one():
    schema = {"properties": {"a": {}, "b": {}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
    # a non-object satisfies both "required" branches, so it fails oneOf
    check(schema, [{"a": 1}, {"b": 2}], [{}, {"a": 1, "b": 2}, 5])
    check({"oneOf": [{"type": "number"}, {"type": "integer"}]}, [1.5, -0.25], [1, 0, "x"])


def test_kernel_compilation_is_not_charged_to_a_schemas_time_limit(monkeypatch):
    """The first compile after an install JITs the automaton kernels; that happens before a
    schema's deadline starts, so a small time limit still compiles a small schema."""
    import time

    import radtrio.fsm.json_schema as js

    def slow_jit() -> None:
        time.sleep(0.3)

    monkeypatch.setattr(js, "compile_kernels", slow_jit)
    g = compile_json_schema(
        '{"type": "object", "properties": {"a": {"type": "integer"}}}', time_limit_s=0.25
    )
    assert g.matches(b'{"a":12}') and not g.matches(b'{"a":"x"}')


def test_a_schema_past_its_time_limit_is_refused_by_name():
    schema = {"type": "string", "pattern": "^(?:[a-z]{1,12}\\.){1,40}[a-z]{2,9}$"}
    with pytest.raises(SchemaError, match="compile time limit"):
        compile_json_schema(json.dumps(schema), time_limit_s=1e-6)
