"""without_literals (a DFA minus a set of strings, from a trie) against the general product
construction: both minimized must be the same canonical DFA."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import minimize_kernels as mink
from radtrio.fsm.automaton import compile_ast, minimize, product
from radtrio.fsm.json_schema import any_string_dfa
from radtrio.fsm.literal_sets import without_literals
from radtrio.fsm.regex_parser import N_alt, N_lit, parse_regex


def _same(a, b) -> bool:
    a, b = minimize(a), minimize(b)
    return (
        a.trans.shape == b.trans.shape
        and np.array_equal(a.trans, b.trans)
        and np.array_equal(a.accept, b.accept)
    )


def _lits(words: list[str]):
    return compile_ast(N_alt(*[N_lit(w) for w in words]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet='ab"\\é\n', max_size=5), min_size=1, max_size=6))
def test_keys_except_names_equal_the_product(names):
    quoted = [json.dumps(n, ensure_ascii=False) for n in names]
    direct = without_literals(any_string_dfa(), [q.encode() for q in quoted])
    assert _same(direct, product(any_string_dfa(), _lits(quoted), "diff"))
    assert _no_dead_reachable_state(direct)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["a*b", "(ab|ba)+", "[a-c]{1,3}", "a?b?c?", "(a|bc)*c"]),
    st.lists(st.text(alphabet="abcd", max_size=4), max_size=5),
)
def test_any_dfa_minus_words_equals_the_product(regex, words):
    dfa = compile_ast(parse_regex(regex, "ecma"))
    direct = without_literals(dfa, [w.encode() for w in words])
    expected = product(dfa, _lits(words), "diff") if words else dfa
    assert _same(direct, expected)
    for w in words:
        assert not direct.matches(w.encode())
    assert _no_dead_reachable_state(direct)


def _no_dead_reachable_state(d) -> bool:
    """Every state the start reaches can still reach acceptance (a removed literal must not
    leave a dead end the subset construction would carry along)."""
    trans = np.ascontiguousarray(d.trans, dtype=np.int32)
    z = np.zeros(0, dtype=np.int32)
    keep = mink.trim(trans, d.accept.astype(bool), z, z, 0)
    seen, stack = {0}, [0]
    while stack:
        for t in set(trans[stack.pop()].tolist()) - {-1}:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return all(keep[s] for s in seen)


def test_removing_a_name_keeps_its_extensions_and_prefixes():
    d = without_literals(any_string_dfa(), [b'"ab"'])
    assert not d.matches(b'"ab"')
    assert d.matches(b'"a"') and d.matches(b'"abc"') and d.matches(b'""')
    assert _no_dead_reachable_state(d)
