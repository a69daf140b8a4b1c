"""Arrays with ``contains`` (and min/maxContains) and with ``uniqueItems`` over a small finite
set of values, as ``("graph", ...)`` automata over whole elements.

contains: "[ (I ,)* (I and C) (, I)* ]" is regular, so a state that counts the elements so far
(for prefixItems/minItems/maxItems) and, per contains term, the elements marked as matching
it, with one edge per choice of marks, is exact: a marked element must match its terms, and
where a term has maxContains, an unmarked one must match its negation (written by
``apply_not``, exact or refused). Elements must compile without calls (a recursive or counted
element would make the choice between marked and unmarked ambiguous for the walker), except
unmarked elements of ``items: true``, split into scalars and calls of an object rule and an
array rule when no marked element can start with ``{`` or ``[``.

uniqueItems: when every element is one of at most MAX_UNIQUE_VALUES values (enum, const,
boolean, null), the state is the set of values used so far and an edge adds an unused one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from radtrio.fsm.automaton import compile_ast, is_empty, product
from radtrio.fsm.regex_parser import N_alt, N_cat, N_lit
from radtrio.fsm.schema_common import SchemaError
from radtrio.fsm.schema_walk import _has_call

if TYPE_CHECKING:
    from radtrio.fsm.json_schema import SchemaCompiler

CONTAINS_KEYS = ("contains", "minContains", "maxContains", "_contains")
MAX_CONTAINS_TERMS = 3  # contains schemas merged by allOf: 2**n marks per element
MAX_CONTAINS_COUNT = 8  # minContains/maxContains: one state per count up to it
MAX_CONTAINS_POSITIONS = 16  # prefixItems/minItems/maxItems: one state per position
MAX_GRAPH_STATES = 512
MAX_UNIQUE_VALUES = 8  # uniqueItems: one state per subset of the values

NOTHING = ("alt", [])


def contains_terms(s: dict) -> list[dict]:
    """The contains terms of a schema: its own ``contains`` (with its min/maxContains) and
    those that allOf merging collected in ``_contains``."""
    terms = list(s.get("_contains", []))
    if "contains" in s:
        terms.append(
            {
                "contains": s["contains"],
                "minContains": s.get("minContains", 1),
                "maxContains": s.get("maxContains"),
            }
        )
    return terms


def merge_contains(a: dict, b: dict) -> dict:
    """The contains keywords of allOf(a, b): both sides' terms, each with its own counts
    (min/maxContains without a contains beside them constrain nothing)."""
    terms: list[dict] = []
    for t in contains_terms(a) + contains_terms(b):
        if t not in terms:
            terms.append(t)
    if not terms:
        return {}
    if len(terms) == 1:
        t = terms[0]
        out = {"contains": t["contains"], "minContains": t["minContains"]}
        if t["maxContains"] is not None:
            out["maxContains"] = t["maxContains"]
        return out
    return {"_contains": terms}


def some_item_as_contains(schema: dict) -> dict:
    """``schema`` with its ``_some_item`` S (from a negated ``items``: at least one item of
    S and of the items schema) written as one more contains term, ``contains: S``, which
    means the same: a marked item matches the items schema and S."""
    out = {k: v for k, v in schema.items() if k not in CONTAINS_KEYS and k != "_some_item"}
    out.update(merge_contains(schema, {"contains": schema["_some_item"]}))
    return out


def _count(v: Any, keyword: str, ptr: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SchemaError(keyword, ptr, f"must be a non-negative integer, got {v!r}")
    return v


def array_shape(schema: dict) -> tuple[list, Any, int, int | None]:
    """(prefix schemas, schema of the other elements, minItems, maxItems or None)."""
    items = schema.get("items", True)
    prefix = schema.get("prefixItems", [])
    rest = items
    if isinstance(items, list):  # draft 4-2019: items as an array = prefixItems
        prefix = items
        rest = schema.get("additionalItems", True)
    lo = int(schema.get("minItems", 0))
    hi = schema.get("maxItems")
    hi = int(hi) if hi is not None else None
    if rest is False:
        hi = len(prefix) if hi is None else min(hi, len(prefix))
    return prefix, rest, lo, hi


class _Refused(Exception):
    pass


def contains_array(comp: SchemaCompiler, schema: dict, ptr: str) -> Any:
    """AST of an array schema with contains terms (None: no term constrains anything)."""
    terms = []
    for t in contains_terms(schema):
        lo_c = _count(t["minContains"], "minContains", ptr)
        hi_c = None if t["maxContains"] is None else _count(t["maxContains"], "maxContains", ptr)
        if hi_c is not None and hi_c < lo_c:
            return NOTHING
        if lo_c == 0 and hi_c is None:
            continue  # holds for every array
        if max(lo_c, hi_c or 0) > MAX_CONTAINS_COUNT:
            comp.unsupported("minContains", ptr, f"counts above {MAX_CONTAINS_COUNT}")
            return None
        terms.append((t["contains"], lo_c, hi_c))
    if not terms:
        return None
    if len(terms) > MAX_CONTAINS_TERMS:
        comp.unsupported("contains", ptr, f"more than {MAX_CONTAINS_TERMS} contains schemas")
        return None
    prefix, rest, lo, hi = array_shape(schema)
    if hi is not None and hi < lo:
        return NOTHING
    # level 0 is "no element yet" (no separator before the next one)
    top = hi if hi is not None else max(len(prefix), lo, 1)
    if top > MAX_CONTAINS_POSITIONS:
        comp.unsupported("contains", ptr, f"beside more than {MAX_CONTAINS_POSITIONS} positions")
        return None
    tops = [hc if hc is not None else lc for _, lc, hc in terms]
    n_counts = 1
    for x in tops:
        n_counts *= x + 1
    if (top + 1) * n_counts > MAX_GRAPH_STATES:
        comp.unsupported("contains", ptr, "too many count states")
        return None
    try:
        return _contains_graph(comp, ptr, prefix, rest, lo, hi, top, terms, tops)
    except _Refused as e:
        comp.unsupported("contains", ptr, str(e))
        return None


def _contains_graph(comp, ptr, prefix, rest, lo, hi, top, terms, tops) -> Any:
    ws = comp.ws
    sep = N_cat(ws, N_lit(","), ws)
    cache: dict[tuple, Any] = {}
    unmarked = [_split_any(comp)]  # the unmarked elements of items: true
    cache["split"] = unmarked[0]

    def element(pos: int, marks: frozenset) -> Any:
        """Elements at position ``pos`` (positions past the prefix share one) that match the
        marked terms and, for unmarked terms with maxContains, do not match them."""
        key = (min(pos, len(prefix)), marks)
        if key in cache:
            return cache[key]
        if pos < len(prefix):
            base, bp = prefix[pos], f"{ptr}/prefixItems/{pos}"
        else:
            base, bp = rest, f"{ptr}/items"
        negated = [i for i, (_, _, hc) in enumerate(terms) if hc is not None and i not in marks]
        if not marks and not negated:
            if base is True or base == {}:
                ast = ("unmarked",)  # _split_any or _split_any_deep, decided below
            else:
                ast = comp.value(base, bp)
                if not _has_call(ast):
                    ast = ("dfa", compile_ast(ast))
            cache[key] = ast
            return ast
        s: Any = base
        for i in sorted(marks):
            s = comp.merge(s, terms[i][0], f"{ptr}/contains")
        for i in negated:
            if s is False:
                break
            if s is True:
                s = {}
            s = comp.apply_not(s, terms[i][0], f"{ptr}/contains")
        if s is False:
            ast = NOTHING
        else:
            comp.keep_alive.append(s)
            ast = comp.value(s, bp)
            d = compile_ast(ast)
            if (base is True or base == {}) and not any(hc is not None for _, _, hc in terms):
                # the unmarked elements call the object and array rules of _split_any: where
                # a marked one may be an object or array too, they are written one level
                # deeper (the builder's determinism check refuses a clash further down)
                starts = d.trans[0] >= 0
                for callee in d.calls[0]:
                    f = _first(comp, callee)
                    starts = starts | (True if f is None else f)
                if starts[ord("{")] or starts[ord("[")]:
                    unmarked[0] = _any_deep(comp, _split_any(comp))
            if not d.call_states():
                ast = ("dfa", d)
        cache[key] = ast
        return ast

    # states: (position level, count per term)
    index: dict[tuple, int] = {}
    order: list[tuple] = []

    def state(key: tuple) -> int:
        if key not in index:
            index[key] = len(order)
            order.append(key)
        return index[key]

    state((0,) + (0,) * len(terms))
    edges = []
    i = 0
    while i < len(order):
        key = order[i]
        i += 1
        pos, counts = key[0], key[1:]
        if hi is not None:
            if pos >= hi:
                continue
            nxt_pos = pos + 1
        else:
            nxt_pos = min(pos + 1, top)
        # terms whose count still matters: bounded above, or not yet at their minimum
        live = [j for j in range(len(terms)) if terms[j][2] is not None or counts[j] < tops[j]]
        for m in range(1 << len(live)):
            marks = frozenset(live[b] for b in range(len(live)) if m >> b & 1)
            new = list(counts)
            ok = True
            for j in marks:
                if counts[j] + 1 > tops[j] and terms[j][2] is not None:
                    ok = False
                new[j] = min(counts[j] + 1, tops[j])
            if not ok:
                continue
            ast = element(pos, marks)
            if ast == NOTHING:
                continue
            dst = state((nxt_pos, *new))
            edges.append((index[key], ast if pos == 0 else N_cat(sep, ast), dst))
    accepting = [
        k
        for k, (pos, *counts) in enumerate(order)
        if pos >= lo and all(c >= lc for c, (_, lc, _) in zip(counts, terms, strict=True))
    ]
    # every marked element is known now: write the unmarked ones of items: true so that the
    # walker's choices stay deterministic (the first form whose calls and bytes do not clash;
    # the grammar builder checks the whole grammar again)
    placeholder = any(_has_placeholder(ast) for _, ast, _ in edges)
    forms = [unmarked[0]]
    if placeholder and unmarked[0] is not cache.get("split"):
        forms = [_any_deep(comp, comp.any_ast()), unmarked[0]]
    for k, form in enumerate(forms):
        body = ("graph", len(order), accepting, [(a, _fill(x, form), b) for a, x, b in edges])
        ast = N_cat(N_lit("["), ws, body, ws, N_lit("]"))
        if not placeholder or k == len(forms) - 1 or _deterministic(comp, ast):
            return ast
    return ast


def _split_any(comp: SchemaCompiler) -> Any:
    """Any JSON value as scalars (bytes) or a call of an object rule or an array rule, so that
    a marked scalar element beside it is not an ambiguous choice."""
    from radtrio.fsm.json_schema import _any_body

    cached = getattr(comp, "_split_any_ast", None)
    if cached is None:
        alts = _any_body(comp.any_ast(), comp.ws)[1]
        obj, arr = comp.b.add_dfa(alts[5]), comp.b.add_dfa(alts[6])
        cached = N_alt(*alts[:5], ("call", obj), ("call", arr))
        comp._split_any_ast = cached
    return cached


def _any_deep(comp: SchemaCompiler, nested: Any) -> Any:
    """Any JSON value written as bytes at its own level, its nested values as ``nested``
    (the any rule's call, or :func:`_split_any`), so that a marked object or array element
    that writes its members the same way shares its path."""
    from radtrio.fsm.json_schema import _any_body

    return _any_body(nested, comp.ws)


def _has_placeholder(ast: Any) -> bool:
    return ast == ("unmarked",) or (ast[0] == "cat" and any(_has_placeholder(c) for c in ast[1]))


def _fill(ast: Any, unmarked: Any) -> Any:
    """``ast`` with the ("unmarked",) placeholder replaced."""
    if ast == ("unmarked",):
        return unmarked
    if ast[0] == "cat":
        return ("cat", [_fill(c, unmarked) for c in ast[1]])
    return ast


def _first(comp: SchemaCompiler, rid: int, seen: frozenset = frozenset()) -> Any:
    """The bytes a call of rule ``rid`` may start with (None: not known yet)."""
    import numpy as np

    rule = comp.b.rules[rid] if rid < len(comp.b.rules) else None
    if rule is None or rid in seen:
        return None
    d = rule["dfa"] if "dfa" in rule else rule["open"]
    f = np.asarray(d.trans[0] >= 0)
    for callee in d.calls[0] if "dfa" in rule else ():
        g = _first(comp, callee, seen | {rid})
        if g is None:
            return None
        f = f | g
    return f


def _deterministic(comp: SchemaCompiler, ast: Any) -> bool:
    """Whether no state of ``ast``'s DFA has a call whose first bytes clash with another call
    or a byte edge there (calls of rules not built yet are taken as no clash)."""
    d = compile_ast(ast)
    for s, calls in enumerate(d.calls):
        if not calls:
            continue
        seen = d.trans[s] >= 0
        for callee in calls:
            f = _first(comp, callee)
            if f is None:
                continue
            if (seen & f).any():
                return False
            seen = seen | f
    return True


# -- uniqueItems ----------------------------------------------------------------------------------
def _value_key(v: Any) -> Any:
    """A key equal for JSON-equal values (1 == 1.0, objects in any key order)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return (type(v).__name__, v)
    if isinstance(v, (int, float)):
        return ("num", Decimal(repr(v) if isinstance(v, float) else v).normalize())
    if isinstance(v, list):
        return ("list", tuple(_value_key(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((k, _value_key(x)) for k, x in v.items())))
    raise TypeError(v)


def _candidates(comp: SchemaCompiler, items: Any, ptr: str) -> list | None:
    """The values an element may take, when the items schema lists them (None: not finite)."""
    s = comp._deref(items, ptr)
    if not isinstance(s, dict):
        return None
    if "const" in s:
        return [s["const"]]
    if isinstance(s.get("enum"), list):
        return list(s["enum"])
    t = s.get("type")
    types = [t] if isinstance(t, str) else t if isinstance(t, list) else None
    if types and set(types) <= {"boolean", "null"}:
        return ([True, False] if "boolean" in types else []) + ([None] if "null" in types else [])
    return None


def unique_array(comp: SchemaCompiler, schema: dict, ptr: str) -> Any:
    """AST of an array with uniqueItems over a small finite set of values (None: refused)."""
    prefix, rest, lo, hi = array_shape(schema)
    if prefix or contains_terms(schema):
        comp.unsupported("uniqueItems", ptr, "beside prefixItems or contains")
        return None
    if rest is False:
        return N_cat(N_lit("["), comp.ws, N_lit("]")) if lo == 0 else NOTHING
    values = _candidates(comp, rest, f"{ptr}/items")
    if values is None:
        comp.unsupported("uniqueItems", ptr, "(only items with a small finite set of values)")
        return None
    elem = comp.value(rest, f"{ptr}/items")
    if _has_call(elem):
        comp.unsupported("uniqueItems", ptr, "with recursive or counted items")
        return None
    elem_dfa = compile_ast(elem)
    # one language per distinct value: its serializations that the items schema accepts
    by_key: dict[Any, Any] = {}
    for v in values:
        try:
            k = _value_key(v)
        except TypeError:
            comp.unsupported("uniqueItems", ptr, f"value {v!r}")
            return None
        by_key.setdefault(k, v)
    langs = []
    for v in by_key.values():
        d = product(compile_ast(comp._const(v, ptr)), elem_dfa, "and")
        if not is_empty(d):
            langs.append(("dfa", d))
    if len(langs) > MAX_UNIQUE_VALUES:
        comp.unsupported("uniqueItems", ptr, f"over more than {MAX_UNIQUE_VALUES} values")
        return None
    ws = comp.ws
    sep = N_cat(ws, N_lit(","), ws)
    n = len(langs)
    edges = []
    for used in range(1 << n):
        for j in range(n):
            if not used >> j & 1:
                edges.append((used, langs[j] if used == 0 else N_cat(sep, langs[j]), used | 1 << j))
    accepting = [
        u
        for u in range(1 << n)
        if lo <= bin(u).count("1") and (hi is None or bin(u).count("1") <= hi)
    ]
    return N_cat(N_lit("["), ws, ("graph", 1 << n, accepting, edges), ws, N_lit("]"))
