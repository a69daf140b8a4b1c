"""allOf for the JSON Schema compiler, as the :class:`MergeRules` methods of
:class:`radtrio.fsm.json_schema.SchemaCompiler`: two subschemas merged into one, keyword by
keyword (allOf parts, and the siblings of anyOf/oneOf/$ref), where a merge with a recursive
``$ref`` target becomes a named schema (a rule) of its own.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from radtrio.fsm import schema_arrays as sarr
from radtrio.fsm import schema_dependencies as sdeps
from radtrio.fsm import schema_not_keys as snk
from radtrio.fsm.grammar import GrammarConflict
from radtrio.fsm.json_keys import SIDES, all_of, sides_of
from radtrio.fsm.schema_common import (
    SCALAR_TYPES,
    ScalarLanguage,
    SchemaError,
    _dumps,
    _is_annotation,
)
from radtrio.fsm.schema_negation import MAX_NOT_DEPTH
from radtrio.fsm.schema_not import has_conditional, if_then_else
from radtrio.fsm.schema_objects import _key_lists, _pattern_schemas_of
from radtrio.fsm.schema_refs import cyclic_targets

MAX_MERGED_REFS = 256  # distinct (recursive $ref, other schema) merges, each a rule of its own


class MergeRules:
    # -- merging (allOf, siblings of anyOf/oneOf/$ref) -------------------------------------------
    def merge(self, a: Any, b: Any, ptr: str) -> Any:
        if a is True or a == {}:
            return b
        if b is True or b == {}:
            return a
        if a is False or b is False:
            return False
        if not isinstance(a, dict) or not isinstance(b, dict):
            raise SchemaError("allOf", ptr, "subschemas must be objects or booleans")
        a = self._deref(a, ptr, keep_recursive=True)
        b = self._deref(b, ptr, keep_recursive=True)
        if a is False or b is False:
            return False
        if has_conditional(a):
            a = if_then_else(self, a, ptr)
        if has_conditional(b):
            b = if_then_else(self, b, ptr)
        if a is False or b is False:
            return False
        if a is True:
            return b
        if b is True:
            return a
        if "$ref" in a or "$ref" in b:  # a recursive target: the merge is a rule of its own
            return self._merge_ref(a, b, ptr)
        if "allOf" in a or "allOf" in b:
            out: Any = {k: v for k, v in a.items() if k != "allOf"}
            for i, s in enumerate(a.get("allOf", [])):
                out = self.merge(out, s, f"{ptr}/allOf/{i}")
            rest_b = {k: v for k, v in b.items() if k != "allOf"}
            out = self.merge(out, rest_b, ptr)
            for i, s in enumerate(b.get("allOf", [])):
                out = self.merge(out, s, f"{ptr}/allOf/{i}")
            return out
        for side in (a, b):
            for k in ("unevaluatedProperties", "unevaluatedItems"):
                if k in side:
                    self.unsupported(k, ptr, "inside allOf/anyOf/oneOf/$ref combinations")
        if "_some_item" in a and "_some_item" in b:  # two negated items: two contains terms
            a = sarr.some_item_as_contains(a)
        tuple_items = any("prefixItems" in x or isinstance(x.get("items"), list) for x in (a, b))
        out = {}
        for k in dict.fromkeys([*a, *b]):  # a's keys, then b's: the same order every run
            if _is_annotation(k) or (tuple_items and k in ("items", "additionalItems")):
                continue
            if k in sarr.CONTAINS_KEYS:
                continue  # below: each contains keeps its own counts
            if k not in a or k not in b:
                out[k] = a[k] if k in a else b[k]
                continue
            va, vb = a[k], b[k]
            if va == vb and k not in ("properties", "additionalProperties"):
                out[k] = va
                continue
            if k == "type":
                ta = {va} if isinstance(va, str) else set(va)
                tb = {vb} if isinstance(vb, str) else set(vb)
                t = set()
                for x in ta:
                    for y in tb:
                        if x == y:
                            t.add(x)
                        elif {x, y} == {"integer", "number"}:
                            t.add("integer")
                if not t:
                    return False  # no type satisfies both sides
                out[k] = sorted(t)
            elif k == "required":
                out[k] = list(dict.fromkeys(list(va) + list(vb)))
            elif k in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
                if isinstance(va, bool) or isinstance(vb, bool):
                    self.unsupported(k, ptr, "boolean form cannot be merged")
                out[k] = max(va, vb)
            elif k in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
                if isinstance(va, bool) or isinstance(vb, bool):
                    self.unsupported(k, ptr, "boolean form cannot be merged")
                out[k] = min(va, vb)
            elif k in ("enum", "const"):
                la = va if k == "enum" else [va]
                lb = vb if k == "enum" else [vb]
                sb = {_dumps(x) for x in lb}
                out["enum"] = [x for x in la if _dumps(x) in sb]
                out.pop("const", None)
            elif k == "pattern":
                out["pattern"] = va
                out.setdefault("_patterns", []).append(vb)
            elif k in ("items", "additionalItems", "not", "contains", "propertyNames"):
                if k == "not":
                    out[k] = {"anyOf": [va, vb]}
                elif isinstance(va, list) or isinstance(vb, list):
                    self.unsupported(k, ptr, "array form cannot be merged")
                    out[k] = va
                else:
                    out[k] = {"allOf": [va, vb]}
            elif k == "prefixItems":
                continue  # below
            elif k in ("properties", "additionalProperties", "patternProperties", SIDES):
                continue  # below
            elif k in ("anyOf", "oneOf"):
                if k == "oneOf" or len(va) * len(vb) > 64:
                    scalar = self._merge_as_scalars(a, b, ptr)
                    if scalar is not None:
                        return scalar
                if len(va) * len(vb) > 64:
                    self.unsupported(k, ptr, "two anyOf/oneOf lists are too large to combine")
                out[k] = [self.merge(x, y, ptr) for x in va for y in vb]
                if k == "oneOf":
                    self.unsupported("oneOf", ptr, "two oneOf lists cannot be combined exactly")
            elif k == "format":
                self.unsupported(k, ptr, f"two different formats {va!r} and {vb!r}")
                out[k] = va
            elif k == "uniqueItems":
                out[k] = bool(va) or bool(vb)
            elif k == "multipleOf":
                out[k] = _common_multiple(va, vb)
                if out[k] is None:
                    self.unsupported(k, ptr, f"{va!r} and {vb!r} have no integer common multiple")
                    out[k] = va
            elif k in ("dependentRequired", "dependencies") and _key_lists(va) and _key_lists(vb):
                out[k] = {t: list(dict.fromkeys(va.get(t, []) + vb.get(t, []))) for t in va | vb}
            elif k in sdeps.KEYWORDS and isinstance(va, dict) and isinstance(vb, dict):
                out[k] = sdeps.merge_maps(va, vb)
            elif k == "nullable":
                out[k] = bool(va) and bool(vb)
            elif k in ("_patterns", "_exclude", snk.SOME):
                out[k] = list(va) + list(vb)
            elif k == "_order":
                out[k] = va  # the outer schema's order: it lists every key of the inner one
            elif k == "_within":
                out[k] = (*va, *vb)
            else:
                self.unsupported(k, ptr, "cannot be merged (allOf)")
                out[k] = va
        if "_patterns" in a or "_patterns" in b or "pattern" in out:
            pats = list(a.get("_patterns", [])) + list(b.get("_patterns", []))
            for s in (a, b):
                if "pattern" in s:
                    pats.append(s["pattern"])
            out.pop("pattern", None)
            if pats:
                out["_patterns"] = list(dict.fromkeys(pats))
        if tuple_items:
            if any(isinstance(x.get("items"), list) for x in (a, b)):
                self.unsupported("items", ptr, "array-form items cannot be merged (allOf)")
            pa, pb = a.get("prefixItems", []), b.get("prefixItems", [])
            ra, rb = a.get("items", True), b.get("items", True)
            out["prefixItems"] = [
                {"allOf": [pa[i] if i < len(pa) else ra, pb[i] if i < len(pb) else rb]}
                for i in range(max(len(pa), len(pb)))
            ]
            out["items"] = {"allOf": [ra, rb]}
        out.update(sarr.merge_contains(a, b))
        if "nullable" in out and ("nullable" not in a or "nullable" not in b):
            out["nullable"] = False
        # properties: keys of one side are "additional" for the other
        if any(
            k in s
            for s in (a, b)
            for k in ("properties", "additionalProperties", "patternProperties", SIDES)
        ):
            pa, pb = a.get("properties", {}), b.get("properties", {})
            aa, ab = a.get("additionalProperties", True), b.get("additionalProperties", True)
            props = {}
            for name in list(pa) + [n for n in pb if n not in pa]:
                props[name] = self.merge(
                    self._member_schema(a, name, ptr), self._member_schema(b, name, ptr), ptr
                )
            out["properties"] = props
            out.pop("patternProperties", None)
            out.pop(SIDES, None)
            patterns = None
            if SIDES not in a and SIDES not in b:
                patterns = self._merge_pattern_properties(a, b, ptr)
            if patterns is None:
                # keep each side's patterns and additionalProperties for unnamed keys (the
                # named ones above already hold what both sides ask of them)
                out.pop("additionalProperties", None)
                out[SIDES] = sides_of(a) + sides_of(b)
            else:
                out["additionalProperties"] = self.merge(aa, ab, ptr)
                if patterns:
                    out["patternProperties"] = patterns
        return out

    def _merge_as_scalars(self, a: dict, b: dict, ptr: str) -> Any:
        """``a and b`` where one holds only scalars and their anyOf/oneOf lists cannot be
        multiplied out: each side's lists become the language of its values (a DFA over
        canonical serializations, kept in ``_within``), which are intersected when the merged
        schema is compiled. Intersection only loses a value that the two sides would spell
        differently, so it never accepts one outside either side. None when a side is not
        purely scalar or does not compile to a DFA."""
        if self.not_depth >= MAX_NOT_DEPTH:
            return None
        if not any(set(self._types(s)) <= set(SCALAR_TYPES) for s in (a, b)):
            return None  # (one scalar side is enough: the other only meets it in scalars)
        sides = []
        for s in (a, b):
            if not any(k in s for k in ("anyOf", "oneOf")):
                sides.append(s)
                continue
            try:
                d = self._scalar_language(s, ptr, self.lenient, self.complete)
            except (SchemaError, GrammarConflict):
                return None
            if d is None:
                return None
            rest = {k: v for k, v in s.items() if k not in ("anyOf", "oneOf")}
            rest["_within"] = (*s.get("_within", ()), ScalarLanguage(d))
            self.keep_alive.append(rest)
            sides.append(rest)
        return self.merge(sides[0], sides[1], ptr)

    def _member_schema(self, s: dict, name: str, ptr: str) -> Any:
        """What schema ``s`` asks of a member named ``name``: its property schema and every
        matching patternProperties schema, or additionalProperties when neither applies
        (per side, see :mod:`radtrio.fsm.json_keys`; a merged schema's properties already
        hold its sides' patterns)."""
        props = s.get("properties", {})
        if name in props and SIDES in s:
            return props[name]
        parts = [props[name]] if name in props else []
        for pats, extra in sides_of(s):
            hits = _pattern_schemas_of(self._key_patterns(pats, ptr), name)
            parts += hits if hits or name in props else [extra]
        return all_of(parts)

    def _merge_pattern_properties(self, a: dict, b: dict, ptr: str) -> dict | None:
        """patternProperties of allOf(a, b) for keys neither names. A key matching only a's
        patterns must also satisfy b's additionalProperties: folded into a's pattern schemas
        when b has no patterns and names no key they match; None when that cannot be folded
        (the merge then keeps both sides)."""
        pa, pb = a.get("patternProperties") or {}, b.get("patternProperties") or {}
        out: dict[str, Any] = {}
        for mine, theirs, other in ((pa, pb, b), (pb, pa, a)):
            if not mine:
                continue
            extra = other.get("additionalProperties", True)
            free = extra is True or extra == {}
            if theirs and not free:
                return None
            if not free and not theirs:
                # the fold would also reach the other side's named keys that match these
                # patterns, which answer to their own property schema, not additionalProperties
                key_patterns = self._key_patterns(mine, ptr)
                if any(_pattern_schemas_of(key_patterns, n) for n in other.get("properties", {})):
                    return None
            for pattern, sub in mine.items():
                parts = [sub] if free or theirs else [sub, extra]
                if pattern in out:
                    parts = [out[pattern], *parts]
                out[pattern] = parts[0] if len(parts) == 1 else {"allOf": parts}
        return out

    @property
    def cyclic(self) -> set[str]:
        """$ref targets that reach themselves through $refs (computed on first use)."""
        if self._cyclic is None:
            self._cyclic = cyclic_targets(self.root, self.resolve)
        return self._cyclic

    def _merge_ref(self, a: Any, b: Any, ptr: str) -> dict:
        """allOf(a, b) where a or b is a ``$ref`` to a recursive target, as a reference to a
        new named schema: the merge of both sides with the target's body unrolled once. Its
        inner references to the target stay references (calls of the target's own rule),
        and the same merge met again inside it is a call of its own rule."""
        sides = [
            {k: v for k, v in x.items() if not _is_annotation(k)} if isinstance(x, dict) else x
            for x in (a, b)
        ]
        # (internal values such as a negation's scalar language are keyed by identity)
        key = json.dumps(sides, default=lambda o: f"<{type(o).__name__} {id(o)}>")
        name = self.merged_ref_names.get(key)
        if name is None:
            if len(self.merged_refs) >= MAX_MERGED_REFS:
                raise SchemaError(
                    "allOf", ptr, f"merges recursive $refs into more than {MAX_MERGED_REFS} schemas"
                )
            name = f"{ptr}/allOf({len(self.merged_refs)})"
            self.merged_ref_names[key] = name
            self.merged_refs[name] = [sides[0], sides[1], ptr, None]
        return {"$ref": name}

    def _expand_merged_ref(self, name: str) -> Any:
        entry = self.merged_refs[name]
        if entry[3] is None:
            left, right, ptr = entry[:3]
            sides = []
            for s in (left, right):
                if isinstance(s, dict) and "$ref" in s:
                    target, tptr = self.resolve(s["$ref"], ptr)
                    rest = {k: v for k, v in s.items() if k != "$ref"}
                    s = self.merge(rest, target, tptr) if rest else target
                sides.append(s)
            entry[3] = self.merge(sides[0], sides[1], ptr)
        return entry[3]


def _common_multiple(a: Any, b: Any) -> Any:
    """The least common multiple of two positive multipleOf values where it is an integer
    (2.5 and 7: 35; a number is a multiple of both exactly when it is one of their least
    common multiple, for rationals too), else None (non-integers only when equal)."""
    if a == b:
        return a
    try:
        fa, fb = Fraction(Decimal(str(a))), Fraction(Decimal(str(b)))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if fa <= 0 or fb <= 0:
        return None
    lcm = Fraction(math.lcm(fa.numerator, fb.numerator), math.gcd(fa.denominator, fb.denominator))
    return int(lcm) if lcm.denominator == 1 else None
