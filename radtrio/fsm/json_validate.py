"""Whether one concrete JSON value is valid under a JSON Schema, with the compiler's semantics.

The compiler uses this where the candidate values are finite (``enum``/``const``): a value is
emitted exactly when :func:`validate` accepts it under the whole subschema, whatever keywords
sit beside the enum (``not``, ``if``/``then``/``else``, ``oneOf``, patterns, ...).

It follows the compiler (:mod:`radtrio.fsm.json_schema`), not one draft: ``$ref`` siblings
apply as from 2019-09 (for drafts 3-7 the compiler hides them before they get here, see
:func:`radtrio.fsm.schema_refs.hide_ref_siblings`), ``items`` as an array means draft-4 tuples
with ``additionalItems``, ``exclusiveMinimum``/``exclusiveMaximum`` take both the draft-4
boolean and the numeric form, ``nullable: true`` adds null to ``type``, 1.0 is an integer,
numbers compare exactly as the decimal text ``json.dumps`` writes for them, ``pattern`` and
``format`` are matched by the very DFAs the compiler builds (ECMA search semantics),
``minLength``/``maxLength`` count code points. It also knows the compiler's internal keywords
(``_patterns``, ``_exclude``, ``_nonint``, ``_within``). A JSON Schema keyword it does not
implement raises :class:`SchemaError` naming keyword and pointer (``lenient`` ignores it
instead, as the compiler does); words outside the JSON Schema vocabularies are ignored, as JSON
Schema says."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from radtrio.fsm.json_formats import format_regex
from radtrio.fsm.regex_parser import RegexError
from radtrio.fsm.schema_common import (
    SUPPORTED,
    SchemaError,
    _dec,
    _dumps,
    _is_annotation,
    _value_key,
)
from radtrio.fsm.schema_not_keys import SOME, names_of
from radtrio.fsm.schema_objects import _key_pattern_dfa
from radtrio.fsm.schema_scalars import _format_dfa

Resolver = Callable[[str, str], tuple[Any, str]]

TYPE_NAMES = ("null", "boolean", "object", "array", "number", "string", "integer")
APPLICATORS = (
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
    "if",
    "not",
    "dependentSchemas",
    "dependencies",
    "$dynamicRef",
)
# keywords of other drafts or vocabularies that do constrain, but that neither side implements
FOREIGN = {"divisibleBy", "disallow", "extends", "$dynamicRef", "$recursiveRef", "unevaluatedItems"}
# what the validator checks: every keyword the compiler supports but the foreign ones, and the
# compiler's internal keys
VALUE_SET_MIN = 8  # enum/_exclude lists this long are looked up through a set of texts
KNOWN = (SUPPORTED - FOREIGN) | {"_patterns", "_exclude", "_nonint", "_within", SOME}


def validate(
    value: Any,
    schema: Any,
    root: Any = None,
    resolve: Resolver | None = None,
    lenient: bool = False,
    ptr: str = "#",
) -> bool:
    """Whether ``value`` (as ``json.loads`` gives it) is valid under ``schema``. ``$ref`` is
    resolved by ``resolve(ref, ptr) -> (target, target_ptr)``; by default the compiler's own
    resolution against ``root`` (``schema`` when not given)."""
    if resolve is None:
        from radtrio.fsm.json_schema import SchemaCompiler

        compiler = SchemaCompiler(schema if root is None else root, False, lenient)
        resolve = compiler.resolve
        if root is None:
            schema = compiler.root  # drafts 3-7: the keywords beside a $ref hidden
    return Validator(resolve, lenient).valid(value, schema, ptr)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number_value(v: int | float) -> Decimal:
    """The exact value of the text ``json.dumps`` writes for a number."""
    if isinstance(v, float):
        if not math.isfinite(v):
            raise SchemaError("enum", "#", "holds a non-finite number")
        return Decimal(repr(v))
    return Decimal(v)


def json_equal(a: Any, b: Any) -> bool:
    """JSON Schema equality: numbers by value (1 == 1.0), booleans apart from numbers."""
    if is_number(a) and is_number(b):
        return number_value(a) == number_value(b)
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def canonical_text(v: Any) -> str | None:
    """The one serialization of a scalar that ``_within`` languages are built on: strings as
    ``json.dumps(ensure_ascii=False)`` writes them, integers (1.0 too) as plain digits without
    "-0", other numbers in plain decimal without exponent or trailing zeros. None for
    objects and arrays."""
    if isinstance(v, (dict, list)):
        return None
    if not is_number(v):
        return _dumps(v)
    d = number_value(v)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d, "f").rstrip("0")


def _is_integral(v: int | float) -> bool:
    x = number_value(v)
    return x == x.to_integral_value()


def _json_type_matches(v: Any, t: str) -> bool:
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    if t == "number":
        return is_number(v)
    return is_number(v) and _is_integral(v)


def _count(x: Any, keyword: str, ptr: str) -> int:
    if isinstance(x, float) and x.is_integer() and x >= 0:
        return int(x)
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise SchemaError(keyword, ptr, f"must be a non-negative integer, got {x!r}")
    return x


def _utf8(s: str, keyword: str, ptr: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SchemaError(keyword, ptr, "a string with a lone surrogate cannot be checked") from e


class Validator:
    def __init__(self, resolve: Resolver, lenient: bool = False, formats: bool = True) -> None:
        self.resolve = resolve
        self.lenient = lenient
        self.formats = formats  # False: refuse format (its regex may leave out valid values)
        self.active: set[tuple[str, int]] = set()  # ($ref target, id(value)) being checked
        # id(list of values) -> (the list, its members' _value_key texts or None when some
        # member has none): an enum checks each of its values against itself, n^2 json_equal
        self.value_keys: dict[int, tuple[list, frozenset[str] | None]] = {}

    def unsupported(self, keyword: str, ptr: str, why: str = "is not supported") -> None:
        if not self.lenient:
            raise SchemaError(keyword, ptr, why)

    def _among(self, v: Any, values: list) -> bool:
        """Whether ``v`` equals (:func:`json_equal`) one of ``values``; a long list is looked
        up by the :func:`_value_key` texts of its members, made once per list."""
        if len(values) < VALUE_SET_MIN:
            return any(json_equal(v, e) for e in values)
        known = self.value_keys.get(id(values))
        if known is None or known[0] is not values:
            try:
                keys: frozenset[str] | None = frozenset(_value_key(e) for e in values)
            except (SchemaError, ValueError):  # a non-finite number: compared one by one
                keys = None
            known = self.value_keys[id(values)] = (values, keys)
        if known[1] is not None:
            try:
                return _value_key(v) in known[1]
            except (SchemaError, ValueError):
                pass
        return any(json_equal(v, e) for e in values)

    def valid(self, v: Any, s: Any, ptr: str) -> bool:
        if s is True:
            return True
        if s is False:
            return False
        if not isinstance(s, dict):
            raise SchemaError("(schema)", ptr, f"must be an object or a boolean, got {s!r}")
        for k in s:
            if k in KNOWN or _is_annotation(k):
                continue
            if k in SUPPORTED or k in FOREIGN or k.startswith("_"):
                self.unsupported(k, ptr, "is not supported (value check)")
        # a keyword is looked at only where it can still change the answer (anyOf stops at
        # the first branch that holds), so an unsupported one elsewhere does not refuse
        if not self._value_keywords(v, s, ptr):
            return False
        if isinstance(v, str) and not self._string(v, s, ptr):
            return False
        if is_number(v) and not self._number(v, s, ptr):
            return False
        if isinstance(v, list) and not self._array(v, s, ptr):
            return False
        if isinstance(v, dict) and not self._object(v, s, ptr):
            return False
        return self._applicators(v, s, ptr)

    # -- any type -------------------------------------------------------------------------------
    def _value_keywords(self, v: Any, s: dict, ptr: str) -> bool:
        if "type" in s:
            t = s["type"]
            names = [t] if isinstance(t, str) else t
            if not isinstance(names, list) or not names:
                raise SchemaError("type", ptr, f"must be a type name or a non-empty array: {t!r}")
            for x in names:
                if x not in TYPE_NAMES:
                    raise SchemaError("type", ptr, f"unknown type {x!r}")
            if s.get("nullable") is True:
                names = [*names, "null"]
            if not any(_json_type_matches(v, x) for x in names):
                return False
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError("enum", ptr, "must be an array")
            if not self._among(v, s["enum"]):
                return False
        if "const" in s and not json_equal(v, s["const"]):
            return False
        if "_exclude" in s and self._among(v, s["_exclude"]):
            return False
        if s.get("_nonint") and is_number(v) and _is_integral(v):
            return False
        if "_within" in s:
            text = canonical_text(v)
            if text is None:
                return False
            data = _utf8(text, "not", ptr)
            if not all(lang.dfa.matches(data) for lang in s["_within"]):
                return False
        return True

    def _applicators(self, v: Any, s: dict, ptr: str) -> bool:
        if "allOf" in s:
            subs = s["allOf"]
            if not isinstance(subs, list):
                raise SchemaError("allOf", ptr, "must be an array")
            if not all(self.valid(v, sub, f"{ptr}/allOf/{i}") for i, sub in enumerate(subs)):
                return False
        for key in ("anyOf", "oneOf"):
            if key in s:
                subs = s[key]
                if not isinstance(subs, list) or not subs:
                    raise SchemaError(key, ptr, "must be a non-empty array")
                checks = (self.valid(v, sub, f"{ptr}/{key}/{i}") for i, sub in enumerate(subs))
                if key == "anyOf" and not any(checks):
                    return False
                if key == "oneOf" and sum(checks) != 1:
                    return False
        if "not" in s and self.valid(v, s["not"], f"{ptr}/not"):
            return False
        if "if" in s:
            branch = "then" if self.valid(v, s["if"], f"{ptr}/if") else "else"
            if not self.valid(v, s.get(branch, True), f"{ptr}/{branch}"):
                return False
        return "$ref" not in s or self._ref(v, s["$ref"], ptr)

    def _ref(self, v: Any, ref: Any, ptr: str) -> bool:
        if not isinstance(ref, str):
            raise SchemaError("$ref", ptr, "must be a string")
        target, tptr = self.resolve(ref, ptr)
        key = (tptr, id(v))
        if key in self.active:
            raise SchemaError("$ref", ptr, f"{ref!r} refers back to itself for the same value")
        self.active.add(key)
        try:
            return self.valid(v, target, tptr)
        finally:
            self.active.discard(key)

    # -- strings --------------------------------------------------------------------------------
    def _string(self, v: str, s: dict, ptr: str) -> bool:
        if "minLength" in s and len(v) < _count(s["minLength"], "minLength", ptr):
            return False
        if s.get("maxLength") is not None and len(v) > _count(s["maxLength"], "maxLength", ptr):
            return False
        pats = list(s.get("_patterns", []))
        if "pattern" in s:
            pats.append(s["pattern"])
        for p in pats:
            if not isinstance(p, str):
                raise SchemaError("pattern", ptr, "must be a string")
            try:
                d = _key_pattern_dfa(p)
            except RegexError as e:
                self.unsupported("pattern", ptr, f"{p!r}: {e}")
                continue
            if not d.matches(_utf8(_dumps(v), "pattern", ptr)):
                return False
        fmt = s.get("format")
        if fmt is None:
            return True
        if not isinstance(fmt, str):
            raise SchemaError("format", ptr, f"must be a string, got {fmt!r}")
        try:
            regex = format_regex(fmt)
        except KeyError:
            self.unsupported("format", ptr, f"{fmt!r} is not supported")
            return True
        if regex is not None and not self.formats:
            self.unsupported("format", ptr, "inside not (its regex leaves out values)")
        # None: not a JSON Schema format, an annotation only
        return regex is None or _format_dfa(regex).matches(_utf8(_dumps(v)[1:-1], "format", ptr))

    # -- numbers --------------------------------------------------------------------------------
    def _number(self, v: int | float, s: dict, ptr: str) -> bool:
        x = number_value(v)
        em, eM = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if "minimum" in s:
            lo = _dec(s["minimum"], "minimum", ptr)
            if x < lo or (em is True and x == lo):
                return False
        if "maximum" in s:
            hi = _dec(s["maximum"], "maximum", ptr)
            if x > hi or (eM is True and x == hi):
                return False
        if em is not None and not isinstance(em, bool):
            if x <= _dec(em, "exclusiveMinimum", ptr):
                return False
        if eM is not None and not isinstance(eM, bool):
            if x >= _dec(eM, "exclusiveMaximum", ptr):
                return False
        if "multipleOf" in s:
            m = _dec(s["multipleOf"], "multipleOf", ptr)
            if m <= 0:
                raise SchemaError("multipleOf", ptr, "must be > 0")
            if (Fraction(x) / Fraction(m)).denominator != 1:
                return False
        return True

    # -- arrays ---------------------------------------------------------------------------------
    def _array(self, v: list, s: dict, ptr: str) -> bool:
        items = s.get("items", True)
        prefix, pre_ptr = s.get("prefixItems", []), f"{ptr}/prefixItems"
        rest, rest_ptr = items, f"{ptr}/items"
        if isinstance(items, list):  # draft 4-2019: items as an array = prefixItems
            prefix, pre_ptr = items, f"{ptr}/items"
            rest, rest_ptr = s.get("additionalItems", True), f"{ptr}/additionalItems"
        if not isinstance(prefix, list):
            raise SchemaError("prefixItems", ptr, "must be an array")
        for i, x in enumerate(v):
            sub, sp = (prefix[i], f"{pre_ptr}/{i}") if i < len(prefix) else (rest, rest_ptr)
            if not self.valid(x, sub, sp):
                return False
        if "minItems" in s and len(v) < _count(s["minItems"], "minItems", ptr):
            return False
        if s.get("maxItems") is not None and len(v) > _count(s["maxItems"], "maxItems", ptr):
            return False
        if s.get("uniqueItems") is True:
            if any(json_equal(v[i], v[j]) for i in range(len(v)) for j in range(i)):
                return False
        if "contains" in s:
            n = sum(self.valid(x, s["contains"], f"{ptr}/contains") for x in v)
            if n < _count(s.get("minContains", 1), "minContains", ptr):
                return False
            if s.get("maxContains") is not None:
                if n > _count(s["maxContains"], "maxContains", ptr):
                    return False
        return True

    # -- objects --------------------------------------------------------------------------------
    def _some_keys(self, v: dict, s: dict, ptr: str) -> bool:
        """Every "some member" requirement of a negation (:mod:`radtrio.fsm.schema_not_keys`)
        is met by a member the schema does not name, with a key in one pair's set and a value
        that pair's schema accepts."""
        reqs = s.get(SOME) or []
        named = set(names_of(s)) if reqs else set()
        quoted = {k: _utf8(_dumps(k), "not", ptr) for k in v if k not in named}
        return all(
            any(
                keys.dfa.matches(q) and self.valid(v[k], meet, ptr)
                for k, q in quoted.items()
                for keys, meet, _ in req
            )
            for req in reqs
        )

    def _object(self, v: dict, s: dict, ptr: str) -> bool:
        props = s.get("properties", {}) or {}
        if not isinstance(props, dict):
            raise SchemaError("properties", ptr, "must be an object")
        pattern_props = s.get("patternProperties") or {}
        if not isinstance(pattern_props, dict):
            raise SchemaError("patternProperties", ptr, "must be an object")
        patterns = []
        for p, sub in pattern_props.items():
            try:
                patterns.append((_key_pattern_dfa(p), sub))
            except RegexError as e:
                self.unsupported("patternProperties", ptr, f"{p!r}: {e}")
        has_additional = "additionalProperties" in s
        unevaluated = []
        for k, x in v.items():
            quoted = _utf8(_dumps(k), "patternProperties", ptr)
            subs = [(props[k], f"{ptr}/properties/{k}")] if k in props else []
            subs += [(sub, f"{ptr}/patternProperties") for d, sub in patterns if d.matches(quoted)]
            if not subs and has_additional:
                subs = [(s["additionalProperties"], f"{ptr}/additionalProperties")]
            if not subs:
                unevaluated.append(x)
            if not all(self.valid(x, sub, sp) for sub, sp in subs):
                return False
        if "propertyNames" in s:
            if not all(self.valid(k, s["propertyNames"], f"{ptr}/propertyNames") for k in v):
                return False
        if not self._some_keys(v, s, ptr):
            return False
        required = s.get("required", [])
        if not isinstance(required, list):
            raise SchemaError("required", ptr, "must be an array")
        if not all(r in v for r in required):
            return False
        if "minProperties" in s and len(v) < _count(s["minProperties"], "minProperties", ptr):
            return False
        max_p = s.get("maxProperties")
        if max_p is not None and len(v) > _count(max_p, "maxProperties", ptr):
            return False
        for key in ("dependentRequired", "dependencies", "dependentSchemas"):
            deps = s.get(key)
            if deps is None:
                continue
            if not isinstance(deps, dict):
                raise SchemaError(key, ptr, "must be an object")
            for trigger, dep in deps.items():
                if trigger not in v:
                    continue
                if isinstance(dep, list) and key != "dependentSchemas":
                    if not all(d in v for d in dep):
                        return False
                elif key == "dependentRequired":
                    raise SchemaError(key, ptr, f"{trigger!r} must be a list of keys")
                elif not self.valid(v, dep, f"{ptr}/{key}/{trigger}"):
                    return False
        if "unevaluatedProperties" in s:
            if any(a in s for a in APPLICATORS):
                self.unsupported("unevaluatedProperties", ptr, "beside in-place applicators")
                return True
            sub, sp = s["unevaluatedProperties"], f"{ptr}/unevaluatedProperties"
            return all(self.valid(x, sub, sp) for x in unevaluated)
        return True
