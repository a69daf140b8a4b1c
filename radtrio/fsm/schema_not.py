"""Structural negation for the JSON Schema compiler.

``structural_not(comp, rest, neg, ptr)`` returns a schema equivalent to ``rest AND NOT neg``
built from keywords the compiler models exactly, or None when it has no rule (the caller then
tries its other fallbacks or refuses). The rules:

* a schema of several keyword groups fails when one group fails:
  ``NOT (K1 and K2) = (NOT K1) or (NOT K2)``, an ``anyOf`` of per-group negations (anyOf
  branches may overlap). A group whose keywords only constrain one instance type (``required``
  only objects, ``minLength`` only strings, ...) is vacuously true for the other types, so its
  negation holds only for that type; it is further limited to the types ``neg`` admits (the
  others already fail ``neg`` by their type, in another branch).
* object keywords: ``NOT required [a, b]`` = an object missing a or missing b;
  ``NOT properties {a: S}`` = an object that has a with a value in ``NOT S`` (recursively);
  with ``additionalProperties``/``patternProperties`` as well, or a member with a key
  neither names (:mod:`radtrio.fsm.schema_not_keys`, also ``NOT propertyNames``);
  ``NOT minProperties n`` = ``maxProperties n-1``;
  ``NOT maxProperties n`` = ``minProperties n+1``; ``NOT dependentRequired`` = a trigger
  present and one of its keys absent.
* ``minItems/maxItems/minLength/maxLength/minimum/maximum/exclusive*``: the opposite bound.
* ``NOT allOf [A, B]`` = ``NOT A or NOT B``; ``NOT oneOf`` of provably disjoint branches =
  ``NOT anyOf``; ``NOT (if I then T else E)`` = ``(I and NOT T) or (NOT I and NOT E)``.
* ``rest`` that already implies ``neg`` (:func:`implies`, a sufficient syntactic test) gives
  False; ``rest = anyOf [..]`` distributes.
"""

from __future__ import annotations

from typing import Any

from radtrio.fsm import schema_not_keys as snk
from radtrio.fsm.schema_common import SchemaError, _dec, _is_annotation, _json_type, _value_key

# the "X as X" imports are re-exports: other modules import them from here
from radtrio.fsm.schema_cond import COND as COND
from radtrio.fsm.schema_cond import has_conditional as has_conditional
from radtrio.fsm.schema_cond import if_then_else as if_then_else
from radtrio.types import RequestError

MAX_NOT_BRANCHES = 64  # anyOf branches one negation may produce
MAX_IMPLIES_DEPTH = 12
MAX_NOT_DEPTH = 40  # nested negations (a recursive schema would go on forever)

# keyword -> group; keywords of one group are negated together
GROUP_OF = {
    "type": "type",
    "nullable": "type",
    "enum": "enum",
    "const": "const",
    "properties": "props",
    "patternProperties": "props",
    "additionalProperties": "props",
    "propertyNames": "propertyNames",
    "required": "required",
    "minProperties": "minProperties",
    "maxProperties": "maxProperties",
    "dependentRequired": "dependentRequired",
    "dependencies": "dependencies",
    "items": "items",
    "prefixItems": "items",
    "additionalItems": "items",
    "contains": "contains",
    "minContains": "contains",
    "maxContains": "contains",
    "minItems": "minItems",
    "maxItems": "maxItems",
    "minLength": "minLength",
    "maxLength": "maxLength",
    "pattern": "pattern",
    "format": "format",
    "minimum": "lower",
    "exclusiveMinimum": "lower",
    "maximum": "upper",
    "exclusiveMaximum": "upper",
    "multipleOf": "multipleOf",
    "not": "not",
    "anyOf": "anyOf",
    "allOf": "allOf",
    "oneOf": "oneOf",
    "if": "if",
    "then": "if",
    "else": "if",
}
# the instance types a group constrains (it holds vacuously for the others)
DOMAIN = {
    "props": {"object"},
    "required": {"object"},
    "propertyNames": {"object"},
    "minProperties": {"object"},
    "maxProperties": {"object"},
    "dependentRequired": {"object"},
    "dependencies": {"object"},
    "items": {"array"},
    "contains": {"array"},
    "minItems": {"array"},
    "maxItems": {"array"},
    "minLength": {"string"},
    "maxLength": {"string"},
    "pattern": {"string"},
    "format": {"string"},
    "lower": {"number", "integer"},
    "upper": {"number", "integer"},
    "multipleOf": {"number", "integer"},
}
TYPE_DOMAINS = (
    {"null"},
    {"boolean"},
    {"number", "integer"},
    {"string"},
    {"array"},
    {"object"},
)
SCALAR_GROUPS = {
    "type",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "lower",
    "upper",
    "multipleOf",
}
# keywords whose meaning depends on siblings: equal values only mean the same with equal context
CONTEXT = {
    "additionalProperties": ("properties", "patternProperties"),
    "items": ("prefixItems",),
    "additionalItems": ("items", "prefixItems"),
    "minimum": ("exclusiveMinimum",),
    "exclusiveMinimum": ("minimum",),
    "maximum": ("exclusiveMaximum",),
    "exclusiveMaximum": ("maximum",),
    "then": ("if",),
    "else": ("if",),
    "minContains": ("contains",),
    "maxContains": ("contains",),
    "contains": ("minContains", "maxContains"),
    "type": ("nullable",),
}


def _plain(s: Any) -> Any:
    if isinstance(s, dict):
        return {k: v for k, v in s.items() if not _is_annotation(k)}
    return s


def _restrict(comp: Any, rest: dict, domain: set[str]) -> Any:
    """``rest`` limited to instances whose type is in ``domain`` (False when none is left)."""
    keep: list[str] = []
    for t in comp._types(rest):
        if t in domain:
            x = t
        elif t == "integer" and "number" in domain:
            x = "integer"
        elif t == "number" and "integer" in domain:
            x = "integer"
        else:
            continue
        if x not in keep:
            keep.append(x)
    if not keep:
        return False
    out = dict(rest)
    out["type"] = keep if len(keep) > 1 else keep[0]
    out.pop("nullable", None)  # a null in ``keep`` is listed there
    return out


def _any(branches: list, ptr: str) -> Any:
    flat: list = []
    for b in branches:
        if b is False:
            continue
        if isinstance(b, dict) and set(_plain(b)) == {"anyOf"} and isinstance(b["anyOf"], list):
            flat.extend(x for x in b["anyOf"] if x is not False)
        else:
            flat.append(b)
    if not flat:
        return False
    if len(flat) > MAX_NOT_BRANCHES:
        raise SchemaError("not", ptr, f"needs more than {MAX_NOT_BRANCHES} cases")
    return flat[0] if len(flat) == 1 else {"anyOf": flat}


def _groups(neg: dict) -> dict[str, dict] | None:
    out: dict[str, dict] = {}
    for k, v in neg.items():
        g = GROUP_OF.get(k)
        if g is None:
            return None
        out.setdefault(g, {})[k] = v
    return out


def structural_not(comp: Any, rest: Any, neg: Any, ptr: str) -> Any:
    """A schema for ``rest AND NOT neg`` (``neg`` dereferenced, annotations dropped), or None
    where no exact rule applies."""
    # (its own counter: the compiler's not_depth counts nested scalar differences)
    depth = getattr(comp, "struct_not_depth", 0)
    if depth >= MAX_NOT_DEPTH:
        raise SchemaError("not", ptr, "nests too deeply (a recursive schema cannot be negated)")
    comp.struct_not_depth = depth + 1
    try:
        return _structural_not(comp, rest, neg, ptr)
    finally:
        comp.struct_not_depth = depth


def _structural_not(comp: Any, rest: Any, neg: Any, ptr: str) -> Any:
    if rest is False:
        return False
    if rest is True:
        rest = {}
    if implies(comp, rest, neg):
        return False
    plain = _plain(rest)
    if set(plain) == {"anyOf"} and isinstance(plain["anyOf"], list):
        return _any(
            [
                comp.apply_not(b if isinstance(b, dict) else {}, neg, ptr)
                for b in plain["anyOf"]
                if b is not False
            ],
            ptr,
        )
    groups = _groups(neg)
    if groups is None:
        return None
    if len(groups) == 1:
        name, g = next(iter(groups.items()))
        return _one_group(comp, rest, name, g, ptr)
    neg_types = set(comp._types(neg))
    branches = []
    try:
        for name, g in groups.items():
            sub = rest
            dom = DOMAIN.get(name)
            if dom is not None:
                sub = _restrict(comp, rest, dom & neg_types)
                if sub is False:
                    continue
            branches.append(comp.apply_not(sub, g, ptr))
    except SchemaError:
        if set(groups) <= SCALAR_GROUPS:
            return None  # the caller may still negate a scalar schema as a whole
        raise
    return _any(branches, ptr)


def _one_group(comp: Any, rest: dict, name: str, g: dict, ptr: str) -> Any:
    if name == "type":
        if "type" not in g:
            return False  # nullable alone constrains nothing
        t = g["type"]
        types = [t] if isinstance(t, str) else list(t)
        if g.get("nullable") is True and "null" not in types:
            types.append("null")
        return comp.apply_not(rest, {"type": types}, ptr)
    if name == "allOf":
        parts = g["allOf"]
        if not isinstance(parts, list):
            raise SchemaError("allOf", ptr, "must be an array")
        return _any([comp.apply_not(rest, p, f"{ptr}/allOf/{i}") for i, p in enumerate(parts)], ptr)
    if name == "oneOf":
        parts = g["oneOf"]
        if not isinstance(parts, list) or not parts:
            raise SchemaError("oneOf", ptr, "must be a non-empty array")
        return _not_one_of(comp, rest, parts, ptr)
    if name == "if":
        if "if" not in g:
            return False  # then/else without if constrain nothing
        cond = g["if"]
        yes = comp.merge(rest, cond, f"{ptr}/if")
        no = comp.apply_not(rest, cond, f"{ptr}/if")
        return _any(
            [
                comp.apply_not(_as_rest(yes), g.get("then", True), f"{ptr}/then")
                if yes is not False
                else False,
                comp.apply_not(_as_rest(no), g.get("else", True), f"{ptr}/else")
                if no is not False
                else False,
            ],
            ptr,
        )
    dom = DOMAIN.get(name)
    if dom is None:
        return None
    sub = _restrict(comp, rest, dom)
    if sub is False:
        return False
    if name == "required":
        return _not_required(comp, rest, sub, g["required"], ptr)
    if name == "props":
        return _not_props(comp, rest, sub, g, ptr)
    if name == "propertyNames":
        return snk.not_property_names(comp, rest, sub, g["propertyNames"], ptr)
    if name == "items":
        return _not_items(comp, sub, g, ptr)
    if name == "contains":
        return _not_contains(comp, sub, g, ptr)
    if name == "dependentRequired":
        return _not_dependencies(comp, rest, sub, g["dependentRequired"], ptr, schemas=False)
    if name == "dependencies":
        return _not_dependencies(comp, rest, sub, g["dependencies"], ptr, schemas=True)
    if name in ("minProperties", "minItems", "minLength"):
        n = _count(g[name], name, ptr)
        if n == 0:
            return False
        hi = name.replace("min", "max")
        if name == "minProperties" and n == 1:
            return _empty_object(sub)
        cur = sub.get(hi)
        sub[hi] = n - 1 if not _is_count(cur) else min(int(cur), n - 1)
        return sub
    if name in ("maxProperties", "maxItems", "maxLength"):
        n = _count(g[name], name, ptr)
        lo = name.replace("max", "min")
        cur = sub.get(lo)
        sub[lo] = n + 1 if not _is_count(cur) else max(int(cur), n + 1)
        return sub
    if name in ("lower", "upper"):
        return _not_bound(comp, sub, name, g, ptr)
    if name in SCALAR_GROUPS:
        # the group holds for every instance outside its types: only ``sub`` (rest limited to
        # them) can fail it, a difference of scalar languages (None where there is none)
        return comp._not_scalars(sub, g, ptr)
    return None


def _not_one_of(comp: Any, rest: dict, parts: list, ptr: str) -> Any:
    """NOT oneOf, one instance type at a time: where two branches hold for every instance of
    that type, all of them; where the branches are disjoint, NOT anyOf; else no rule."""
    branches = []
    for domain in TYPE_DOMAINS:
        sub = _restrict(comp, rest, domain)
        if sub is False:
            continue
        live = []
        for p in parts:
            p = comp._deref(p, ptr)
            q = _restrict(comp, {} if p is True else p, domain) if p is not False else False
            if q is not False:
                live.append(q)
        if sum(implies(comp, sub, q) for q in live) >= 2:
            branches.append(sub)  # every such instance matches two branches
            continue
        if any(
            not comp._disjoint(live[i], live[j])
            for i in range(len(live))
            for j in range(i + 1, len(live))
        ):
            return None
        if domain == {"object"} and len(live) > 1:
            split = _not_discriminated(comp, sub, live, ptr)
            if split is not None:
                branches.append(split)
                continue
        for i, q in enumerate(live):  # exactly one of disjoint branches = any of them
            if sub is False:
                break
            sub = comp.apply_not(sub, q, f"{ptr}/oneOf/{i}")
        branches.append(sub)
    return _any(branches, ptr)


def exclude_values(comp: Any, rest: dict, values: list) -> Any:
    """``rest`` without ``values``: only the instance types the values have are narrowed
    (a difference with a few literals), so a value of another type (an object or array, which
    may be recursive) is left alone. The values are listed once each: the compiler's
    ``_exclude`` removes every serialization of them (or refuses)."""
    touched: set[str] = set()
    for v in values:
        t = _json_type(v)
        touched |= {"number", "integer"} if t in ("number", "integer") else {t}
    mine = set(comp._types(rest))
    untouched = mine - touched
    narrowed = _restrict(comp, rest, touched) if untouched else dict(rest)
    if narrowed is not False:
        narrowed["_exclude"] = list(rest.get("_exclude", [])) + list(values)
    if not untouched:
        return narrowed
    return _any([_restrict(comp, rest, untouched), narrowed], "#")


def _not_discriminated(comp: Any, sub: dict, live: list, ptr: str) -> Any:
    """NOT (B1 or B2 ...) for objects when every Bi requires a key d whose values Di are
    pairwise disjoint: an object without d, or with a value of d in no Di, or with a value in
    Di (so it can only match Bi) and NOT Bi. None when no such key is found."""
    flat = [comp._flat(q) for q in live]
    if not all(isinstance(q, dict) for q in flat):
        return None
    common = [n for n in flat[0].get("required") or [] if isinstance(n, str)]
    for q in flat[1:]:
        common = [n for n in common if n in (q.get("required") or [])]
    for d in common:
        values = [comp._member_schema(q, d, ptr) for q in flat]
        if all(
            comp._disjoint(values[i], values[j])
            for i in range(len(values))
            for j in range(i + 1, len(values))
        ):
            break
    else:
        return None
    mine = comp._member_schema(sub, d, ptr)
    branches: list = []
    if d not in (sub.get("required") or []):
        branches.append(_with_member(sub, d, False, False))
    other: Any = _as_rest(mine)
    for i, v in enumerate(values):
        if other is False:
            break
        other = comp.apply_not(_as_rest(other), v, f"{ptr}/oneOf/{i}/properties/{d}")
    if other is not False:
        branches.append(_with_member(sub, d, other, True))
    for i, (q, v) in enumerate(zip(live, values, strict=True)):
        m = comp.merge(mine, v, f"{ptr}/oneOf/{i}/properties/{d}")
        if m is not False:
            branches.append(comp.apply_not(_with_member(sub, d, m, True), q, f"{ptr}/oneOf/{i}"))
    return _any(branches, ptr)


def _as_rest(s: Any) -> Any:
    return {} if s is True else s


def _is_count(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()
    )


def _count(v: Any, keyword: str, ptr: str) -> int:
    if not _is_count(v) or v < 0:
        raise SchemaError(keyword, ptr, f"must be a non-negative integer, got {v!r}")
    return int(v)


def _closed(s: dict) -> bool:
    """Whether an object of ``s`` may only have the keys ``s`` names."""
    return s.get("additionalProperties") is False and not s.get("patternProperties")


def _require(sub: dict, name: str) -> dict:
    out = dict(sub)
    req = list(out.get("required") or [])
    if name not in req:
        req.append(name)
    out["required"] = req
    return out


def _with_member(sub: dict, name: str, member: Any, present: bool) -> dict:
    """``sub`` with member ``name`` answering to ``member`` (and required when ``present``)."""
    out = dict(sub)
    props = dict(out.get("properties") or {})
    props[name] = member
    out["properties"] = props
    return _require(out, name) if present else out


def _not_required(comp: Any, rest: dict, sub: dict, names: Any, ptr: str) -> Any:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchemaError("required", ptr, "must be an array of strings")
    have = set(rest.get("required") or [])
    return _any(
        [_with_member(sub, n, False, False) for n in dict.fromkeys(names) if n not in have], ptr
    )


def _not_props(comp: Any, rest: dict, sub: dict, g: dict, ptr: str) -> Any:
    """An object with a member whose value ``g`` rejects: a key ``g`` names, or (when ``rest``
    lists every possible key) any key of ``rest``."""
    props = g.get("properties", {})
    patterns = g.get("patternProperties", {})
    if not isinstance(props, dict) or not isinstance(patterns, dict):
        raise SchemaError("properties", ptr, "must be an object")
    extra = g.get("additionalProperties", True)
    names = list(props)
    branches = []
    if extra not in (True, {}) or any(v not in (True, {}) for v in patterns.values()):
        names += [n for n in snk.names_of(rest) if n not in names]
        if not _closed(rest):
            # a member neither names, with a value in NOT what ``g`` asks of its key (its
            # patterns' schemas, or additionalProperties): a requirement (schema_not_keys)
            inner = snk.not_unnamed(comp, rest, sub, g, ptr)
            if inner is not False:
                branches.append(inner)
    for n in names:
        theirs = comp._member_schema(g, n, ptr)
        if theirs is True or theirs == {}:
            continue
        mine = comp._member_schema(rest, n, ptr)
        if mine is False:
            continue
        inner = comp.apply_not(_as_rest(mine), theirs, f"{ptr}/properties/{n}")
        if inner is False:
            continue
        branches.append(_with_member(sub, n, inner, True))
    return _any(branches, ptr)


def _not_dependencies(comp: Any, rest: dict, sub: dict, deps: Any, ptr: str, schemas: bool) -> Any:
    if not isinstance(deps, dict):
        raise SchemaError("dependencies", ptr, "must be an object")
    have = set(rest.get("required") or [])
    branches = []
    for trigger, need in deps.items():
        if isinstance(need, list):
            for k in need:
                if k != trigger and k not in have:
                    branches.append(_with_member(_require(sub, trigger), k, False, False))
        elif schemas:
            need_ptr = f"{ptr}/dependencies/{trigger}"
            branches.append(comp.apply_not(_require(sub, trigger), need, need_ptr))
        else:
            raise SchemaError("dependentRequired", ptr, "must map keys to arrays")
    return _any(branches, ptr)


def _not_items(comp: Any, sub: dict, g: dict, ptr: str) -> Any:
    """NOT items X: an array with an item in NOT X (the item schema of ``sub``)."""
    if set(g) != {"items"} or isinstance(g["items"], list):
        raise SchemaError("not", ptr, "of prefixItems/additionalItems/array-form items")
    if "prefixItems" in sub or isinstance(sub.get("items"), list) or "_some_item" in sub:
        raise SchemaError("not", ptr, "of items beside prefixItems or another negated items")
    inner = comp.apply_not(_as_rest(sub.get("items", True)), g["items"], f"{ptr}/items")
    if inner is False:
        return False
    out = dict(sub)
    out["_some_item"] = inner
    return out


def _not_contains(comp: Any, sub: dict, g: dict, ptr: str) -> Any:
    """NOT contains X (with minContains m, default 1, and maxContains M): an array with fewer
    than m items matching X, or more than M. Fewer than 1 is "every item is in NOT X" (items
    narrowed, so items of any shape may stay); fewer than m > 1 and more than M are contains
    terms of their own (``maxContains m-1``, ``minContains M+1``), counted by
    :func:`radtrio.fsm.schema_arrays.contains_array`, which writes an unmarked item as
    ``NOT X`` (exact or refused)."""
    if "contains" not in g:
        return False  # minContains/maxContains without contains constrain nothing
    if "unevaluatedItems" in sub:
        raise SchemaError("not", ptr, "of contains beside unevaluatedItems")
    x = g["contains"]
    lo = _count(g.get("minContains", 1), "minContains", ptr)
    hi = g.get("maxContains")
    hi = None if hi is None else _count(hi, "maxContains", ptr)
    if hi is not None and hi < lo:
        return sub  # no array has between lo and hi matching items
    branches: list = []
    if lo == 1:
        branches.append(_every_item_not(comp, sub, x, f"{ptr}/contains"))
    elif lo > 1:
        fewer = {"contains": x, "minContains": 0, "maxContains": lo - 1}
        branches.append(comp.merge(sub, fewer, ptr))
    if hi is not None:
        branches.append(comp.merge(sub, {"contains": x, "minContains": hi + 1}, ptr))
    return _any(branches, ptr)


def _every_item_not(comp: Any, sub: dict, x: Any, ptr: str) -> Any:
    """``sub`` with every item (prefixItems, array-form items and the rest) also in NOT x."""

    def narrow(item: Any) -> Any:
        return False if item is False else comp.apply_not(_as_rest(item), x, ptr)

    out = dict(sub)
    items = sub.get("items", True)
    if isinstance(items, list):  # draft 4-2019: items as an array = prefixItems
        out["items"] = [narrow(p) for p in items]
        out["additionalItems"] = narrow(sub.get("additionalItems", True))
        return out
    prefix = sub.get("prefixItems")
    if isinstance(prefix, list):
        out["prefixItems"] = [narrow(p) for p in prefix]
    out["items"] = narrow(items)
    return out


def _empty_object(sub: dict) -> Any:
    if sub.get("required") or (_is_count(sub.get("minProperties")) and sub["minProperties"] > 0):
        return False
    out = dict(sub)
    out["properties"] = {n: False for n in snk.names_of(sub)}
    out.pop("required", None)
    out.pop("patternProperties", None)
    out["additionalProperties"] = False
    return out


def _not_bound(comp: Any, sub: dict, name: str, g: dict, ptr: str) -> Any:
    """NOT (x >= lo) is x < lo, NOT (x > lo) is x <= lo; the same for upper bounds."""
    inclusive, exclusive = (
        ("minimum", "exclusiveMinimum")
        if name == "lower"
        else (
            "maximum",
            "exclusiveMaximum",
        )
    )
    bound = None
    strict = False
    if inclusive in g:
        bound = _dec(g[inclusive], inclusive, ptr)
    ex = g.get(exclusive)
    if isinstance(ex, bool):
        strict = ex and bound is not None
    elif ex is not None:
        d = _dec(ex, exclusive, ptr)
        if bound is None or (d >= bound if name == "lower" else d <= bound):
            bound, strict = d, True
    if bound is None:
        return False  # a boolean exclusive bound alone constrains nothing
    # the opposite side of rest gets the new bound
    o_inc, o_exc = (
        ("maximum", "exclusiveMaximum")
        if name == "lower"
        else (
            "minimum",
            "exclusiveMinimum",
        )
    )
    if isinstance(sub.get(o_exc), bool):
        raise SchemaError(o_exc, ptr, "a boolean bound beside a negated bound")
    value: Any = int(bound) if bound == bound.to_integral_value() else float(bound)
    out = dict(sub)
    key = o_inc if strict else o_exc
    cur = out.get(key)
    if cur is None:
        out[key] = value
    else:
        c = _dec(cur, key, ptr)
        tighter = (bound < c) if name == "lower" else (bound > c)
        if tighter:
            out[key] = value
    return out


# -- implication ------------------------------------------------------------------------------
def implies(comp: Any, rest: Any, neg: Any, depth: int = 0) -> bool:
    """Whether every instance of ``rest`` is one of ``neg``: a sufficient syntactic test
    (False means "not shown")."""
    if neg is True or neg == {} or rest is False:
        return True
    if neg is False or depth > MAX_IMPLIES_DEPTH:
        return False
    try:
        rest = _plain(comp._deref(rest, "#"))
        neg = _plain(comp._deref(neg, "#"))
    except (SchemaError, RequestError):
        return False
    if rest is True or rest == {}:
        return neg is True or neg == {}
    if not isinstance(rest, dict) or not isinstance(neg, dict):
        return neg is True or rest is False
    if not neg:
        return True
    if all(_implies_keyword(comp, rest, neg, k, depth) for k in neg):
        return True
    for key in ("anyOf", "oneOf"):
        branches = rest.get(key)
        if isinstance(branches, list) and branches and len(branches) <= 16:
            if all(implies(comp, b, neg, depth + 1) for b in branches):
                return True
    if isinstance(rest.get("allOf"), list):
        if any(implies(comp, b, neg, depth + 1) for b in rest["allOf"]):
            return True
    return False


def _implies_keyword(comp: Any, rest: dict, neg: dict, k: str, depth: int) -> bool:
    v = neg[k]
    if k in ("unevaluatedProperties", "unevaluatedItems") or "unevaluatedProperties" in rest:
        return False
    dom = DOMAIN.get(GROUP_OF.get(k, ""))
    if dom is not None and not set(comp._types(rest)) & dom:
        return True  # the keyword holds for every instance outside its types
    same_context = all(rest.get(c) == neg.get(c) for c in CONTEXT.get(k, ()))
    if k in rest and rest[k] == v and same_context and k != "type":
        return True
    if k == "type":
        t = {v} if isinstance(v, str) else set(v) if isinstance(v, list) else set()
        if neg.get("nullable") is True:
            t.add("null")
        mine = set(comp._types(rest))
        return all(x in t or (x == "integer" and "number" in t) for x in mine)
    if k == "nullable":
        return True  # it only widens "type", checked there
    if k in ("enum", "const"):
        mine = comp._literals(rest)
        vals = v if k == "enum" else [v]
        if mine is None or not isinstance(vals, list):
            return False
        return mine <= {_value_key(x) for x in vals}
    if k == "required":
        return isinstance(v, list) and set(v) <= set(rest.get("required") or [])
    if k in ("minLength", "minItems", "minProperties"):
        cur = rest.get(k)
        return _is_count(cur) and _is_count(v) and cur >= v
    if k in ("maxLength", "maxItems", "maxProperties"):
        cur = rest.get(k)
        return _is_count(cur) and _is_count(v) and cur <= v
    if k == "properties" and isinstance(v, dict):
        return all(
            implies(comp, comp._member_schema(rest, n, "#"), sub, depth + 1) for n, sub in v.items()
        )
    if k in ("additionalProperties", "patternProperties"):
        if not _closed(rest):
            return False
        return all(
            implies(comp, comp._member_schema(rest, n, "#"), comp._member_schema(neg, n, "#"),
                    depth + 1)
            for n in snk.names_of(rest)
        )  # fmt: skip
    if k == "allOf" and isinstance(v, list):
        return all(implies(comp, rest, x, depth + 1) for x in v)
    if k == "anyOf" and isinstance(v, list):
        return any(implies(comp, rest, x, depth + 1) for x in v)
    return False


# -- oneOf -----------------------------------------------------------------------------------
def one_of_branches(
    comp: Any, branches: list[tuple[Any, str]], raw: list, overlaps: list, ptr: str
) -> list[tuple[Any, str]]:
    """Disjoint anyOf branches for a oneOf: branch i AND NOT each branch j it may overlap
    (``overlaps``: the pairs not proven disjoint). A branch j whose instances all match
    another negated branch k is skipped: NOT k already excludes them."""
    out = []
    for i, (branch, bp) in enumerate(branches):
        others = [j for a, b in overlaps for j in ((b,) if a == i else (a,) if b == i else ())]
        keep: list[int] = []
        for j in sorted(others):
            if any(implies(comp, branches[j][0], raw[k]) for k in keep):
                continue
            keep = [k for k in keep if not implies(comp, branches[k][0], raw[j])]
            keep.append(j)
        acc = comp._deref(branch, bp)
        for j in keep:
            if acc is False:
                break
            if acc is True:
                acc = {}
            if not isinstance(acc, dict):
                raise SchemaError("oneOf", bp, "must be a schema")
            acc = comp.apply_not(acc, raw[j], f"{ptr}/oneOf/{j}")
        out.append((acc, bp))
    return out
