"""Leaf pieces shared by the JSON Schema compiler (:mod:`radtrio.fsm.json_schema`) and its
helper modules: :class:`SchemaError`, the keyword sets (annotations, supported keywords), the
compact JSON text of a value (:func:`_dumps`, :func:`_value_key`), a value's JSON type, and the
scalar languages of negations. Nothing here depends on the compiler itself.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from radtrio.fsm.automaton import DFA
from radtrio.types import RequestError

NOTHING = ("alt", [])
COUNTER_THRESHOLD = 16  # bounds above this use a counter rule instead of unrolled copies
ALL_TYPES = ("null", "boolean", "object", "array", "number", "string")
SCALAR_TYPES = ("null", "boolean", "number", "integer", "string")


ANNOTATIONS = {
    "title",
    "description",
    "$comment",
    "examples",
    "example",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
    "$id",
    "id",
    "$anchor",
    "$defs",
    "definitions",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "discriminator",
    "xml",
    "externalDocs",
    "$vocabulary",
    "markdownDescription",
    "enumDescriptions",
    "$dynamicAnchor",
    "errorMessage",
    "tsType",
    "additionalItems_comment",
}


def _is_annotation(keyword: str) -> bool:
    """Keywords that never constrain an instance: annotations and ``x-`` vendor extensions."""
    return keyword in ANNOTATIONS or keyword.startswith("x-")


_FREE_KEYS = ANNOTATIONS | {"_order"}  # _order only orders named properties


def _unconstrained(schema: dict) -> bool:
    """Whether a schema object holds no keyword that constrains an instance."""
    for k in schema:  # the first key is most often "type"
        if k not in _FREE_KEYS and not k.startswith("x-"):
            return False
    return True


SUPPORTED = {
    "type",
    "enum",
    "const",
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "if",
    "then",
    "else",
    "$dynamicRef",
    "$recursiveRef",
    "$recursiveAnchor",
}


class SchemaError(RequestError):
    """An unsupported or invalid schema feature: names the keyword and its JSON pointer."""

    def __init__(self, keyword: str, pointer: str, why: str = "is not supported") -> None:
        super().__init__(f"json_schema keyword {keyword!r} at {pointer or '#'} {why}")
        self.keyword = keyword
        self.pointer = pointer or "#"


_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f\x7f-\uffff]*')


def _dumps(v: Any) -> str:
    if isinstance(v, str) and _PLAIN_STRING.fullmatch(v):  # what json.dumps writes, quicker
        return '"' + v + '"'
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _dec(x: Any, keyword: str, ptr: str) -> Decimal:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise SchemaError(keyword, ptr, f"must be a number, got {x!r}")
    try:
        d = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    except InvalidOperation as e:  # pragma: no cover - float repr is always valid
        raise SchemaError(keyword, ptr, "is not a finite number") from e
    if not d.is_finite():
        raise SchemaError(keyword, ptr, "is not a finite number")
    return d


class ScalarLanguage:
    """A compiled language of scalar values (``_within`` in a schema), compared by identity."""

    __slots__ = ("dfa", "owner")

    def __init__(self, dfa: DFA) -> None:
        self.dfa = dfa
        self.owner: dict | None = None  # the schema made with it (whose values it keeps to)


def _rigid(v: Any) -> bool:
    """Whether :meth:`SchemaCompiler._const` writes every serialization a schema's language
    can hold for ``v``: no numbers (other forms) and no object of several keys (other
    orders)."""
    if isinstance(v, dict):
        return len(v) <= 1 and all(_rigid(x) for x in v.values())
    if isinstance(v, list):
        return all(_rigid(x) for x in v)
    return isinstance(v, bool) or not isinstance(v, (int, float))


def _value_key(v: Any) -> str:
    """One text per JSON value (JSON equality: 1 == 1.0, key order ignored)."""
    if isinstance(v, dict):
        return "{" + ",".join(_dumps(k) + ":" + _value_key(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_value_key(x) for x in v) + "]"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        d = _dec(v, "enum", "#")
        return str(int(d)) if d == d.to_integral_value() else format(d, "f").rstrip("0")
    return _dumps(v)
