"""Subset construction (numba, :func:`radtrio.fsm.subset_kernels.determinize` over the
letters of :func:`radtrio.fsm.letter_kernels.nfa_csr`) gives the DFA, state numbering
included, of the textbook construction written here in plain Python over single bytes: on
random flat NFAs with overlapping byte ranges, epsilon edges, literal chains, calls and
embedded DFAs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import letter_kernels as lk
from radtrio.fsm import minimize_kernels as mink
from radtrio.fsm import subset_kernels as sk

# a few bytes at both ends and in the middle, so that ranges overlap and letters form
BYTES = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 254, 255])


@st.composite
def random_flat_nfas(draw):
    """(n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end): the
    listed states first, then up to two literal chains (``lits``: source, base, length; each
    from a listed state through fresh ones), then the states of up to three embeddings
    of up to two distinct DFAs (byte tables in ``tables``; embedding j puts
    ``tables[emb_dfa[j]]``'s state 0 at ``emb_base[j]``), as NFA.arrays() lays them out
    but with byte tables for runs."""
    n_list = draw(st.integers(1, 8))
    words = draw(st.lists(st.lists(BYTES, max_size=3), max_size=2))
    lits = []
    for w in words:  # from a listed state through fresh ones
        lits += (draw(st.integers(0, n_list - 1)), n_list, len(w))
        n_list += len(w)
    sizes = draw(st.lists(st.integers(1, 4), max_size=2))
    emb_dfa = draw(st.lists(st.integers(0, len(sizes) - 1), max_size=3)) if sizes else []
    n = n_list + sum(sizes[k] for k in emb_dfa)
    state = st.integers(0, n - 1)
    eps = draw(st.lists(st.tuples(state, state), max_size=10))
    edges = []
    for src, a, b, dst in draw(st.lists(st.tuples(state, BYTES, BYTES, state), max_size=14)):
        edges.append((src, min(a, b), max(a, b), dst))
    calls = draw(st.lists(st.tuples(state, st.integers(0, 2), state), max_size=4))
    tables = []
    for k in sizes:
        table = np.full((k, 256), -1, dtype=np.int32)
        for row in table:
            for lo, hi, t in draw(st.lists(st.tuples(BYTES, BYTES, st.integers(-1, k - 1)))):
                row[min(lo, hi) : max(lo, hi) + 1] = t
        tables.append(table)
    base = []
    b0 = n_list
    for k in emb_dfa:
        base.append(b0)
        b0 += sizes[k]
    return (
        n,
        np.array(eps, dtype=np.int32).reshape(-1),
        np.array(edges, dtype=np.int32).reshape(-1),
        np.array(lits, dtype=np.int32),
        np.array([b for w in words for b in w], dtype=np.uint8),
        np.array(calls, dtype=np.int32).reshape(-1),
        tables,
        np.array(base, dtype=np.int32),
        np.array(emb_dfa, dtype=np.int32),
        draw(state),
        draw(state),
    )


def kernel_arrays(
    tables: list[np.ndarray], emb_base: np.ndarray, emb_dfa: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(runs, run_off, emb) as NFA.arrays() passes them: the runs of the distinct DFAs' byte
    tables, and (base, DFA) pairs."""
    parts = [lk.table_runs(t) for t in tables]
    runs = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int32)
    run_off = np.cumsum([0] + [len(p) for p in parts]).astype(np.int32)
    return runs, run_off, np.stack([emb_base, emb_dfa], axis=1).reshape(-1).astype(np.int32)


def literal_edges(lits: np.ndarray, lit_data: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The byte edges of the literal chains, (src, byte, byte, dst)."""
    out, pos = [], 0
    for src, base, length in lits.reshape(-1, 3).tolist():
        for j in range(length):
            b = int(lit_data[pos])
            pos += 1
            out.append((base + j - 1 if j else src, b, b, base + j))
    return out


def reference_dfa(n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end):
    """Textbook subset construction over bytes, a set standing for its important states (those
    with a byte or call edge, and the end): new sets numbered as a scan of each state's bytes
    in ascending order meets them, then its call labels ascending. (trans, accept, calls as
    sorted (src, label, dst))."""
    eps_of: list[list[int]] = [[] for _ in range(n)]
    for a, b in eps.reshape(-1, 2).tolist():
        eps_of[a].append(b)
    byte_edges = [tuple(e) for e in edges.reshape(-1, 4).tolist()]
    byte_edges += literal_edges(lits, lit_data)
    for b0, k in zip(emb_base.tolist(), emb_dfa.tolist(), strict=True):
        for r, row in enumerate(tables[k].tolist()):
            for byte, t in enumerate(row):
                if t >= 0:
                    byte_edges.append((b0 + r, byte, byte, b0 + t))
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
    n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end = nfa
    csr = lk.nfa_csr(
        n, eps, edges, lits, lit_data, calls, *kernel_arrays(tables, emb_base, emb_dfa)
    )
    letter_of, n_letters = csr[9], csr[10]
    want_trans, want_accept, want_calls = reference_dfa(*nfa)
    # with room for one state at first, every array grows and the expansion resumes often
    for room in (64, 1):
        got_n, trans, accept, cs, cl, cd, nc = sk.determinize(
            n, *csr[:9], start, end, n_letters, 10_000, room
        )
        assert got_n == len(want_trans)
        assert np.array_equal(lk.to_bytes(np.ascontiguousarray(trans), letter_of), want_trans)
        assert np.array_equal(accept, want_accept)
        calls = zip(cs[:nc].tolist(), cl[:nc].tolist(), cd[:nc].tolist(), strict=True)
        assert sorted(calls) == want_calls


@settings(max_examples=200, deadline=None)
@given(random_flat_nfas())
def test_nfa_csr_keeps_each_states_edges_in_order(nfa):
    """Per state: the listed edges in list order, then the literal chains' edges, then each
    embedding's runs (by byte) in embedding order, over letters that split no edge."""
    n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end = nfa
    csr = lk.nfa_csr(
        n, eps, edges, lits, lit_data, calls, *kernel_arrays(tables, emb_base, emb_dfa)
    )
    e_ptr, e_lo, e_hi, e_dst, letter_of = csr[2], csr[3], csr[4], csr[5], csr[9]
    want: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
    for src, lo, hi, dst in edges.reshape(-1, 4).tolist() + literal_edges(lits, lit_data):
        want[src].append((lo, hi, dst))
    for b0, k in zip(emb_base.tolist(), emb_dfa.tolist(), strict=True):
        for r, row in enumerate(tables[k].tolist()):
            b = 0
            while b < 256:
                hi = b
                while hi < 255 and row[hi + 1] == row[b]:
                    hi += 1
                if row[b] >= 0:
                    want[b0 + r].append((b, hi, b0 + row[b]))
                b = hi + 1
    for s in range(n):
        got = list(
            zip(
                e_lo[e_ptr[s] : e_ptr[s + 1]].tolist(),
                e_hi[e_ptr[s] : e_ptr[s + 1]].tolist(),
                e_dst[e_ptr[s] : e_ptr[s + 1]].tolist(),
                strict=True,
            )
        )
        assert got == [(letter_of[lo], letter_of[hi], d) for lo, hi, d in want[s]]
        for lo, hi, _ in want[s]:
            assert lo == 0 or letter_of[lo - 1] != letter_of[lo]
            assert hi == 255 or letter_of[hi + 1] != letter_of[hi]


def reference_all_live(
    n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end
) -> bool:
    """Whether the start and every target of a byte or call edge reach the end, by a
    backward search over single-byte edges."""
    pred: list[set[int]] = [set() for _ in range(n)]
    seeds = {start}
    for a, b in eps.reshape(-1, 2).tolist():
        pred[b].add(a)
    for s, _, _, d in edges.reshape(-1, 4).tolist() + literal_edges(lits, lit_data):
        pred[d].add(s)
        seeds.add(d)
    for s, _, d in calls.reshape(-1, 3).tolist():
        pred[d].add(s)
        seeds.add(d)
    for b0, k in zip(emb_base.tolist(), emb_dfa.tolist(), strict=True):
        for r, row in enumerate(tables[k].tolist()):
            for t in row:
                if t >= 0:
                    pred[b0 + t].add(b0 + r)
                    seeds.add(b0 + t)
    live, stack = {end}, [end]
    while stack:
        for p in pred[stack.pop()]:
            if p not in live:
                live.add(p)
                stack.append(p)
    return seeds <= live


@settings(max_examples=400, deadline=None)
@given(random_flat_nfas())
def test_an_nfa_without_dead_seeds_determinizes_to_live_states(nfa):
    """all_live agrees with a backward search; when it holds, trim of the subset construction
    keeps every state (so minimal_dfa may skip it), and minimal_dfa's result is the one of a
    full trim then minimize either way."""
    n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end = nfa
    arrays = kernel_arrays(tables, emb_base, emb_dfa)
    csr = lk.nfa_csr(n, eps, edges, lits, lit_data, calls, *arrays)
    live = sk.all_live(n, csr[0], csr[1], csr[2], csr[5], csr[6], csr[8], start, end)
    assert live == reference_all_live(*nfa)
    got_n, trans, accept, cs, cl, cd, nc = sk.determinize(n, *csr[:9], start, end, csr[10], 10_000)
    trans = np.ascontiguousarray(trans)
    if live:
        assert mink.trim(trans, accept, cs, cd, nc).all()
    want = mink.reduce(trans, accept.copy(), cs, cl, cd, nc)
    got = sk.minimal_dfa(n, eps, edges, lits, lit_data, calls, *arrays, start, end, 10_000)
    assert got[0] == want[0].shape[0]
    assert np.array_equal(got[1], lk.to_bytes(want[0], csr[9]))
    for x, y in zip(got[2:], want[1:], strict=True):
        assert np.array_equal(x, y)


@settings(max_examples=100, deadline=None)
@given(random_flat_nfas(), st.integers(1, 8))
def test_determinize_stops_at_the_state_limit(nfa, limit):
    """Above ``max_states`` states the construction answers TOO_LARGE, whatever room it
    started with; at or below it, the whole DFA."""
    n, eps, edges, lits, lit_data, calls, tables, emb_base, emb_dfa, start, end = nfa
    csr = lk.nfa_csr(
        n, eps, edges, lits, lit_data, calls, *kernel_arrays(tables, emb_base, emb_dfa)
    )
    full = sk.determinize(n, *csr[:9], start, end, csr[10], 10_000)[0]
    for room in (64, 1):
        got = sk.determinize(n, *csr[:9], start, end, csr[10], limit, room)[0]
        assert got == (full if full <= limit else sk.TOO_LARGE)
