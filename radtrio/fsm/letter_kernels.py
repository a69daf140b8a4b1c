"""numba kernels that move automata between bytes and letters. A letter is a run of bytes
that no edge of the automaton at hand tells apart, so subset construction, products and
minimization work on a few dozen columns instead of 256; the result is expanded back to a
``trans[state, byte]`` table in the same call.

The NFA arrives as flat arrays, the way :class:`radtrio.fsm.automaton.NFA` collects it:
``eps`` (src, dst pairs), ``edges`` (src, lo, hi, dst quadruples), ``calls`` (src, label,
dst triples), and embedded DFAs as their byte tables stacked in ``emb_trans`` (rows
``emb_off[j]:emb_off[j + 1]`` belong to the DFA whose state 0 is NFA state ``emb_base[j]``).
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
    """The byte table of a letter table."""
    out = np.empty((ltrans.shape[0], 256), dtype=np.int32)
    for s in range(ltrans.shape[0]):
        for b in range(256):
            out[s, b] = ltrans[s, letter_of[b]]
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
def nfa_csr(n, eps, edges, calls, emb_trans, emb_off, emb_base):
    """CSR arrays over letters for :func:`radtrio.fsm.subset_kernels.determinize`:
    (eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, c_ptr, c_lab, c_dst, letter_of, n_letters)."""
    # byte edges: the listed ones, then the runs of every embedded DFA row
    n_emb = 0
    for j in range(emb_base.shape[0]):
        for r in range(emb_off[j], emb_off[j + 1]):
            for b in range(256):
                t = emb_trans[r, b]
                if t >= 0 and (b == 0 or emb_trans[r, b - 1] != t):
                    n_emb += 1
    n_list = edges.shape[0] // 4
    m = n_list + n_emb
    e_src = np.empty(m, dtype=np.int32)
    e_cols = np.empty((m, 3), dtype=np.int32)
    listed = edges.reshape(n_list, 4)
    e_src[:n_list] = listed[:, 0]
    e_cols[:n_list] = listed[:, 1:]
    i = n_list
    for j in range(emb_base.shape[0]):
        base = emb_base[j]
        for r in range(emb_off[j], emb_off[j + 1]):
            b = 0
            while b < 256:
                t = emb_trans[r, b]
                hi = b
                while hi < 255 and emb_trans[r, hi + 1] == t:
                    hi += 1
                if t >= 0:
                    e_src[i] = base + r - emb_off[j]
                    e_cols[i, 0] = b
                    e_cols[i, 1] = hi
                    e_cols[i, 2] = base + t
                    i += 1
                b = hi + 1
    starts = np.zeros(257, dtype=np.bool_)
    for i in range(m):
        starts[e_cols[i, 0]] = True
        starts[e_cols[i, 1] + 1] = True
    letter_of, n_letters = letters_of_starts(starts)
    for i in range(m):
        e_cols[i, 0] = letter_of[e_cols[i, 0]]
        e_cols[i, 1] = letter_of[e_cols[i, 1]]
    e_ptr, e_grouped = _csr(n, e_src, e_cols)
    pairs = eps.reshape(eps.shape[0] // 2, 2)
    eps_ptr, eps_grouped = _csr(n, pairs[:, 0].copy(), pairs[:, 1].copy())
    triples = calls.reshape(calls.shape[0] // 3, 3)
    c_ptr, c_grouped = _csr(n, triples[:, 0].copy(), triples[:, 1:].copy())
    return (
        eps_ptr,
        eps_grouped,
        e_ptr,
        np.ascontiguousarray(e_grouped[:, 0]),
        np.ascontiguousarray(e_grouped[:, 1]),
        np.ascontiguousarray(e_grouped[:, 2]),
        c_ptr,
        np.ascontiguousarray(c_grouped[:, 0]),
        np.ascontiguousarray(c_grouped[:, 1]),
        letter_of,
        n_letters,
    )
