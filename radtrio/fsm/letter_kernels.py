"""numba kernels that move automata between bytes and letters. A letter is a run of bytes
that no edge of the automaton at hand tells apart, so subset construction, products and
minimization work on a few dozen columns instead of 256; the result is expanded back to a
``trans[state, byte]`` table in the same call.

The NFA arrives as flat arrays, the way :class:`radtrio.fsm.automaton.NFA` collects it:
``eps`` (src, dst pairs), ``edges`` (src, lo, hi, dst quadruples), literal chains as
``lits`` (src, base, length triples) over the concatenated bytes ``lit_data`` (a literal's
byte 0 leads from ``src`` to ``base``, byte ``j`` from ``base + j - 1`` to ``base + j``),
``calls`` (src, label, dst triples), and embedded DFAs as runs: each distinct DFA's byte
table cut once into ``(src, lo, hi, dst)`` rows in its own state numbers
(:func:`table_runs`), stacked in ``runs`` (rows ``run_off[k]:run_off[k + 1]`` belong to
distinct DFA ``k``), and ``emb`` (base, k) pairs, one per embedding: distinct DFA ``k`` with
its state 0 at NFA state ``base``. The same string and number DFAs recur in many places of a
schema; their runs are cut once, and an embedding only adds its base to them.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def letters_of_starts(starts):
    """(letter per byte, number of letters) from bool[257] marking where a run begins."""
    letter_of = np.empty(256, dtype=np.int32)
    cur = -1
    for b in range(256):
        if b == 0 or starts[b]:
            cur += 1
        letter_of[b] = cur
    return letter_of, cur + 1


@njit(cache=True, nogil=True)
def table_run_starts(trans, starts):
    """Mark in ``starts`` the bytes where some row of a byte table changes value."""
    for s in range(trans.shape[0]):
        for b in range(1, 256):
            if trans[s, b] != trans[s, b - 1]:
                starts[b] = True


@njit(cache=True, nogil=True)
def to_letters(trans, letter_of, n_letters):
    """A byte table's columns, one byte per letter (every byte of a letter acts alike)."""
    out = np.empty((trans.shape[0], n_letters), dtype=np.int32)
    for b in range(256):
        if b == 0 or letter_of[b] != letter_of[b - 1]:
            c = letter_of[b]
            for s in range(trans.shape[0]):
                out[s, c] = trans[s, b]
    return out


@njit(cache=True, nogil=True)
def to_bytes(ltrans, letter_of):
    """The byte table of a letter table. Most states have edges on a few letters only: each
    row starts as -1 throughout (a vectorized fill) and only the letters with an edge write
    their byte runs: half the time of a gather per byte."""
    n_letters = ltrans.shape[1]
    lo = np.empty(n_letters + 1, dtype=np.int64)  # letter c: bytes lo[c] .. lo[c + 1] - 1
    lo[0] = 0
    for b in range(256):
        lo[letter_of[b] + 1] = b + 1
    out = np.full((ltrans.shape[0], 256), -1, dtype=np.int32)
    for s in range(ltrans.shape[0]):
        for c in range(n_letters):
            t = ltrans[s, c]
            if t >= 0:
                for b in range(lo[c], lo[c + 1]):
                    out[s, b] = t
    return out


@njit(cache=True, nogil=True)
def _csr(n, src, cols):
    """Rows of ``cols`` (one row per item) grouped by ``src`` (stable): (ptr, grouped)."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(src.shape[0]):
        ptr[src[i] + 1] += 1
    for s in range(n):
        ptr[s + 1] += ptr[s]
    fill = ptr[:n].copy()
    out = np.empty_like(cols)
    for i in range(src.shape[0]):
        j = fill[src[i]]
        fill[src[i]] += 1
        out[j] = cols[i]
    return ptr, out


@njit(cache=True, nogil=True)
def table_runs(trans):
    """The runs of a byte table: int32 rows ``(src, lo, hi, dst)``, one per maximal run of
    bytes ``lo..hi`` that state ``src`` sends to the same ``dst >= 0``; by state, then byte."""
    n = trans.shape[0]
    m = 0
    for s in range(n):  # branch-free, so that it vectorizes
        m += trans[s, 0] >= 0
        for b in range(1, 256):
            t = trans[s, b]
            m += (t >= 0) & (t != trans[s, b - 1])
    out = np.empty((m, 4), dtype=np.int32)
    i = 0
    for s in range(n):
        lo = 0
        t = trans[s, 0]
        for b in range(1, 257):
            if b == 256 or trans[s, b] != t:
                if t >= 0:
                    out[i, 0] = s
                    out[i, 1] = lo
                    out[i, 2] = b - 1
                    out[i, 3] = t
                    i += 1
                if b < 256:
                    lo = b
                    t = trans[s, b]
    return out


@njit(cache=True, nogil=True)
def nfa_csr(n, eps, edges, lits, lit_data, calls, runs, run_off, emb):
    """CSR arrays over letters for :func:`radtrio.fsm.subset_kernels.determinize`:
    (eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, c_ptr, c_lab, c_dst, letter_of, n_letters).
    A state's byte edges keep their order: the listed ones, then the literal chains', then
    the runs of the embeddings (in embedding order, each DFA's runs by state and byte)."""
    n_list = edges.shape[0] // 4
    listed = edges.reshape(n_list, 4)
    n_lits = lits.shape[0] // 3
    # letters: the bounds of the listed edges, of the literals' bytes and of each distinct
    # DFA's runs
    starts = np.zeros(257, dtype=np.bool_)
    for i in range(n_list):
        starts[listed[i, 1]] = True
        starts[listed[i, 2] + 1] = True
    for j in range(lit_data.shape[0]):
        starts[lit_data[j]] = True
        starts[lit_data[j] + 1] = True
    for i in range(runs.shape[0]):
        starts[runs[i, 1]] = True
        starts[runs[i, 2] + 1] = True
    letter_of, n_letters = letters_of_starts(starts)
    # edges grouped by source (a counting sort, stable: listed first, then literals, then
    # embeddings)
    e_ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n_list):
        e_ptr[listed[i, 0] + 1] += 1
    for i in range(n_lits):
        src = lits[3 * i]
        base = lits[3 * i + 1]
        for j in range(lits[3 * i + 2]):
            e_ptr[(src if j == 0 else base + j - 1) + 1] += 1
    for j in range(emb.shape[0] // 2):
        base = emb[2 * j]
        k = emb[2 * j + 1]
        for r in range(run_off[k], run_off[k + 1]):
            e_ptr[base + runs[r, 0] + 1] += 1
    for s in range(n):
        e_ptr[s + 1] += e_ptr[s]
    m = e_ptr[n]
    fill = e_ptr[:n].copy()
    e_lo = np.empty(m, dtype=np.int32)
    e_hi = np.empty(m, dtype=np.int32)
    e_dst = np.empty(m, dtype=np.int32)
    for i in range(n_list):
        s = listed[i, 0]
        q = fill[s]
        fill[s] = q + 1
        e_lo[q] = letter_of[listed[i, 1]]
        e_hi[q] = letter_of[listed[i, 2]]
        e_dst[q] = listed[i, 3]
    pos = 0
    for i in range(n_lits):
        src = lits[3 * i]
        base = lits[3 * i + 1]
        for j in range(lits[3 * i + 2]):
            s = src if j == 0 else base + j - 1
            q = fill[s]
            fill[s] = q + 1
            c = letter_of[lit_data[pos]]
            pos += 1
            e_lo[q] = c
            e_hi[q] = c
            e_dst[q] = base + j
    for j in range(emb.shape[0] // 2):
        base = emb[2 * j]
        k = emb[2 * j + 1]
        for r in range(run_off[k], run_off[k + 1]):
            s = base + runs[r, 0]
            q = fill[s]
            fill[s] = q + 1
            e_lo[q] = letter_of[runs[r, 1]]
            e_hi[q] = letter_of[runs[r, 2]]
            e_dst[q] = base + runs[r, 3]
    pairs = eps.reshape(eps.shape[0] // 2, 2)
    eps_ptr, eps_grouped = _csr(n, pairs[:, 0].copy(), pairs[:, 1].copy())
    triples = calls.reshape(calls.shape[0] // 3, 3)
    c_ptr, c_grouped = _csr(n, triples[:, 0].copy(), triples[:, 1:].copy())
    return (
        eps_ptr,
        eps_grouped,
        e_ptr,
        e_lo,
        e_hi,
        e_dst,
        c_ptr,
        np.ascontiguousarray(c_grouped[:, 0]),
        np.ascontiguousarray(c_grouped[:, 1]),
        letter_of,
        n_letters,
    )
