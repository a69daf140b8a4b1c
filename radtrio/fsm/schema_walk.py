"""Walks over a subschema's AST (see :mod:`radtrio.fsm.regex_parser`) for the JSON Schema
compiler: whether it calls a rule (:func:`_has_call`), and its size up to a cap
(:func:`_call_or_size`, which ``SchemaCompiler.value`` asks to decide what it compiles to a DFA
on its own).
"""

from __future__ import annotations

from typing import Any

from radtrio.fsm.json_keys import some_asts
from radtrio.fsm.regex_parser import LitChars


def _call_or_size(node, cap: int, memo: dict[int, tuple[Any, int]]) -> int:
    """-1 where an AST calls a rule, else its number of nodes up to ``cap``: ``min(cap, n)``
    where a compound node counts 1 plus its children (a rep its child times
    ``max(1, min, max or 1)``; a props node its members only, not extra and some), and any
    other node, a compiled DFA too, counts 1. ``memo`` (id -> (node, answer), kept by the
    caller for one compile and one ``cap``) remembers compound nodes, so that asking at every
    nesting level walks each subtree once. One walk answers both questions ``value`` asks."""
    kind = node[0]
    if kind not in _COMPOUND:
        return -1 if kind == "call" else 1
    if type(node[1]) is LitChars:  # a literal's cat: one leaf per character
        return min(cap, 1 + len(node[1]))
    key = id(node)
    hit = memo.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    n = 1
    if kind == "cat" or kind == "alt":
        kids = node[1]
    elif kind == "rep":
        c = node[1]
        k = c[0]
        m = _call_or_size(c, cap, memo) if k in _COMPOUND else -1 if k == "call" else 1
        if m >= 0:
            n = min(cap, 1 + m * max(1, node[2], node[3] or 1))
        memo[key] = (node, m if m < 0 else n)
        return m if m < 0 else n
    elif kind == "props":
        kids = [kv for kv, _ in node[1]]
        # extra members and (a seventh field) some: searched for calls, not counted
        extra = node[3]
        for c in ([] if extra is None else [extra]) + some_asts(node):
            k = c[0]
            if k == "call" or (k in _COMPOUND and _call_or_size(c, cap, memo) < 0):
                memo[key] = (node, -1)
                return -1
    else:  # graph
        kids = [ast for _, ast, _ in node[3]]
    for c in kids:
        k = c[0]
        if k in _COMPOUND:
            m = _call_or_size(c, cap, memo)
            if m < 0:
                memo[key] = (node, -1)
                return -1
            n += m
        elif k == "call":
            memo[key] = (node, -1)
            return -1
        else:
            n += 1
    if n > cap:
        n = cap
    memo[key] = (node, n)
    return n


_COMPOUND = frozenset(("cat", "alt", "rep", "props", "graph"))


def _has_call(node) -> bool:
    """Whether an AST calls a rule (in a props node also its extra members and some)."""
    kind = node[0]
    if kind == "call":
        return True
    if kind == "cat" or kind == "alt":
        kids = node[1]
    elif kind == "rep":
        return _has_call(node[1])
    elif kind == "props":
        extra = node[3]
        if extra is not None and _has_call(extra):
            return True
        for c in some_asts(node):
            if _has_call(c):
                return True
        for kv, _ in node[1]:
            if _has_call(kv):
                return True
        return False
    elif kind == "graph":
        for _, c, _ in node[3]:
            if _has_call(c):
                return True
        return False
    else:
        return False
    for c in kids:
        k = c[0]
        if k == "call" or (k in _COMPOUND and _has_call(c)):
            return True
    return False
