"""Object subschemas for the JSON Schema compiler, as the :class:`ObjectRules` methods of
:class:`radtrio.fsm.json_schema.SchemaCompiler`: named members, the members whose keys match
patternProperties or fall to additionalProperties (split into key regions, see
:mod:`radtrio.fsm.json_keys`), propertyNames, min/maxProperties, dependentRequired and
dependentSchemas.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from radtrio.fsm import schema_dependencies as sdeps
from radtrio.fsm import schema_not_keys as snk
from radtrio.fsm.automaton import DFA, compile_ast, product
from radtrio.fsm.json_keys import (
    MAX_KEY_REGIONS,
    MEMBER_RULE_WEIGHT,
    SIDES,
    all_of,
    ast_weight,
    exactly_one,
    key_regions,
)
from radtrio.fsm.literal_sets import without_literals
from radtrio.fsm.regex_parser import N_alt, N_cat, N_lit, RegexError, parse_pattern_search
from radtrio.fsm.schema_common import NOTHING, SchemaError, _dumps
from radtrio.fsm.schema_order import object_order
from radtrio.fsm.schema_scalars import any_string_dfa, json_escape_ast
from radtrio.fsm.schema_walk import _has_call

if TYPE_CHECKING:
    from radtrio.fsm.json_schema import SchemaCompiler


MAX_KEY_PATTERNS = 64  # patternProperties entries (each one refines the key regions)
MAX_MIN_PROPERTIES = 8  # minProperties: the members NFA keeps one copy per count below it
MAX_MAX_PROPERTIES = 8  # maxProperties: one copy per count up to it (unless every key fits)
MAX_DEPENDENT_TRIGGERS = 4  # dependentRequired keys: one members NFA per presence choice


@functools.lru_cache(maxsize=1024)
def _key_pattern_dfa(pattern: str) -> DFA:
    """The quoted object keys a patternProperties pattern matches (built once per process:
    an allOf merge asks it again for every named key)."""
    body = json_escape_ast(parse_pattern_search(pattern))
    return compile_ast(N_cat(N_lit('"'), body, N_lit('"')))


class ObjectRules:
    def _dependent_schemas(self, schema: dict, ptr: str) -> Any:
        """Schema-valued dependencies as an anyOf of disjoint variants (see
        :mod:`radtrio.fsm.schema_dependencies`)."""
        rest, triggers, keyword = sdeps.split(schema)
        order = object_order(self.root, schema) if "_order" not in rest else None
        if order:  # keys in the original schema's order, not each variant's own
            rest = {"_order": order, **rest}
        for trigger, subs in triggers.items():
            if not isinstance(trigger, str) or not all(isinstance(x, (bool, dict)) for x in subs):
                raise SchemaError(keyword, ptr, f"{trigger!r} must map to a schema or a key list")
        out = sdeps.variants(rest, triggers, self._types(rest) == ["object"], self.merge, ptr)
        if out is None:
            self.unsupported(
                keyword, ptr, f"more than {sdeps.MAX_DEPENDENCY_VARIANTS} presence variants"
            )
            return rest
        result: Any = False if not out else out[0] if len(out) == 1 else {"anyOf": out}
        self.keep_alive.append(result)
        return result

    def _key_patterns(self, pattern_props: dict, ptr: str) -> list[tuple[Any, Any]]:
        """(DFA of the quoted keys a pattern matches, its schema) per patternProperties entry."""
        if len(pattern_props) > MAX_KEY_PATTERNS:
            self.unsupported("patternProperties", ptr, f"more than {MAX_KEY_PATTERNS} patterns")
            return []
        out = []
        for p, sub in pattern_props.items():
            try:
                out.append((_key_pattern_dfa(p), sub))
            except RegexError as e:
                self.unsupported("patternProperties", ptr, f"{p!r}: {e}")
        return out

    def _extra_members(
        self,
        names: list,
        sides: list[tuple[list, Any]],
        ptr: str,
        key_filter: DFA | None = None,
        inline: bool = False,
    ):
        """AST of one member whose key is not a named property (and is in ``key_filter``, the
        propertyNames keys): keys split into the regions that match the same patterns; in one,
        each side asks for its matching patterns' schemas, or its additionalProperties when
        none of its patterns match (see :mod:`radtrio.fsm.json_keys`)."""
        if all(not kps and extra is False for kps, extra in sides):
            return None
        key_any = any_string_dfa()
        if key_filter is not None:
            key_any = product(key_any, key_filter, "and")
        if names:  # straight from a trie of the names: no NFA, subset construction or product
            key_any = without_literals(key_any, [_dumps(n).encode("utf-8") for n in names])
        index: dict[int, int] = {}  # each pattern once, however many sides have it
        dfas: list[DFA] = []
        for kps, _ in sides:
            for dfa, _ in kps:
                if id(dfa) not in index:
                    index[id(dfa)] = len(dfas)
                    dfas.append(dfa)
        if not dfas and key_filter is None:  # any string but finitely many: never empty
            regions: list | None = [(key_any, frozenset())]
        else:
            regions = key_regions(key_any, dfas, MAX_KEY_REGIONS)
        if regions is None:
            self.unsupported(
                "patternProperties", ptr, f"splits keys into more than {MAX_KEY_REGIONS} regions"
            )
            return None
        alts = []
        for region, inside in regions:
            parts: list[Any] = []
            for kps, extra in sides:
                hits = [sub for dfa, sub in kps if index[id(dfa)] in inside]
                parts += hits or [extra]
            sub = all_of(parts)
            if sub is False:
                continue
            self.keep_alive.append(sub)
            sp = f"{ptr}/patternProperties" if inside else f"{ptr}/additionalProperties"
            v = self._member_value(sub, sp, inline)
            if v != NOTHING:
                alts.append(N_cat(("dfa", region), self.ws, N_lit(":"), self.ws, v))
        if not alts:
            return None
        return alts[0] if len(alts) == 1 else N_alt(*alts)

    def _member_value(self, sub: Any, ptr: str, inline: bool = False):
        """AST of a pattern or additionalProperties member value: a rule of its own (a call)
        when it is large, so that a schema reached both by name and by pattern, level after
        level, is not copied into its parent DFA twice per level."""
        v = self.value(sub, ptr)
        if (
            inline
            or not self.use_counters
            or ast_weight(v, MEMBER_RULE_WEIGHT) < MEMBER_RULE_WEIGHT
        ):
            return v
        rid = self.member_rules.get(id(v))
        if rid is None:
            rid = self.member_rules[id(v)] = self.b.add_dfa(v)
            self.keep_alive.append(v)
        return ("call", rid)

    def _object(self, schema: dict, ptr: str):
        props = schema.get("properties", {}) or {}
        if not isinstance(props, dict):
            raise SchemaError("properties", ptr, "must be an object")
        required = schema.get("required", []) or []
        additional = schema.get("additionalProperties", True)
        if "unevaluatedProperties" in schema:
            up = schema["unevaluatedProperties"]
            if up is False and additional is not True:
                pass  # additionalProperties already decides every other key
            elif up is False:
                additional = False
            elif up is not True:
                self.unsupported("unevaluatedProperties", ptr)
        pattern_props = schema.get("patternProperties") or {}
        if not isinstance(pattern_props, dict):
            raise SchemaError("patternProperties", ptr, "must be an object")
        key_patterns = self._key_patterns(pattern_props, ptr)
        sides = [(key_patterns, additional)]
        if SIDES in schema:  # an allOf merge that kept each side's patterns
            sides = [(self._key_patterns(pats, ptr), extra) for pats, extra in schema[SIDES]]
            key_patterns = [kp for kps, _ in sides for kp in kps]
        key_filter = self._property_names(schema, ptr)
        names = list(props)
        for r in required:
            if r not in props:
                names.append(r)
        if "_order" in schema:  # an anyOf/oneOf branch: keys in the order of all branches
            pos = {k: i for i, k in enumerate(schema["_order"])}
            names.sort(key=lambda n: pos.get(n, len(pos)))
        dependent = self._dependent_required(schema, names, ptr)
        req = set(required)
        min_p = schema.get("minProperties") or 0
        max_p = schema.get("maxProperties")
        if isinstance(min_p, float) and min_p.is_integer():
            min_p = int(min_p)
        if isinstance(min_p, bool) or not isinstance(min_p, int) or min_p < 0:
            raise SchemaError(
                "minProperties", ptr, f"must be a non-negative integer, got {min_p!r}"
            )
        if min_p > MAX_MIN_PROPERTIES:
            self.unsupported("minProperties", ptr, f"{min_p} is above {MAX_MIN_PROPERTIES}")
            min_p = 0
        if isinstance(max_p, float) and max_p.is_integer():
            max_p = int(max_p)
        if max_p is not None and (
            isinstance(max_p, bool) or not isinstance(max_p, int) or max_p < 0
        ):
            raise SchemaError(
                "maxProperties", ptr, f"must be a non-negative integer, got {max_p!r}"
            )
        ws = self.ws
        # unnamed members; ``some``: those a negation asks for (schema_not_keys)
        extra, some = snk.object_members(self, names, sides, schema, ptr, key_filter)
        if some is NOTHING:
            return NOTHING
        more = extra is not None or some is not None  # members besides the named ones
        entries = []
        for name in names:
            pp = f"{ptr}/properties/{name}" if name in props else f"{ptr}/additionalProperties"
            if key_filter is not None and not key_filter.matches(_dumps(name).encode("utf-8")):
                v = NOTHING  # propertyNames forbids this key
            else:
                v = self.value(self._named_member(name, props, sides, SIDES in schema), pp)
                if id(v) in self.member_rules:  # a pattern member's value too: share its rule
                    v = ("call", self.member_rules[id(v)])
            if v == NOTHING and name not in req:
                continue
            kv = N_cat(N_lit(_dumps(name)), ws, N_lit(":"), ws, v)
            entries.append((name, kv, name in req))
        if not more and min_p > len(entries):
            return NOTHING  # fewer possible members than minProperties asks for
        if more and min_p > len(entries) + 1:
            # a grammar cannot keep extra keys apart ({"x":1,"x":2} is one property), so the
            # extras count once toward the minimum: more than one would be needed here
            self.unsupported(
                "minProperties",
                ptr,
                f"{min_p} needs {min_p - len(entries)} keys besides the named properties "
                "(radtrio cannot keep additional keys distinct from each other)",
            )
        if max_p is not None and not more and len(entries) <= max_p:
            max_p = None  # every possible member fits
        if max_p is not None and max_p > MAX_MAX_PROPERTIES:
            self.unsupported("maxProperties", ptr, f"{max_p} is above {MAX_MAX_PROPERTIES}")
            max_p = None
        sep = N_cat(ws, N_lit(","), ws)
        bodies = [
            ("props", [(kv, r) for _, kv, r in variant], sep, extra, min_p, max_p, some)
            for variant in _dependency_variants(entries, dependent)
        ]
        if not bodies:
            return NOTHING
        body = bodies[0] if len(bodies) == 1 else N_alt(*bodies)
        return N_cat(N_lit("{"), ws, body, ws, N_lit("}"))

    def _named_member(self, name: str, props: dict, sides: list, merged: bool) -> Any:
        """The schema of a member named ``name``: its property schema (which already holds
        what every side asks when the schema is an allOf merge that kept its sides) and the
        schemas of matching patterns; a name only ``required`` lists takes, per side, its
        matching patterns' schemas or that side's additionalProperties."""
        if name in props and merged:
            return props[name]
        parts = [props[name]] if name in props else []
        for kps, extra in sides:
            hits = _pattern_schemas_of(kps, name)
            parts += hits if hits or name in props else [extra]
        if len(parts) == 1:
            return parts[0]
        sub = {"allOf": parts}
        self.keep_alive.append(sub)
        return sub

    def _property_names(self, schema: dict, ptr: str) -> DFA | None:
        """The quoted keys that ``propertyNames`` allows (None: every key): the string part of
        its schema, compiled on its own without counters."""
        pn = schema.get("propertyNames", True)
        if pn is True or pn == {}:
            return None
        if not isinstance(pn, (dict, bool)):
            raise SchemaError("propertyNames", ptr, f"must be a schema, got {pn!r}")
        sub = self.sub_compiler()
        return self._key_strings(sub, pn, f"{ptr}/propertyNames")

    def _key_strings(self, sub: SchemaCompiler, schema: Any, ptr: str) -> DFA:
        """DFA of the JSON strings (quoted) that ``schema`` accepts, compiled by ``sub``. A
        oneOf is taken as each branch minus the others: string serializations are canonical,
        so the difference of two string languages is exact."""
        s = sub.merge({"type": "string"}, schema, ptr)
        if s is False:
            return compile_ast(NOTHING)
        one_of = s.get("oneOf") if isinstance(s, dict) else None
        if isinstance(one_of, list) and one_of and "anyOf" not in s:
            rest = {k: v for k, v in s.items() if k != "oneOf"}
            branches = [self._key_strings(sub, b, f"{ptr}/oneOf/{i}") for i, b in enumerate(one_of)]
            return product(self._key_strings(sub, rest, ptr), exactly_one(branches), "and")
        ast = sub.value(s, ptr)
        if _has_call(ast):
            self.unsupported("propertyNames", ptr, "with a recursive schema")
            return any_string_dfa()
        return product(compile_ast(ast), any_string_dfa(), "and")

    def _dependent_required(self, schema: dict, names: list[str], ptr: str) -> dict:
        """dependentRequired (and draft-7 ``dependencies`` with key lists): trigger -> keys,
        for triggers that are declared properties (others refused by name)."""
        out: dict[str, list[str]] = {}
        for k in ("dependentRequired", "dependencies"):
            deps = schema.get(k)
            if not deps:
                continue
            if not _key_lists(deps):
                self.unsupported(k, ptr, "(only lists of required keys)")
                continue
            for trigger, keys in deps.items():
                if trigger not in names or any(key not in names for key in keys):
                    self.unsupported(k, ptr, f"{trigger!r}: only declared properties")
                    continue
                out.setdefault(trigger, [])
                out[trigger] += [key for key in keys if key != trigger]
        if schema.get("dependentSchemas"):
            self.unsupported("dependentSchemas", ptr)
        if len(out) > MAX_DEPENDENT_TRIGGERS:
            self.unsupported("dependentRequired", ptr, f"more than {MAX_DEPENDENT_TRIGGERS} keys")
            return {}
        return out


def _pattern_schemas_of(key_patterns: list[tuple[Any, Any]], name: str) -> list[Any]:
    """The schemas of the patternProperties entries whose pattern matches key ``name``."""
    if not key_patterns:
        return []
    quoted = _dumps(name).encode("utf-8")
    return [sub for dfa, sub in key_patterns if dfa.matches(quoted)]


def _key_lists(deps: Any) -> bool:
    """Whether a dependencies value maps keys to lists of key names (not to schemas)."""
    return isinstance(deps, dict) and all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in deps.values()
    )


def _dependency_variants(entries: list, dependent: dict) -> list[list]:
    """The member lists of an object with dependentRequired, one per choice of which trigger
    keys are present (disjoint languages): an absent trigger is dropped, a present one and
    its dependent keys become required. A choice that contradicts ``required`` is left out."""
    variants = [entries]
    for trigger, keys in dependent.items():
        nxt = []
        for variant in variants:
            present = {name for name, _, _ in variant}
            if trigger not in present:
                nxt.append(variant)
                continue
            absent = [e for e in variant if e[0] != trigger]
            if not any(r for name, _, r in variant if name == trigger):
                nxt.append(absent)
            if all(key in present for key in keys):
                need = {trigger, *keys}
                nxt.append([(n, kv, r or n in need) for n, kv, r in variant])
        variants = nxt
    return variants
