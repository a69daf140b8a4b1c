"""Hopcroft's minimization (used for large DFAs) gives exactly Moore's result: the same
class per state, class count and representatives, on random DFAs with calls and dead ends,
and the minimal DFA accepts the same strings."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import subset_kernels as sk
from radtrio.fsm.automaton import DFA, compile_ast, minimize
from radtrio.fsm.regex_parser import parse_regex


@st.composite
def random_dfas(draw):
    n = draw(st.integers(1, 24))
    letters = draw(st.lists(st.integers(0, 255), min_size=1, max_size=4, unique=True))
    trans = np.full((n, 256), -1, dtype=np.int32)
    for s in range(n):
        for b in letters:
            trans[s, b] = draw(st.integers(-1, n - 1))
    accept = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    labels = draw(st.integers(0, 2))
    ctab = np.array(
        [[draw(st.integers(-1, n - 1)) for _ in range(labels)] for _ in range(n)], dtype=np.int32
    ).reshape(n, labels)
    return trans, accept, ctab


@settings(max_examples=300, deadline=None)
@given(random_dfas())
def test_hopcroft_gives_moores_partition(dfa):
    trans, accept, ctab = dfa
    moore = sk.minimize(trans, accept, ctab)
    hopcroft = sk.minimize_hopcroft(trans, accept, ctab)
    assert moore[1] == hopcroft[1]
    assert np.array_equal(moore[0], hopcroft[0])
    assert np.array_equal(moore[2], hopcroft[2])


def test_a_large_doubled_dfa_minimizes_through_hopcroft_to_the_same_language():
    big = compile_ast(parse_regex(r"(?:[0-9]{1,4}[a-c]){1,999}", "python"))
    n = big.n
    # two copies of every state, each copy stepping into the other: twice the states, the
    # same language, and the minimal DFA is the original again
    t = big.trans
    doubled = np.concatenate([np.where(t >= 0, t + n, -1), t]).astype(np.int32)
    d = DFA(doubled, np.concatenate([big.accept, big.accept]), [{} for _ in range(2 * n)])
    assert d.n > 4096
    ctab = np.zeros((d.n, 0), dtype=np.int32)
    moore = sk.minimize(d.trans, d.accept, ctab)
    hopcroft = sk.minimize_hopcroft(d.trans, d.accept, ctab)
    assert moore[1] == hopcroft[1] == n
    assert np.array_equal(moore[0], hopcroft[0])
    small = minimize(d)
    assert small.n == n
    for text in (b"1a", b"123c45b", b"1a" * 999, b"1a" * 1000, b"12345a", b""):
        assert small.matches(text) == big.matches(text)
