"""Subset construction (numba, :func:`radtrio.fsm.subset_kernels.determinize` over the
letters of :func:`radtrio.fsm.letter_kernels.nfa_csr`) gives the DFA, state numbering
included, of the textbook construction written here in plain Python over single bytes: on
random flat NFAs with overlapping byte ranges, epsilon edges, calls and embedded DFAs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import letter_kernels as lk
from radtrio.fsm import subset_kernels as sk

# a few bytes at both ends and in the middle, so that ranges overlap and letters form
BYTES = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 254, 255])


@st.composite
def random_flat_nfas(draw):
    """(n, eps, edges, calls, emb_trans, emb_off, emb_base, start, end) as NFA.arrays() lays
    them out: the listed states first, then the states of up to two embedded DFAs."""
    n_list = draw(st.integers(1, 8))
    blocks = draw(st.lists(st.integers(1, 4), max_size=2))
    n = n_list + sum(blocks)
    state = st.integers(0, n - 1)
    eps = draw(st.lists(st.tuples(state, state), max_size=10))
    edges = []
    for src, a, b, dst in draw(st.lists(st.tuples(state, BYTES, BYTES, state), max_size=14)):
        edges.append((src, min(a, b), max(a, b), dst))
    calls = draw(st.lists(st.tuples(state, st.integers(0, 2), state), max_size=4))
    rows, off, base = [], [0], []
    b0 = n_list
    for k in blocks:
        for _ in range(k):
            row = np.full(256, -1, dtype=np.int32)
            for lo, hi, t in draw(st.lists(st.tuples(BYTES, BYTES, st.integers(-1, k - 1)))):
                row[min(lo, hi) : max(lo, hi) + 1] = t
            rows.append(row)
        off.append(off[-1] + k)
        base.append(b0)
        b0 += k
    return (
        n,
        np.array(eps, dtype=np.int32).reshape(-1),
        np.array(edges, dtype=np.int32).reshape(-1),
        np.array(calls, dtype=np.int32).reshape(-1),
        np.array(rows, dtype=np.int32).reshape(len(rows), 256),
        np.array(off, dtype=np.int64),
        np.array(base, dtype=np.int32),
        draw(state),
        draw(state),
    )


def reference_dfa(n, eps, edges, calls, emb_trans, emb_off, emb_base, start, end):
    """Textbook subset construction over bytes, a set standing for its important states (those
    with a byte or call edge, and the end): new sets numbered as a scan of each state's bytes
    in ascending order meets them, then its call labels ascending. (trans, accept, calls as
    sorted (src, label, dst))."""
    eps_of: list[list[int]] = [[] for _ in range(n)]
    for a, b in eps.reshape(-1, 2).tolist():
        eps_of[a].append(b)
    byte_edges = [tuple(e) for e in edges.reshape(-1, 4).tolist()]
    for j, b0 in enumerate(emb_base.tolist()):
        for r in range(int(emb_off[j]), int(emb_off[j + 1])):
            for byte in range(256):
                t = int(emb_trans[r, byte])
                if t >= 0:
                    byte_edges.append((b0 + r - int(emb_off[j]), byte, byte, b0 + t))
    call_edges = [tuple(c) for c in calls.reshape(-1, 3).tolist()]
    important = {e[0] for e in byte_edges} | {c[0] for c in call_edges} | {end}

    def closure(seeds) -> tuple[int, ...]:
        out, stack = set(seeds), list(seeds)
        while stack:
            for t in eps_of[stack.pop()]:
                if t not in out:
                    out.add(t)
                    stack.append(t)
        return tuple(sorted(out & important))

    ids = {closure([start]): 0}
    sets = [closure([start])]
    rows, accept, out_calls = [], [], []
    i = 0
    while i < len(sets):
        members = set(sets[i])
        row = [-1] * 256
        for byte in range(256):
            seeds = [d for s, lo, hi, d in byte_edges if s in members and lo <= byte <= hi]
            if seeds:
                row[byte] = ids.setdefault(closure(seeds), len(ids))
                if row[byte] == len(sets):
                    sets.append(closure(seeds))
        for lab in sorted({lab for s, lab, _ in call_edges if s in members}):
            target = closure([d for s, la, d in call_edges if s in members and la == lab])
            j = ids.setdefault(target, len(ids))
            if j == len(sets):
                sets.append(target)
            out_calls.append((i, lab, j))
        rows.append(row)
        accept.append(end in members)
        i += 1
    return np.array(rows, dtype=np.int32), np.array(accept), sorted(out_calls)


@settings(max_examples=400, deadline=None)
@given(random_flat_nfas())
def test_determinize_numbers_states_as_the_byte_construction(nfa):
    n, eps, edges, calls, emb_trans, emb_off, emb_base, start, end = nfa
    csr = lk.nfa_csr(n, eps, edges, calls, emb_trans, emb_off, emb_base)
    letter_of, n_letters = csr[9], csr[10]
    got_n, trans, accept, cs, cl, cd, nc = sk.determinize(
        n, *csr[:9], start, end, n_letters, 10_000
    )
    want_trans, want_accept, want_calls = reference_dfa(*nfa)
    assert got_n == len(want_trans)
    assert np.array_equal(lk.to_bytes(np.ascontiguousarray(trans), letter_of), want_trans)
    assert np.array_equal(accept, want_accept)
    assert (
        sorted(zip(cs[:nc].tolist(), cl[:nc].tolist(), cd[:nc].tolist(), strict=True)) == want_calls
    )
