"""numba kernels of automaton construction: subset construction (NFA -> DFA) and products
of DFAs, each followed by :func:`radtrio.fsm.minimize_kernels.reduce` (trim and minimize) in
the same call. :mod:`radtrio.fsm.automaton` builds the NFA as flat CSR arrays and calls these.

The work runs over letters, runs of bytes no edge tells apart (see
:mod:`radtrio.fsm.letter_kernels`), often a tenth of the 256 bytes; the entry points
:func:`minimal_dfa` and :func:`minimal_product` take and return byte tables. DFA output:
``trans[state, byte]`` (-1 = none), ``accept[state]``, and call edges as three parallel
arrays ``(src, label, dst)``. State 0 is the start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from radtrio.fsm.letter_kernels import (
    letters_of_starts,
    nfa_csr,
    table_run_starts,
    to_bytes,
    to_letters,
)
from radtrio.fsm.minimize_kernels import reduce

TOO_LARGE = -2
DENSE_PAIRS = 1 << 24  # products index state pairs in a flat table up to this many pairs


@njit(cache=True, nogil=True)
def _grow1(a, n):
    b = np.empty(max(n, 2 * a.shape[0]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)
def _grow2(a, n):
    b = np.empty((max(n, 2 * a.shape[0]), a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True, inline="always")
def _hash(buf, n):
    h = np.uint64(1469598103934665603)
    for k in range(n):
        h ^= np.uint64(buf[k]) + np.uint64(0x9E3779B97F4A7C15)
        h *= np.uint64(1099511628211)
    return h


@njit(cache=True, nogil=True, inline="always")
def _insert_point(pts, n, v):
    """Insert ``v`` into the sorted distinct ``pts[:n]``; returns the new length."""
    k = n
    while k > 0 and pts[k - 1] > v:
        k -= 1
    if k > 0 and pts[k - 1] == v:
        return n
    for q in range(n, k, -1):
        pts[q] = pts[q - 1]
    pts[k] = v
    return n + 1


@njit(cache=True, nogil=True, inline="always")
def _closure(seeds, n_seeds, eps_ptr, eps_dst, important, mark, stamp, out, stack):
    """The important states (see :func:`determinize`) of the epsilon closure of
    ``seeds[:n_seeds]``, sorted, into ``out``; returns their number."""
    n = 0
    sp = 0
    for k in range(n_seeds):
        s = seeds[k]
        if mark[s] != stamp:
            mark[s] = stamp
            if important[s]:
                out[n] = s
                n += 1
            stack[sp] = s
            sp += 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for k in range(eps_ptr[s], eps_ptr[s + 1]):
            t = eps_dst[k]
            if mark[t] != stamp:
                mark[t] = stamp
                if important[t]:
                    out[n] = t
                    n += 1
                stack[sp] = t
                sp += 1
    if n <= 32:  # closures are mostly a few states: insertion sort, no call
        for k in range(1, n):
            v = out[k]
            q = k
            while q > 0 and out[q - 1] > v:
                out[q] = out[q - 1]
                q -= 1
            out[q] = v
    else:
        out[:n].sort()
    return n


# what _subset_steps returns: done, out of room in one kind of array (the driver grows it and
# resumes at the state that was being expanded), or above the state limit
_DONE = 0
_GROW_STATES = 1
_GROW_POOL = 2
_GROW_CALLS = 3
_TOO_MANY = 4

# cells of the construction's scalar state, kept between resumptions
_NEXT = 0  # the next DFA state to expand
_N_STATES = 1
_POOL_N = 2  # used length of the pool of sets
_N_CALLS = 3
_STAMP = 4  # closure marks


@njit(cache=True, nogil=True, inline="always")
def _intern(buf, m, pool, set_off, set_len, table, sc, max_states):
    """The DFA state of the set ``buf[:m]``: the one interned before, or a new one. Returns
    ``-status`` instead when a new one finds no room (or would pass ``max_states``)."""
    h = _hash(buf, m)
    mask = np.uint64(table.shape[0] - 1)
    slot = np.int64(h & mask)
    while table[slot] >= 0:
        c = table[slot]
        if set_len[c] == m:
            o2 = set_off[c]
            same = True
            for k in range(m):
                if pool[o2 + k] != buf[k]:
                    same = False
                    break
            if same:
                return c
        slot = np.int64((np.uint64(slot) + np.uint64(1)) & mask)
    n_states = sc[_N_STATES]
    if n_states >= max_states:
        return -_TOO_MANY
    if n_states >= set_off.shape[0] or 2 * (n_states + 1) > table.shape[0]:
        return -_GROW_STATES
    pool_n = sc[_POOL_N]
    if pool_n + m > pool.shape[0]:
        return -_GROW_POOL
    for k in range(m):
        pool[pool_n + k] = buf[k]
    set_off[n_states] = pool_n
    set_len[n_states] = m
    table[slot] = n_states
    sc[_POOL_N] = pool_n + m
    sc[_N_STATES] = n_states + 1
    return n_states


@njit(cache=True, nogil=True)
def _subset_steps(
    eps_ptr,
    eps_dst,
    e_ptr,
    e_lo,
    e_hi,
    e_dst,
    c_ptr,
    c_lab,
    c_dst,
    end,
    n_letters,
    max_states,
    important,
    mark,
    single,
    buf,
    stack,
    seeds,
    pts,
    pool,
    set_off,
    set_len,
    trans,
    accept,
    table,
    cs,
    cl,
    cd,
    sc,
):
    """Expand DFA states from ``sc[_NEXT]`` on (see :func:`determinize`) until every state is
    expanded (:data:`_DONE`) or an array is full: then the state being expanded is left to be
    expanded again from its start (what it interned stays, under the same numbers) and the
    status says which array to grow. No array is replaced in here: numba counts references of
    arrays a loop may rebind at every use, which cost most of the time of this loop."""
    i = sc[_NEXT]
    while i < sc[_N_STATES]:
        calls_before = sc[_N_CALLS]
        off = set_off[i]
        ln = set_len[i]
        for b in range(n_letters):
            trans[i, b] = -1
        acc = False
        # breakpoints of the member states' edges, sorted and distinct (a set has few edges,
        # so insertion beats a pass over every letter)
        np_ = 0
        for k in range(ln):
            s = pool[off + k]
            if s == end:
                acc = True
            for e in range(e_ptr[s], e_ptr[s + 1]):
                np_ = _insert_point(pts, np_, e_lo[e])
                np_ = _insert_point(pts, np_, e_hi[e] + 1)
        accept[i] = acc
        for q in range(np_ - 1):
            a = pts[q]
            bnd = pts[q + 1]
            ns = 0
            for k in range(ln):
                s = pool[off + k]
                for e in range(e_ptr[s], e_ptr[s + 1]):
                    if e_lo[e] <= a and a <= e_hi[e]:
                        seeds[ns] = e_dst[e]
                        ns += 1
            if ns == 0:
                continue
            if ns == 1 and single[seeds[0]] >= 0:
                j = single[seeds[0]]  # one NFA state's closure, interned before
            else:
                stamp = sc[_STAMP] + 1
                sc[_STAMP] = stamp
                m = _closure(seeds, ns, eps_ptr, eps_dst, important, mark, stamp, buf, stack)
                j = _intern(buf, m, pool, set_off, set_len, table, sc, max_states)
                if j < 0:
                    sc[_NEXT] = i
                    sc[_N_CALLS] = calls_before
                    return -j
                if ns == 1:
                    single[seeds[0]] = j
            for bb in range(a, bnd):
                trans[i, bb] = j
        # call edges, grouped by label
        ncall = 0
        for k in range(ln):
            s = pool[off + k]
            ncall += c_ptr[s + 1] - c_ptr[s]
        if ncall > 0:
            if sc[_N_CALLS] + ncall > cs.shape[0]:
                sc[_NEXT] = i
                return _GROW_CALLS
            labs = np.empty(ncall, dtype=np.int32)
            q = 0
            for k in range(ln):
                s = pool[off + k]
                for e in range(c_ptr[s], c_ptr[s + 1]):
                    labs[q] = c_lab[e]
                    q += 1
            for lab in np.unique(labs):
                ns = 0
                for k in range(ln):
                    s = pool[off + k]
                    for e in range(c_ptr[s], c_ptr[s + 1]):
                        if c_lab[e] == lab:
                            seeds[ns] = c_dst[e]
                            ns += 1
                stamp = sc[_STAMP] + 1
                sc[_STAMP] = stamp
                m = _closure(seeds, ns, eps_ptr, eps_dst, important, mark, stamp, buf, stack)
                j = _intern(buf, m, pool, set_off, set_len, table, sc, max_states)
                if j < 0:
                    sc[_NEXT] = i
                    sc[_N_CALLS] = calls_before
                    return -j
                n_calls = sc[_N_CALLS]
                cs[n_calls] = i
                cl[n_calls] = lab
                cd[n_calls] = j
                sc[_N_CALLS] = n_calls + 1
        i += 1
    sc[_NEXT] = i
    return _DONE


@njit(cache=True, nogil=True)
def _rehash(pool, set_off, set_len, n_states, size):
    """A hash table of ``size`` slots (a power of two) holding sets 0..n_states-1."""
    table = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for c in range(n_states):
        hc = _hash(pool[set_off[c] : set_off[c] + set_len[c]], set_len[c])
        sl = np.int64(hc & mask)
        while table[sl] >= 0:
            sl = np.int64((np.uint64(sl) + np.uint64(1)) & mask)
        table[sl] = c
    return table


@njit(cache=True, nogil=True)
def determinize(
    n_nfa,
    eps_ptr,
    eps_dst,
    e_ptr,
    e_lo,
    e_hi,
    e_dst,
    c_ptr,
    c_lab,
    c_dst,
    start,
    end,
    n_letters,
    max_states,
    room=64,
):
    """Subset construction over ``n_letters`` letters (``e_lo``/``e_hi``: an edge's first and last
    letter). Returns (n, trans, accept, call_src, call_lab, call_dst, n_calls); n ==
    TOO_LARGE when more than ``max_states`` states would be needed. ``room``: the number of
    states there is first room for (the arrays grow as needed; tests make it small)."""
    # A DFA state is the set of the important NFA states of a closure: those with a byte or
    # call edge, and the end. The others only lead on by epsilon, and two closures that differ
    # in them alone have the same future (the set after "x" in x* and the one before it).
    important = np.zeros(n_nfa, dtype=np.bool_)
    for s in range(n_nfa):
        important[s] = s == end or e_ptr[s + 1] > e_ptr[s] or c_ptr[s + 1] > c_ptr[s]
    mark = np.zeros(n_nfa, dtype=np.int64)
    single = np.full(n_nfa, -1, dtype=np.int64)  # DFA state of the closure of {s}
    buf = np.empty(n_nfa, dtype=np.int32)
    stack = np.empty(n_nfa, dtype=np.int32)
    seeds = np.empty(max(n_nfa, e_dst.shape[0], c_dst.shape[0]) + 1, dtype=np.int32)
    pts = np.empty(n_letters + 1, dtype=np.int32)
    room = max(room, 1)
    size = 4
    while size < 4 * room:
        size *= 2
    pool = np.empty(16 * room, dtype=np.int32)
    set_off = np.empty(room, dtype=np.int64)
    set_len = np.empty(room, dtype=np.int64)
    trans = np.empty((room, n_letters), dtype=np.int32)
    accept = np.zeros(room, dtype=np.bool_)
    table = np.full(size, -1, dtype=np.int64)
    cs = np.empty(room // 4 + 1, dtype=np.int32)
    cl = np.empty(room // 4 + 1, dtype=np.int32)
    cd = np.empty(room // 4 + 1, dtype=np.int32)
    sc = np.zeros(5, dtype=np.int64)

    # the start set (the table is empty and has room for it)
    seeds[0] = start
    sc[_STAMP] = 1
    m = _closure(seeds, 1, eps_ptr, eps_dst, important, mark, 1, buf, stack)
    if m > pool.shape[0]:
        pool = np.empty(m, dtype=np.int32)
    _intern(buf, m, pool, set_off, set_len, table, sc, max_states)

    while True:
        status = _subset_steps(
            eps_ptr,
            eps_dst,
            e_ptr,
            e_lo,
            e_hi,
            e_dst,
            c_ptr,
            c_lab,
            c_dst,
            end,
            n_letters,
            max_states,
            important,
            mark,
            single,
            buf,
            stack,
            seeds,
            pts,
            pool,
            set_off,
            set_len,
            trans,
            accept,
            table,
            cs,
            cl,
            cd,
            sc,
        )
        if status == _DONE:
            break
        if status == _TOO_MANY:
            return TOO_LARGE, trans, accept, cs, cl, cd, 0
        n_states = sc[_N_STATES]
        if status == _GROW_STATES:
            if n_states >= set_off.shape[0]:
                set_off = _grow1(set_off, n_states + 1)
                set_len = _grow1(set_len, n_states + 1)
                trans = _grow2(trans, n_states + 1)
                acc2 = np.zeros(trans.shape[0], dtype=np.bool_)
                acc2[: accept.shape[0]] = accept
                accept = acc2
            if 2 * (n_states + 1) > table.shape[0]:
                table = _rehash(pool, set_off, set_len, n_states, table.shape[0] * 4)
        elif status == _GROW_POOL:  # a set holds at most every NFA state
            pool = _grow1(pool, sc[_POOL_N] + n_nfa)
        else:  # _GROW_CALLS: a state has at most every call edge of the NFA
            need = sc[_N_CALLS] + c_dst.shape[0] + 1
            cs = _grow1(cs, need)
            cl = _grow1(cl, need)
            cd = _grow1(cd, need)
    n_states = sc[_N_STATES]
    return n_states, trans[:n_states], accept[:n_states], cs, cl, cd, sc[_N_CALLS]


@njit(cache=True, nogil=True)
def product(ta, aa, tb, ab, diff, max_states):
    """Product of two call-free DFAs from (0, 0): intersection, or ``a`` minus ``b`` when
    ``diff`` (``b`` may be left, as state -1). Returns (n, trans, accept); n == TOO_LARGE when
    above ``max_states``."""
    n_letters = ta.shape[1]
    nb1 = tb.shape[0] + 1
    dense = ta.shape[0] * nb1 <= DENSE_PAIRS
    table = np.full(ta.shape[0] * nb1 if dense else 1, -1, dtype=np.int32)
    index = dict()
    if dense:
        table[1] = 0
    else:
        index[np.int64(1)] = 0
    pa = np.empty(64, dtype=np.int64)
    pb = np.empty(64, dtype=np.int64)
    trans = np.empty((64, n_letters), dtype=np.int32)
    acc = np.zeros(64, dtype=np.bool_)
    pa[0] = 0
    pb[0] = 0
    n = 1
    i = 0
    while i < n:
        p = pa[i]
        q = pb[i]
        for byte in range(n_letters):
            trans[i, byte] = -1
            np_ = ta[p, byte]
            if np_ < 0:
                continue
            nq = tb[q, byte] if q >= 0 else -1
            if not diff and nq < 0:
                continue
            key = np.int64(np_) * nb1 + (nq + 1)
            j = table[key] if dense else index.get(key, -1)
            if j < 0:
                if n >= max_states:
                    return TOO_LARGE, trans, acc
                j = n
                if dense:
                    table[key] = j
                else:
                    index[key] = j
                if j >= pa.shape[0]:
                    pa = _grow1(pa, j + 1)
                    pb = _grow1(pb, j + 1)
                    trans = _grow2(trans, j + 1)
                    acc2 = np.zeros(trans.shape[0], dtype=np.bool_)
                    acc2[: acc.shape[0]] = acc
                    acc = acc2
                pa[j] = np_
                pb[j] = nq
                n += 1
            trans[i, byte] = j
        in_b = q >= 0 and ab[q]
        acc[i] = aa[p] and (in_b if not diff else not in_b)
        i += 1
    return n, trans[:n], acc[:n]


@njit(cache=True, nogil=True)
def all_live(n, eps_ptr, eps_dst, e_ptr, e_dst, c_ptr, c_dst, start, end):
    """Whether the start and every target of a byte or call edge of a CSR NFA reach ``end``
    (through epsilon, byte and call edges). Then every state of its subset construction
    reaches acceptance: a DFA state is the closure of such states (its seeds), and from a
    seed's path to the end the closure holds the first important state (see
    :func:`determinize`; the end is one), from which the DFA follows the path letter by
    letter and call by call. Other states may be dead (an optional member's unused level)."""
    # reverse edges as CSR, from the three edge lists
    rptr = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        for k in range(eps_ptr[s], eps_ptr[s + 1]):
            rptr[eps_dst[k] + 1] += 1
        for k in range(e_ptr[s], e_ptr[s + 1]):
            rptr[e_dst[k] + 1] += 1
        for k in range(c_ptr[s], c_ptr[s + 1]):
            rptr[c_dst[k] + 1] += 1
    for s in range(n):
        rptr[s + 1] += rptr[s]
    fill = rptr[:n].copy()
    rsrc = np.empty(rptr[n], dtype=np.int32)
    for s in range(n):
        for k in range(eps_ptr[s], eps_ptr[s + 1]):
            t = eps_dst[k]
            rsrc[fill[t]] = s
            fill[t] += 1
        for k in range(e_ptr[s], e_ptr[s + 1]):
            t = e_dst[k]
            rsrc[fill[t]] = s
            fill[t] += 1
        for k in range(c_ptr[s], c_ptr[s + 1]):
            t = c_dst[k]
            rsrc[fill[t]] = s
            fill[t] += 1
    live = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int32)
    live[end] = True
    stack[0] = end
    sp = 1
    while sp > 0:
        sp -= 1
        t = stack[sp]
        for k in range(rptr[t], rptr[t + 1]):
            s = rsrc[k]
            if not live[s]:
                live[s] = True
                stack[sp] = s
                sp += 1
    if not live[start]:
        return False
    for k in range(e_dst.shape[0]):
        if not live[e_dst[k]]:
            return False
    for k in range(c_dst.shape[0]):
        if not live[c_dst[k]]:
            return False
    return True


@njit(cache=True, nogil=True)
def minimal_dfa(
    n_nfa, eps, edges, lits, lit_data, calls, runs, run_off, emb, start, end, max_states
):
    """The minimal DFA of a flat NFA (see :mod:`radtrio.fsm.letter_kernels`; literal chains
    as (src, base, length) triples): letters, :func:`determinize`, trim and minimize, back to
    bytes. Returns (n, trans, accept, call_src, call_lab, call_dst, n_calls); n == TOO_LARGE
    as for :func:`determinize`."""
    eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, c_ptr, c_lab, c_dst, letter_of, n_letters = nfa_csr(
        n_nfa, eps, edges, lits, lit_data, calls, runs, run_off, emb
    )
    n, trans, accept, cs, cl, cd, nc = determinize(
        n_nfa,
        eps_ptr,
        eps_dst,
        e_ptr,
        e_lo,
        e_hi,
        e_dst,
        c_ptr,
        c_lab,
        c_dst,
        start,
        end,
        n_letters,
        max_states,
    )
    if n == TOO_LARGE:
        z = np.zeros(0, dtype=np.int32)
        return TOO_LARGE, np.zeros((0, 256), dtype=np.int32), accept, z, z, z, 0
    # every state of the subset construction is reachable from the start, and when the NFA
    # has no dead state every one is live too
    live = all_live(n_nfa, eps_ptr, eps_dst, e_ptr, e_dst, c_ptr, c_dst, start, end)
    trans, accept, cs, cl, cd, nc = reduce(
        np.ascontiguousarray(trans), accept.copy(), cs, cl, cd, nc, True, live
    )
    return trans.shape[0], to_bytes(trans, letter_of), accept, cs, cl, cd, nc


@njit(cache=True, nogil=True)
def minimal_product(ta, aa, tb, ab, diff, max_states):
    """:func:`product` of two call-free byte tables (over their common letters), then trim
    and minimize, back to bytes. Returns (n, trans, accept); n == TOO_LARGE as for
    :func:`product`."""
    starts = np.zeros(257, dtype=np.bool_)
    table_run_starts(ta, starts)
    table_run_starts(tb, starts)
    letter_of, n_letters = letters_of_starts(starts)
    n, trans, acc = product(
        to_letters(ta, letter_of, n_letters),
        aa,
        to_letters(tb, letter_of, n_letters),
        ab,
        diff,
        max_states,
    )
    if n == TOO_LARGE:
        return TOO_LARGE, np.zeros((0, 256), dtype=np.int32), acc
    z = np.zeros(0, dtype=np.int32)
    # every state of the product is reachable from (0, 0)
    trans, acc, _, _, _, _ = reduce(np.ascontiguousarray(trans), acc.copy(), z, z, z, 0, True)
    return trans.shape[0], to_bytes(trans, letter_of), acc
