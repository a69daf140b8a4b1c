"""``not`` and ``oneOf`` for the JSON Schema compiler, as the :class:`NegationRules` methods of
:class:`radtrio.fsm.json_schema.SchemaCompiler`: :meth:`~NegationRules.apply_not` picks the
rule for ``rest and not neg`` (the structural rules are in :mod:`radtrio.fsm.schema_not`),
scalar differences are taken over canonical serializations, and the type, literal and
disjointness checks let oneOf branches compile as anyOf branches where they cannot overlap.
"""

from __future__ import annotations

from typing import Any

from radtrio.fsm.automaton import AutomatonTooLarge, compile_ast, is_empty, product
from radtrio.fsm.grammar import GrammarConflict
from radtrio.fsm.regex_parser import N_alt, N_cat, N_lit
from radtrio.fsm.schema_common import (
    ALL_TYPES,
    SCALAR_TYPES,
    ScalarLanguage,
    SchemaError,
    _is_annotation,
    _json_type,
    _value_key,
)
from radtrio.fsm.schema_not import exclude_values, one_of_branches, structural_not
from radtrio.fsm.schema_scalars import _canonical_scalars_dfa, _number_syntax_dfa
from radtrio.fsm.schema_walk import _has_call

MAX_NOT_DEPTH = 6  # nested scalar differences (each level compiles its sides on its own)


class NegationRules:
    # -- not ------------------------------------------------------------------------------------
    def apply_not(self, rest: dict, neg: Any, ptr: str) -> Any:
        ref = neg.get("$ref") if isinstance(neg, dict) else None
        recursive = isinstance(ref, str) and self.resolve(ref, ptr)[1] in self.cyclic
        neg = self._deref(neg, ptr)
        if neg is True or neg == {}:
            return False
        if neg is False:
            return rest
        if not isinstance(neg, dict):
            raise SchemaError("not", ptr, "must be a schema")
        neg = {k: v for k, v in neg.items() if not _is_annotation(k)}
        if set(neg) == {"not"}:  # not(not X) is X
            return self.merge(rest, neg["not"], ptr)
        if set(neg) == {"anyOf"}:
            out: Any = rest
            for i, s in enumerate(neg["anyOf"]):
                if out is False:
                    return False
                out = self.apply_not(out, s, f"{ptr}/anyOf/{i}")
            return out
        if set(neg) == {"type"}:
            t = neg["type"]
            excluded = {t} if isinstance(t, str) else set(t)
            types = self._types(rest)
            keep = [
                x
                for x in types
                if x not in excluded and not (x == "integer" and "number" in excluded)
            ]
            out = dict(rest)
            if "integer" in excluded and "number" in keep:
                out["_nonint"] = True
            if not keep:
                return False
            out["type"] = keep
            out.pop("nullable", None)  # a null in ``keep`` is listed there
            return out
        if set(neg) <= {"enum", "const"} and neg:
            vals = list(neg.get("enum", [])) + ([neg["const"]] if "const" in neg else [])
            return exclude_values(self, rest, vals)
        if (
            set(neg) == {"required"}
            and isinstance(neg["required"], list)
            and len(neg["required"]) == 1
        ):
            name = neg["required"][0]
            # "required" holds for every non-object, so its negation is an object without it
            if "object" not in self._types(rest):
                return False
            out = dict(rest)
            out["type"] = "object"
            out.pop("nullable", None)
            props = dict(out.get("properties", {}))
            props[name] = False
            out["properties"] = props
            return out
        if set(neg) == {"required"} and neg["required"] == []:
            return False
        try:  # (a recursive target would be negated again at every level)
            out = None if recursive else structural_not(self, rest, neg, ptr)
        except SchemaError:
            scalars = self._not_scalars(rest, neg, ptr)  # a difference of scalar languages
            if scalars is not None:
                return scalars
            if not self.lenient:
                raise
            return rest  # lenient: the negation is ignored, as below
        if out is not None:
            return out
        scalars = self._not_scalars(rest, neg, ptr)
        if scalars is not None:
            return scalars
        self.unsupported("not", ptr, f"with keywords {sorted(neg)} is not supported")
        return rest

    def _not_scalars(self, rest: dict, neg: dict, ptr: str) -> Any:
        """``rest and not neg`` when ``rest`` only holds scalars: both sides compiled without
        objects, arrays and counters, the difference taken over the canonical serializations
        (:func:`_canonical_scalars_dfa`, one per value, which both sides hold for every value
        they hold), then integers also as ``x.0``. The negated side must be compiled to all
        of its values (``complete``: no format regexes). None where a side is not a DFA."""
        types = self._types(rest)
        if self.scalars_only:  # this compiler makes scalars only, whatever the schema allows
            types = [t for t in types if t in SCALAR_TYPES]
        if not types or not set(types) <= set(SCALAR_TYPES) or self.not_depth >= MAX_NOT_DEPTH:
            return None
        try:
            pos = self._scalar_language(rest, ptr, self.lenient, False)
            minus = self._scalar_language(neg, ptr, False, True)
        except (SchemaError, GrammarConflict):
            return None
        if pos is None or minus is None:
            return None
        d = product(product(pos, _canonical_scalars_dfa(), "and"), minus, "diff")
        if is_empty(d):
            return False
        ints = product(d, _number_syntax_dfa(r"0|-?[1-9]\d*"), "and")
        if not is_empty(ints):
            d = compile_ast(N_alt(("dfa", d), N_cat(("dfa", ints), N_lit(".0"))))
        out = {k: v for k, v in rest.items() if k != "_within"}
        out["type"] = sorted(types)
        lang = ScalarLanguage(d)
        out["_within"] = (lang,)
        lang.owner = out
        return out

    def _scalar_language(self, schema: Any, ptr: str, lenient: bool, complete: bool):
        """The DFA of a schema's scalar values (None where it needs calls)."""
        sub = self.sub_compiler(lenient)
        sub.scalars_only = True
        sub.complete = complete or self.complete
        sub.not_depth = self.not_depth + 1
        ast = sub.value(schema, ptr)
        return None if _has_call(ast) else compile_ast(ast)

    def _within(self, schema: dict, ptr: str):
        """A schema with ``_within`` languages (from :meth:`_not_scalars`): its scalar values
        that are in every one of them."""
        langs = schema["_within"]
        if len(langs) == 1 and langs[0].owner is schema:
            return ("dfa", langs[0].dfa)  # nothing was added since the difference was taken
        base = {k: v for k, v in schema.items() if k != "_within"}
        d = self._scalar_language(base, ptr, self.lenient, self.complete)
        if d is None:
            self.unsupported("not", ptr, "a scalar difference beside a recursive schema")
            return self.value(base, ptr)
        for lang in langs:
            d = product(d, lang.dfa, "and")
        return ("dfa", d)

    # -- oneOf ----------------------------------------------------------------------------------
    def _types(self, s: Any) -> list[str]:
        if s is True:
            return list(ALL_TYPES) + ["integer"]
        if s is False:
            return []
        s = self._deref(s, "#", look=True)
        if not isinstance(s, dict):
            return []
        if "enum" in s or "const" in s:
            vals = s.get("enum", []) if "enum" in s else [s["const"]]
            found = {_json_type(v) for v in vals}
            if "type" in s:  # a value must also have a declared type
                t = s["type"]
                declared = {t} if isinstance(t, str) else set(t)
                if "number" in declared:
                    declared.add("integer")
                found &= declared
            return sorted(found)
        t = s.get("type")
        if t is None:
            types = list(ALL_TYPES) + ["integer"]
        else:
            types = [t] if isinstance(t, str) else list(t)
        if s.get("nullable") is True and "null" not in types:
            types.append("null")
        for key in ("anyOf", "oneOf"):
            if key in s and isinstance(s[key], list):
                sub = set()
                for br in s[key]:
                    sub |= set(self._types(br))
                types = [
                    x
                    for x in types
                    if x in sub
                    or (x == "integer" and "number" in sub)
                    or (x == "number" and "integer" in sub)
                ]
        return types

    def _literals(self, s: Any) -> set[str] | None:
        s = self._deref(s, "#", look=True)
        if isinstance(s, dict):
            if "const" in s:
                return {_value_key(s["const"])}
            if "enum" in s and isinstance(s["enum"], list):
                return {_value_key(v) for v in s["enum"]}
        return None

    def _disjoint(self, a: Any, b: Any, depth: int = 0) -> bool:
        """Whether no instance matches both ``a`` and ``b`` (False: not shown)."""
        if depth > 8:
            return False
        ta, tb = set(self._types(a)), set(self._types(b))
        for t in (ta, tb):
            if "number" in t:
                t.add("integer")
        if not ta & tb:
            return True
        la, lb = self._literals(a), self._literals(b)
        if la is not None and lb is not None and not la & lb:
            return True
        a, b = self._flat(a), self._flat(b)
        if isinstance(a, dict) and isinstance(b, dict) and ta & tb <= {"object"}:
            try:
                for x, y in ((a, b), (b, a)):
                    # x requires a key whose value y (named, pattern or additional) rejects
                    for name in dict.fromkeys(x.get("required") or []):
                        mx = self._member_schema(x, name, "#")
                        if self._disjoint(mx, self._member_schema(y, name, "#"), depth + 1):
                            return True
                    # x has more members than y allows
                    most = y.get("maxProperties")
                    least = max(len(set(x.get("required") or [])), x.get("minProperties") or 0)
                    if isinstance(most, int) and isinstance(least, int) and least > most:
                        return True
            except SchemaError:
                return False
        for x, y in ((a, b), (b, a)):
            # every branch of x's anyOf/oneOf is disjoint from y
            for key in ("anyOf", "oneOf"):
                subs = x.get(key) if isinstance(x, dict) else None
                if isinstance(subs, list) and subs and len(subs) <= 16:
                    if all(self._disjoint(s, y, depth + 1) for s in subs):
                        return True
        if ta & tb <= {"string"} and la is None and lb is None:
            try:
                da = self._string_dfa(a)
                db = self._string_dfa(b)
            except (SchemaError, AutomatonTooLarge):
                return False
            if da is not None and db is not None and is_empty(product(da, db, "and")):
                return True
        return False

    def _flat(self, s: Any) -> Any:
        """``s`` dereferenced, its allOf merged in where that is exact (for _disjoint)."""
        s = self._deref(s, "#", look=True)
        if isinstance(s, dict) and isinstance(s.get("allOf"), list):
            try:
                out: Any = {k: v for k, v in s.items() if k != "allOf"}
                for part in s["allOf"]:
                    out = self.merge(out, part, "#")
                return self._deref(out, "#", look=True)
            except SchemaError:
                return s
        return s

    def _exactly_one(
        self, branches: list[tuple[Any, str]], raw: list, ptr: str
    ) -> list[tuple[Any, str]]:
        """oneOf branches (merged with their siblings; ``raw``: as written) as disjoint anyOf
        branches: as they are when provably disjoint, else each one with the others it may
        overlap negated (``A and not B and not C ...``) where ``not`` can be written exactly;
        otherwise refused (keyword oneOf)."""
        n = len(branches)
        overlaps = [
            (i, j) for i in range(n) for j in range(i + 1, n)
            if not self._disjoint(branches[i][0], branches[j][0])
        ]  # fmt: skip
        if not overlaps:
            return branches
        i0, j0 = overlaps[0]
        why = f"branches {i0} and {j0} may both match"
        try:
            return one_of_branches(self, branches, raw, overlaps, ptr)
        except SchemaError as e:
            self.unsupported("oneOf", ptr, f"{why} and one cannot be negated exactly: {e}")
        except AutomatonTooLarge:
            raise
        return branches
