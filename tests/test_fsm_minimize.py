"""DFA minimization (Valmari and Lehtinen's partial-DFA refinement, numba) gives the
partition Moore's textbook refinement gives, written here in plain Python as the reference:
on random trimmed DFAs with calls, on a large DFA built twice over, and through the whole
byte-letter pipeline, where the minimal DFA still accepts the same strings."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import minimize_kernels as mink
from radtrio.fsm.automaton import DFA, compile_ast, minimize, product
from radtrio.fsm.regex_parser import parse_regex


def moore_classes(trans: np.ndarray, accept: np.ndarray, ctab: np.ndarray) -> list[int]:
    """Equivalence class per state by Moore's rounds; a missing transition is its own value."""
    cls = [int(a) for a in accept]
    while True:
        sigs = [
            (
                cls[s],
                *(cls[t] if t >= 0 else -1 for t in trans[s]),
                *(cls[t] if t >= 0 else -1 for t in ctab[s]),
            )
            for s in range(len(cls))
        ]
        ids: dict[tuple, int] = {}
        new = [ids.setdefault(sig, len(ids)) for sig in sigs]
        if len(ids) == len(set(cls)):
            return new
        cls = new


def bfs_numbered(trans: np.ndarray, ctab: np.ndarray, cls: list[int]) -> list[int]:
    """Classes renumbered in the order a BFS from state 0 meets them (bytes, then calls)."""
    order: dict[int, int] = {cls[0]: 0}
    queue = [0]
    for s in queue:
        for t in [*trans[s], *ctab[s]]:
            if t >= 0 and cls[t] not in order:
                order[cls[t]] = len(order)
                queue.append(int(t))
    return [order[c] for c in cls]


@st.composite
def random_trimmed_dfas(draw):
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
    # minimize() takes trimmed DFAs, as reduce() hands it: keep the reachable, live states
    cs, cl = np.nonzero(ctab >= 0)
    cd = ctab[cs, cl]
    keep = mink.trim(trans, accept, cs.astype(np.int32), cd.astype(np.int32), len(cs))
    if not keep[0]:
        return np.full((1, 256), -1, np.int32), np.array([True]), np.full((1, labels), -1, np.int32)
    idx = np.nonzero(keep)[0]
    remap = np.full(n + 1, -1, dtype=np.int32)
    remap[idx] = np.arange(len(idx))
    trans = remap[np.where(trans >= 0, trans, n)][idx]
    ctab = remap[np.where(ctab >= 0, ctab, n)][idx].reshape(len(idx), labels)
    return np.ascontiguousarray(trans), accept[idx], np.ascontiguousarray(ctab, dtype=np.int32)


@settings(max_examples=300, deadline=None)
@given(random_trimmed_dfas())
def test_minimize_gives_moores_partition_in_bfs_order(dfa):
    trans, accept, ctab = dfa
    cls, m, reps = mink.minimize(trans, accept, ctab)
    want = bfs_numbered(trans, ctab, moore_classes(trans, accept, ctab))
    assert cls.tolist() == want
    assert m == len(set(want))
    assert [want[r] for r in reps] == list(range(m))


def test_a_large_doubled_dfa_minimizes_back_to_the_original():
    big = compile_ast(parse_regex(r"(?:[0-9]{1,4}[a-c]){1,999}", "python"))
    n = big.n
    # two copies of every state, each copy stepping into the other: twice the states, the
    # same language, and the minimal DFA is the original again
    t = big.trans
    doubled = np.concatenate([np.where(t >= 0, t + n, -1), t]).astype(np.int32)
    d = DFA(doubled, np.concatenate([big.accept, big.accept]), [{} for _ in range(2 * n)])
    assert d.n > 4096
    ctab = np.zeros((d.n, 0), dtype=np.int32)
    cls, m, _ = mink.minimize(d.trans, d.accept, ctab)
    assert m == n
    assert np.array_equal(cls[:n], cls[n:])  # each state's copy joins it
    small = minimize(d)
    assert small.n == n
    assert np.array_equal(small.trans, big.trans)
    for text in (b"1a", b"123c45b", b"1a" * 999, b"1a" * 1000, b"12345a", b""):
        assert small.matches(text) == big.matches(text)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(
        [r"[a-c]{2,5}x?", r"(?:ab|cd)+", r"[0-9]+(?:\.[0-9]{1,3})?", r"[^a]é+", r"x|y[a-z]"]
    ),
    st.sampled_from([r"[a-b]*", r"a.c", r"(?:cd)*|[0-9]{2}", r"[^x]+", r"é*"]),
    st.text(alphabet="abcdxyé0129.", max_size=8),
)
def test_letter_pipeline_products_agree_with_the_regexes(left, right, text):
    """compile_ast and product run over byte letters and expand back to bytes: the result
    must accept exactly what the two regexes say, for UTF-8 text too."""
    import re

    a = compile_ast(parse_regex(left, "python"))
    b = compile_ast(parse_regex(right, "python"))
    in_a = re.fullmatch(left, text) is not None
    in_b = re.fullmatch(right, text) is not None
    data = text.encode()
    assert a.matches(data) == in_a
    assert product(a, b, "and").matches(data) == (in_a and in_b)
    assert product(a, b, "diff").matches(data) == (in_a and not in_b)


@st.composite
def random_reachable_dfas(draw):
    """A random DFA with calls whose every state is reachable from 0 (through bytes and
    calls), as subset construction and products hand them to trim: (trans, accept, cs, cd)."""
    n = draw(st.integers(1, 16))
    trans = np.full((n, 6), -1, dtype=np.int32)
    calls = []
    for s in range(1, n):  # a spanning tree first: each state from an earlier one
        p = draw(st.integers(0, s - 1))
        b = draw(st.integers(0, 5))
        if draw(st.booleans()) or trans[p, b] >= 0:
            calls.append((p, s))
        else:
            trans[p, b] = s
    for s in range(n):
        for b in range(6):
            if trans[s, b] < 0:
                trans[s, b] = draw(st.integers(-n, n - 1)) if draw(st.booleans()) else -1
    trans[trans < 0] = -1
    calls += draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4))
    accept = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    cs = np.array([c[0] for c in calls], dtype=np.int32)
    cd = np.array([c[1] for c in calls], dtype=np.int32)
    return trans, accept, cs, cd


@settings(max_examples=300, deadline=None)
@given(random_reachable_dfas())
def test_trim_of_a_reachable_dfa_may_skip_the_forward_pass(dfa):
    """For DFAs whose every state is reachable, trim's shortcut keeps what the full trim keeps."""
    trans, accept, cs, cd = dfa
    full = mink.trim(trans, accept, cs, cd, len(cs))
    assert np.array_equal(mink.trim(trans, accept, cs, cd, len(cs), True), full)
    got = mink.reduce(trans, accept, cs, np.zeros(len(cs), np.int32), cd, len(cs), True)
    want = mink.reduce(trans, accept, cs, np.zeros(len(cs), np.int32), cd, len(cs))
    for x, y in zip(got, want, strict=True):
        assert np.array_equal(x, y)
