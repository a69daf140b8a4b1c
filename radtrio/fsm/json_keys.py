"""Object keys for the JSON Schema compiler: which schemas apply to a member, by its key.

A key that an object schema does not name is answered by each "side" of the schema: a side is
``(patternProperties, additionalProperties)``; the schemas of its patterns that match the key,
or its additionalProperties when none does. A plain object schema has one side; an allOf of
object schemas whose patterns cannot be folded into one side keeps every side (the
``_key_sides`` entry of a merged schema) and a key must satisfy what each of them asks.

:func:`key_regions` splits the keys into the regions of keys that match the same set of
patterns, refining the key language by one pattern at a time so that only non-empty regions
are ever built (disjoint patterns give n + 1 regions, not 2**n).
"""

from __future__ import annotations

from typing import Any

from radtrio.fsm.automaton import DFA, compile_ast, is_empty, product

MAX_KEY_REGIONS = 64  # non-empty key regions (sets of matching patterns) one object may have

MEMBER_RULE_WEIGHT = 300  # pattern member values this heavy become rules of their own
SIDES = "_key_sides"  # merged schemas: [[patternProperties, additionalProperties], ...]


def key_regions(keys: DFA, patterns: list[DFA], cap: int) -> list[tuple[DFA, frozenset]] | None:
    """The non-empty parts of ``keys`` that match exactly the same patterns: (DFA of the part,
    indices of the patterns it matches). None when there would be more than ``cap`` parts."""
    regions: list[tuple[DFA, frozenset]] = [] if is_empty(keys) else [(keys, frozenset())]
    for i, pattern in enumerate(patterns):
        nxt: list[tuple[DFA, frozenset]] = []
        for region, inside in regions:
            both = product(region, pattern, "and")
            if is_empty(both):
                nxt.append((region, inside))
                continue
            nxt.append((both, inside | {i}))
            rest = product(region, pattern, "diff")
            if not is_empty(rest):
                nxt.append((rest, inside))
        if len(nxt) > cap:
            return None
        regions = nxt
    return regions


def sides_of(schema: dict) -> list[tuple[dict, Any]]:
    """The (patternProperties, additionalProperties) sides that answer for keys ``schema``
    does not name."""
    if SIDES in schema:
        return [(pats, extra) for pats, extra in schema[SIDES]]
    return [(schema.get("patternProperties") or {}, schema.get("additionalProperties", True))]


def all_of(parts: list[Any]) -> Any:
    """One schema for "every one of ``parts``": False if one is False, True for none."""
    if any(p is False for p in parts):
        return False
    kept: list[Any] = []
    for p in parts:
        if p is True or p == {} or any(p is q for q in kept):
            continue
        kept.append(p)
    if not kept:
        # {} and True mean the same, but {} compiles one level inline and True to a call of
        # the any-value rule; keep {} where a part was {}, or an anyOf branch merged here can
        # call the rule where its sibling reads bytes (an ambiguous grammar)
        return next((p for p in parts if p == {}), True)
    return kept[0] if len(kept) == 1 else {"allOf": kept}


def ast_weight(node: Any, cap: int) -> int:
    """About how many NFA states an AST needs (a compiled DFA counts its states), counting
    up to about ``cap``."""
    kind = node[0]
    if kind == "dfa":
        return node[1].n
    n = 1
    if kind in ("cat", "alt"):
        for c in node[1]:
            n += ast_weight(c, cap - n)
            if n >= cap:
                break
    elif kind == "rep":
        n += ast_weight(node[1], cap) * max(1, node[2], node[3] or 1)
    elif kind == "props":
        for kv, _ in node[1]:
            n += ast_weight(kv, cap - n)
            if n >= cap:
                break
        extra = [x for x in node[3:4] if x is not None]
        for x in extra + some_asts(node):  # extra members and (a seventh field) some
            if n < cap:
                n += ast_weight(x, cap - n)
    return n


def some_asts(node: Any) -> list:
    """The member ASTs of a props node's seventh field ``some``: none, one AST, or
    ``("somes", n, [(mask, ast), ...])`` (see ``NFA._extra_members``)."""
    some = node[6] if len(node) > 6 else None
    if some is None:
        return []
    if some[0] == "somes":
        return [ast for _, ast in some[2]]
    return [some]


def union(dfas: list[DFA]) -> DFA:
    """DFA of the strings any of ``dfas`` accepts (call-free DFAs)."""
    if len(dfas) == 1:
        return dfas[0]
    return compile_ast(("alt", [("dfa", d) for d in dfas]))


def exactly_one(dfas: list[DFA]) -> DFA:
    """DFA of the strings exactly one of ``dfas`` accepts: each minus the union of the others
    (exact only for languages where every value has one serialization, such as strings)."""
    parts = []
    for i, d in enumerate(dfas):
        others = [x for j, x in enumerate(dfas) if j != i]
        parts.append(product(d, union(others), "diff") if others else d)
    return union(parts)
