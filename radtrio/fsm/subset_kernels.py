"""numba kernels of automaton construction: subset construction (NFA -> DFA), trimming and
Moore minimization. :mod:`radtrio.fsm.automaton` builds the NFA as flat CSR arrays and calls
these; the Python versions they replace spent milliseconds per small automaton.

DFA output: ``trans[state, byte]`` (-1 = none), ``accept[state]``, and call edges as three
parallel arrays ``(src, label, dst)``. State 0 is the start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True)
def _hash(buf, n):
    h = np.uint64(1469598103934665603)
    for k in range(n):
        h ^= np.uint64(buf[k]) + np.uint64(0x9E3779B97F4A7C15)
        h *= np.uint64(1099511628211)
    return h


@njit(cache=True, nogil=True)
def _closure(seeds, n_seeds, eps_ptr, eps_dst, mark, stamp, out, stack):
    """Sorted epsilon closure of ``seeds[:n_seeds]`` into ``out``; returns its size."""
    n = 0
    sp = 0
    for k in range(n_seeds):
        s = seeds[k]
        if mark[s] != stamp:
            mark[s] = stamp
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
                out[n] = t
                n += 1
                stack[sp] = t
                sp += 1
    out[:n].sort()
    return n


@njit(cache=True, nogil=True)
def determinize(
    n_nfa, eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, c_ptr, c_lab, c_dst, start, end, max_states
):
    """Subset construction. Returns (n, trans, accept, call_src, call_lab, call_dst, n_calls);
    n == TOO_LARGE when more than ``max_states`` states would be needed."""
    mark = np.zeros(n_nfa, dtype=np.int64)
    stamp = 0
    buf = np.empty(n_nfa, dtype=np.int32)
    stack = np.empty(n_nfa, dtype=np.int32)
    seeds = np.empty(max(n_nfa, e_dst.shape[0], c_dst.shape[0]) + 1, dtype=np.int32)
    pool = np.empty(1024, dtype=np.int32)
    pool_n = 0
    set_off = np.empty(64, dtype=np.int64)
    set_len = np.empty(64, dtype=np.int64)
    trans = np.empty((64, 256), dtype=np.int32)
    accept = np.zeros(64, dtype=np.bool_)
    table = np.full(256, -1, dtype=np.int64)
    cs = np.empty(16, dtype=np.int32)
    cl = np.empty(16, dtype=np.int32)
    cd = np.empty(16, dtype=np.int32)
    n_calls = 0
    bp = np.zeros(257, dtype=np.bool_)
    pts = np.empty(257, dtype=np.int32)
    n_states = 0

    # intern the start set
    seeds[0] = start
    stamp += 1
    m = _closure(seeds, 1, eps_ptr, eps_dst, mark, stamp, buf, stack)
    # (the insertion code is repeated below for targets; kept inline for numba)
    pool = _grow1(pool, m) if m > pool.shape[0] else pool
    pool[:m] = buf[:m]
    pool_n = m
    set_off[0] = 0
    set_len[0] = m
    h = _hash(buf, m)
    table[np.int64(h & np.uint64(table.shape[0] - 1))] = 0
    n_states = 1

    i = 0
    while i < n_states:
        off = set_off[i]
        ln = set_len[i]
        for b in range(256):
            trans[i, b] = -1
        acc = False
        # breakpoints of the member states' byte edges
        npts = 0
        bp[:] = False
        for k in range(ln):
            s = pool[off + k]
            if s == end:
                acc = True
            for e in range(e_ptr[s], e_ptr[s + 1]):
                bp[e_lo[e]] = True
                bp[e_hi[e] + 1] = True
                npts += 2
        accept[i] = acc
        if npts > 0:
            np_ = 0
            for c in range(257):
                if bp[c]:
                    pts[np_] = c
                    np_ += 1
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
                stamp += 1
                m = _closure(seeds, ns, eps_ptr, eps_dst, mark, stamp, buf, stack)
                h = _hash(buf, m)
                mask = np.uint64(table.shape[0] - 1)
                slot = np.int64(h & mask)
                j = -1
                while table[slot] >= 0:
                    c = table[slot]
                    if set_len[c] == m:
                        same = True
                        o2 = set_off[c]
                        for k in range(m):
                            if pool[o2 + k] != buf[k]:
                                same = False
                                break
                        if same:
                            j = c
                            break
                    slot = np.int64((np.uint64(slot) + np.uint64(1)) & mask)
                if j < 0:
                    if n_states >= max_states:
                        return TOO_LARGE, trans, accept, cs, cl, cd, 0
                    j = n_states
                    if pool_n + m > pool.shape[0]:
                        pool = _grow1(pool, pool_n + m)
                    pool[pool_n : pool_n + m] = buf[:m]
                    if j >= set_off.shape[0]:
                        set_off = _grow1(set_off, j + 1)
                        set_len = _grow1(set_len, j + 1)
                        trans = _grow2(trans, j + 1)
                        acc2 = np.zeros(trans.shape[0], dtype=np.bool_)
                        acc2[: accept.shape[0]] = accept
                        accept = acc2
                    set_off[j] = pool_n
                    set_len[j] = m
                    pool_n += m
                    table[slot] = j
                    n_states += 1
                    if 2 * n_states > table.shape[0]:
                        table = np.full(table.shape[0] * 4, -1, dtype=np.int64)
                        mask = np.uint64(table.shape[0] - 1)
                        for c in range(n_states):
                            hc = _hash(pool[set_off[c] : set_off[c] + set_len[c]], set_len[c])
                            sl = np.int64(hc & mask)
                            while table[sl] >= 0:
                                sl = np.int64((np.uint64(sl) + np.uint64(1)) & mask)
                            table[sl] = c
                for bb in range(a, bnd):
                    trans[i, bb] = j
        # call edges, grouped by label
        ncall = 0
        for k in range(ln):
            s = pool[off + k]
            ncall += c_ptr[s + 1] - c_ptr[s]
        if ncall > 0:
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
                stamp += 1
                m = _closure(seeds, ns, eps_ptr, eps_dst, mark, stamp, buf, stack)
                h = _hash(buf, m)
                mask = np.uint64(table.shape[0] - 1)
                slot = np.int64(h & mask)
                j = -1
                while table[slot] >= 0:
                    c = table[slot]
                    if set_len[c] == m:
                        same = True
                        o2 = set_off[c]
                        for k in range(m):
                            if pool[o2 + k] != buf[k]:
                                same = False
                                break
                        if same:
                            j = c
                            break
                    slot = np.int64((np.uint64(slot) + np.uint64(1)) & mask)
                if j < 0:
                    j = n_states
                    if pool_n + m > pool.shape[0]:
                        pool = _grow1(pool, pool_n + m)
                    pool[pool_n : pool_n + m] = buf[:m]
                    if j >= set_off.shape[0]:
                        set_off = _grow1(set_off, j + 1)
                        set_len = _grow1(set_len, j + 1)
                        trans = _grow2(trans, j + 1)
                        acc2 = np.zeros(trans.shape[0], dtype=np.bool_)
                        acc2[: accept.shape[0]] = accept
                        accept = acc2
                    set_off[j] = pool_n
                    set_len[j] = m
                    pool_n += m
                    table[slot] = j
                    n_states += 1
                    if 2 * n_states > table.shape[0]:
                        table = np.full(table.shape[0] * 4, -1, dtype=np.int64)
                        mask = np.uint64(table.shape[0] - 1)
                        for c in range(n_states):
                            hc = _hash(pool[set_off[c] : set_off[c] + set_len[c]], set_len[c])
                            sl = np.int64(hc & mask)
                            while table[sl] >= 0:
                                sl = np.int64((np.uint64(sl) + np.uint64(1)) & mask)
                            table[sl] = c
                if n_calls >= cs.shape[0]:
                    cs = _grow1(cs, n_calls + 1)
                    cl = _grow1(cl, n_calls + 1)
                    cd = _grow1(cd, n_calls + 1)
                cs[n_calls] = i
                cl[n_calls] = lab
                cd[n_calls] = j
                n_calls += 1
        i += 1
    return n_states, trans[:n_states], accept[:n_states], cs, cl, cd, n_calls


@njit(cache=True, nogil=True)
def trim(trans, accept, cs, cd, n_calls):
    """States that are reachable from 0 and can reach an accepting state: (keep mask).
    Returns an all-False mask when the start state itself is dead."""
    n = trans.shape[0]
    # reverse edges (deduplicated per source row)
    seen = np.full(n, -1, dtype=np.int64)
    cnt = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        for b in range(256):
            t = trans[s, b]
            if t >= 0 and seen[t] != s:
                seen[t] = s
                cnt[t + 1] += 1
    for k in range(n_calls):
        cnt[cd[k] + 1] += 1
    for s in range(n):
        cnt[s + 1] += cnt[s]
    fill = cnt[:n].copy()
    rev = np.empty(cnt[n], dtype=np.int32)
    seen[:] = -1
    for s in range(n):
        for b in range(256):
            t = trans[s, b]
            if t >= 0 and seen[t] != s:
                seen[t] = s
                rev[fill[t]] = s
                fill[t] += 1
    for k in range(n_calls):
        rev[fill[cd[k]]] = cs[k]
        fill[cd[k]] += 1
    live = accept.copy()
    stack = np.empty(n, dtype=np.int32)
    sp = 0
    for s in range(n):
        if live[s]:
            stack[sp] = s
            sp += 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for k in range(cnt[s], cnt[s + 1]):
            p = rev[k]
            if not live[p]:
                live[p] = True
                stack[sp] = p
                sp += 1
    reach = np.zeros(n, dtype=np.bool_)
    if not live[0]:
        return reach
    # forward reachability through live states (call edges by source)
    reach[0] = True
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for b in range(256):
            t = trans[s, b]
            if t >= 0 and live[t] and not reach[t]:
                reach[t] = True
                stack[sp] = t
                sp += 1
        for k in range(n_calls):
            if cs[k] == s:
                t = cd[k]
                if live[t] and not reach[t]:
                    reach[t] = True
                    stack[sp] = t
                    sp += 1
    return reach


@njit(cache=True, nogil=True)
def distinct_columns(trans):
    """One representative byte per class of bytes every state treats alike (sorted)."""
    n = trans.shape[0]
    hs = np.empty(256, dtype=np.uint64)
    for c in range(256):
        h = np.uint64(1469598103934665603)
        for s in range(n):
            h ^= np.uint64(trans[s, c] + 2)
            h *= np.uint64(1099511628211)
        hs[c] = h
    out = np.empty(256, dtype=np.int64)
    k = 0
    for c in range(256):
        found = False
        for q in range(k):
            r = out[q]
            if hs[r] == hs[c]:
                same = True
                for s in range(n):
                    if trans[s, r] != trans[s, c]:
                        same = False
                        break
                if same:
                    found = True
                    break
        if not found:
            out[k] = c
            k += 1
    return out[:k]


@njit(cache=True, nogil=True)
def minimize(trans, accept, ctab):
    """Moore partition refinement. ``ctab[state, j]`` = call target per label j (-1: none).
    Returns (class per state, number of classes, representative state per class), classes
    numbered in BFS order from state 0 (so the start keeps id 0)."""
    n = trans.shape[0]
    cols = distinct_columns(trans)
    nc = cols.shape[0]
    L = ctab.shape[1]
    w = 1 + nc + L
    cls = np.empty(n, dtype=np.int64)
    for s in range(n):
        cls[s] = 1 if accept[s] else 0
    count = 0
    sig = np.empty((n, w), dtype=np.int64)
    new = np.empty(n, dtype=np.int64)
    while True:
        for s in range(n):
            sig[s, 0] = cls[s]
            for q in range(nc):
                t = trans[s, cols[q]]
                sig[s, 1 + q] = cls[t] if t >= 0 else -1
            for q in range(L):
                t = ctab[s, q]
                sig[s, 1 + nc + q] = cls[t] if t >= 0 else -1
        size = 1
        while size < 2 * n + 2:
            size *= 2
        table = np.full(size, -1, dtype=np.int64)
        mask = np.uint64(size - 1)
        c2 = 0
        reps = np.empty(n, dtype=np.int64)
        for s in range(n):
            h = np.uint64(1469598103934665603)
            for q in range(w):
                h ^= np.uint64(sig[s, q] + 3)
                h *= np.uint64(1099511628211)
            slot = np.int64(h & mask)
            while True:
                c = table[slot]
                if c < 0:
                    table[slot] = c2
                    reps[c2] = s
                    new[s] = c2
                    c2 += 1
                    break
                r = reps[c]
                same = True
                for q in range(w):
                    if sig[r, q] != sig[s, q]:
                        same = False
                        break
                if same:
                    new[s] = c
                    break
                slot = np.int64((np.uint64(slot) + np.uint64(1)) & mask)
        cls[:] = new
        if c2 == count:
            break
        count = c2
    return _bfs_classes(trans, ctab, cls, count)


@njit(cache=True, nogil=True)
def product(ta, aa, tb, ab, diff, max_states):
    """Product of two call-free DFAs from (0, 0): intersection, or ``a`` minus ``b`` when
    ``diff`` (``b`` may be left, as state -1). Returns (n, trans, accept); n == TOO_LARGE when
    above ``max_states``."""
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
    trans = np.empty((64, 256), dtype=np.int32)
    acc = np.zeros(64, dtype=np.bool_)
    pa[0] = 0
    pb[0] = 0
    n = 1
    i = 0
    while i < n:
        p = pa[i]
        q = pb[i]
        for byte in range(256):
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
def minimize_hopcroft(trans, accept, ctab):
    """The same partition as :func:`minimize` by Hopcroft's algorithm, O(w n log n) for w
    letters (distinct byte columns and call labels) instead of a round per state of depth.
    A missing transition goes to a sink kept in a class of its own (as Moore's -1 is)."""
    n = trans.shape[0]
    cols = distinct_columns(trans)
    nc = cols.shape[0]
    w = nc + ctab.shape[1]
    big_n = n + 1  # states plus the sink
    sink = n
    # predecessors per (letter, target), CSR
    ptr = np.zeros(w * big_n + 1, dtype=np.int64)
    for s in range(big_n):
        for a in range(w):
            ptr[a * big_n + _step(trans, ctab, cols, nc, sink, s, a) + 1] += 1
    for k in range(w * big_n):
        ptr[k + 1] += ptr[k]
    fill = ptr[:-1].copy()
    src = np.empty(w * big_n, dtype=np.int32)
    for s in range(big_n):
        for a in range(w):
            key = a * big_n + _step(trans, ctab, cols, nc, sink, s, a)
            src[fill[key]] = s
            fill[key] += 1
    # initial blocks: rejecting states, accepting states, the sink
    blk = np.empty(big_n, dtype=np.int64)
    elems = np.empty(big_n, dtype=np.int64)
    loc = np.empty(big_n, dtype=np.int64)
    bstart = np.zeros(big_n, dtype=np.int64)
    bend = np.zeros(big_n, dtype=np.int64)
    nblocks = 0
    pos = 0
    for group in range(3):
        first = pos
        for s in range(big_n):
            g = 2 if s == sink else (1 if accept[s] else 0)
            if g == group:
                elems[pos] = s
                loc[s] = pos
                blk[s] = nblocks
                pos += 1
        if pos > first:
            bstart[nblocks] = first
            bend[nblocks] = pos
            nblocks += 1
    in_work = np.zeros(big_n, dtype=np.bool_)
    stack = np.empty(big_n, dtype=np.int64)
    sp = 0
    largest = 0
    for b in range(nblocks):
        if bend[b] - bstart[b] > bend[largest] - bstart[largest]:
            largest = b
    for b in range(nblocks):
        if b != largest:
            stack[sp] = b
            sp += 1
            in_work[b] = True
    marked = np.zeros(big_n, dtype=np.int64)
    touched = np.empty(big_n, dtype=np.int64)
    splitter = np.empty(big_n, dtype=np.int64)
    while sp > 0:
        sp -= 1
        S = stack[sp]
        in_work[S] = False
        m = bend[S] - bstart[S]
        splitter[:m] = elems[bstart[S] : bend[S]]
        for a in range(w):
            nt = 0
            for i in range(m):
                key = a * big_n + splitter[i]
                for k in range(ptr[key], ptr[key + 1]):
                    s = src[k]
                    B = blk[s]
                    c = marked[B]
                    p = loc[s]
                    if p < bstart[B] + c:
                        continue  # already marked: it sits in B's marked prefix
                    j = bstart[B] + c
                    other = elems[j]
                    elems[j] = s
                    loc[s] = j
                    elems[p] = other
                    loc[other] = p
                    if c == 0:
                        touched[nt] = B
                        nt += 1
                    marked[B] = c + 1
            for i in range(nt):
                B = touched[i]
                c = marked[B]
                marked[B] = 0
                if c == bend[B] - bstart[B]:
                    continue
                nb = nblocks
                nblocks += 1
                bstart[nb] = bstart[B]
                bend[nb] = bstart[B] + c
                bstart[B] = bstart[B] + c
                for j in range(bstart[nb], bend[nb]):
                    blk[elems[j]] = nb
                # B queued: both halves must be; else the smaller half is enough
                push = nb if in_work[B] or c < bend[B] - bstart[B] else B
                stack[sp] = push
                sp += 1
                in_work[push] = True
    return _bfs_classes(trans, ctab, blk[:n], nblocks)


@njit(cache=True, nogil=True)
def _step(trans, ctab, cols, nc, sink, s, a):
    """Letter ``a`` (a byte column, then the call labels) from state ``s``; the sink absorbs."""
    if s == sink:
        return sink
    t = trans[s, cols[a]] if a < nc else ctab[s, a - nc]
    return t if t >= 0 else sink


@njit(cache=True, nogil=True)
def _bfs_classes(trans, ctab, cls, count):
    """Classes renumbered in BFS order from state 0: (class per state, classes reached,
    representative state per class)."""
    n = trans.shape[0]
    L = ctab.shape[1]
    order = np.full(count, -1, dtype=np.int64)
    rep_of = np.empty(count, dtype=np.int64)
    queue = np.empty(count, dtype=np.int64)
    order[cls[0]] = 0
    rep_of[0] = 0
    queue[0] = 0
    m = 1
    qi = 0
    while qi < m:
        s = queue[qi]
        qi += 1
        for b in range(256):
            t = trans[s, b]
            if t >= 0 and order[cls[t]] < 0:
                order[cls[t]] = m
                rep_of[m] = t
                queue[m] = t
                m += 1
        for q in range(L):
            t = ctab[s, q]
            if t >= 0 and order[cls[t]] < 0:
                order[cls[t]] = m
                rep_of[m] = t
                queue[m] = t
                m += 1
    out = np.empty(n, dtype=np.int64)
    for s in range(n):
        out[s] = order[cls[s]]
    return out, m, rep_of[:m]
