"""The schema compiler's AST walks (``_call_or_size`` and ``_has_call``) give the answers of
the separate walks they replaced, kept here as the reference: whether an AST calls a rule,
and its node count up to a cap, on random ASTs of every node kind, asked of every subtree
in turn with one memo as ``SchemaCompiler.value`` does. ``N_lit`` builds the AST it built
before; an ASCII literal's children also hold its bytes and cannot be changed."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm.json_keys import some_asts
from radtrio.fsm.json_schema import _COMPOUND, _call_or_size, _has_call
from radtrio.fsm.regex_parser import LitChars, N_lit
from tests.test_fsm_nfa import ASTS


def ref_ast_size(node, cap: int, memo: dict[int, tuple[Any, int]] | None = None) -> int:
    """The former ``_ast_size``: number of AST nodes up to about ``cap``."""
    kind = node[0]
    if kind not in _COMPOUND:
        return 1
    if memo is not None:
        hit = memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
    n = 1
    if kind == "rep":
        n += ref_ast_size(node[1], cap, memo) * max(1, node[2], node[3] or 1)
    else:
        if kind in ("cat", "alt"):
            kids = node[1]
        elif kind == "props":
            kids = [kv for kv, _ in node[1]]
        else:
            kids = [ast for _, ast, _ in node[3]]
        for c in kids:
            n += (
                ref_ast_size(c, cap if memo is not None else cap - n, memo)
                if c[0] in _COMPOUND
                else 1
            )
            if n >= cap:
                break
    if memo is not None:
        n = min(n, cap)
        memo[id(node)] = (node, n)
    return n


def ref_sub_asts(node) -> list:
    """The former ``_sub_asts``: the ASTs directly inside a compound node."""
    kind = node[0]
    if kind in ("cat", "alt"):
        return list(node[1])
    if kind == "rep":
        return [node[1]]
    if kind == "props":
        return [kv for kv, _ in node[1]] + [x for x in node[3:4] if x is not None] + some_asts(node)
    if kind == "graph":
        return [ast for _, ast, _ in node[3]]
    return []


def ref_has_call(node) -> bool:
    """The former ``_has_call`` (without its memo)."""
    kind = node[0]
    if kind == "call":
        return True
    if kind not in _COMPOUND:
        return False
    return any(ref_has_call(c) for c in ref_sub_asts(node))


def _post_order(node, out: list) -> list:
    """Every compound subtree, children before parents (a shared one once per use)."""
    for c in ref_sub_asts(node):
        _post_order(c, out)
    out.append(node)
    return out


@settings(max_examples=500, deadline=None)
@given(ASTS, st.integers(1, 40))
def test_call_or_size_matches_the_two_walks(ast, cap):
    memo: dict[int, tuple[Any, int]] = {}
    ref_memo: dict[int, tuple[Any, int]] = {}
    for node in _post_order(ast, []) if ast[0] in _COMPOUND else [ast]:
        expect = -1 if ref_has_call(node) else ref_ast_size(node, cap, ref_memo)
        assert _call_or_size(node, cap, memo) == expect
        assert _call_or_size(node, cap, {}) == expect  # the same without earlier answers
        assert _has_call(node) == ref_has_call(node)


@settings(max_examples=200, deadline=None)
@given(ASTS)
def test_call_or_size_caps_large_trees(ast):
    big = ("rep", ("cat", [ast, ("set", [(97, 97)])]), 3, 50)
    expect = -1 if ref_has_call(big) else ref_ast_size(big, 400, {})
    assert _call_or_size(big, 400, {}) == expect


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.sampled_from(['"name"', ":", ",", "", "x" * 64, "y" * 65]))
def test_n_lit_builds_the_former_ast(text):
    expect = ("cat", [("set", [(ord(c), ord(c))]) for c in text])
    first, second = N_lit(text), N_lit(text)
    assert first == expect and second == expect
    if not text.isascii():
        assert type(first[1]) is list and first[1] is not second[1]  # a fresh cat each
        return
    # an ASCII literal knows its bytes, and cannot be changed (a short one is shared)
    assert type(first[1]) is LitChars and first[1].data == text.encode()
    assert (first is second) == (len(text) <= 64)
    for change in (
        lambda c: c.append(("set", [(97, 97)])),
        lambda c: c.extend([]),
        lambda c: c.__setitem__(0, ("set", [(97, 97)])),
        lambda c: c.__iadd__([]),
        lambda c: c.pop(),
    ):
        with pytest.raises(TypeError):
            change(first[1])
    assert first == expect
    assert type(first[1][:-1]) is list  # a slice is an ordinary cat's children
    again = pickle.loads(pickle.dumps(first))
    assert again == expect and type(again[1]) is LitChars and again[1].data == first[1].data
